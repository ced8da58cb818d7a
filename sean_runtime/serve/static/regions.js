// The regions panel: one row per class on the map, saying where its style comes from (the own
// reference or a swap from another) and how far it blends toward a second reference; above them the
// same two choices for every region at once (the whole-image blend is the paper's style interpolation,
// Figs. 10-11). References are picked from thumbnails (picker.js). A region chosen on the map or in
// its row is outlined on both frames and can be zoomed to.

import { DEFAULT_ALPHA, region } from "./document.js";
import { $, element, setDisabled } from "./dom.js";
import { closePicker, openPicker } from "./picker.js";
import { app, changed, checkpoint, edit, onChanged, onRefsChanged, ownRef, refById, shares, touched } from "./state.js";
import { selectClass } from "./tools.js";
import { outline, zoomToClass } from "./view.js";

const ZOOM_ICON = '<svg viewBox="0 0 24 24"><circle cx="10.5" cy="10.5" r="6"/><path d="m15 15 5.5 5.5M8 10.5h5M10.5 8v5"/></svg>';

let drawn = ""; // what the panel was drawn for (see renderRegions)
let focused = null; // the class chosen on the map or in its row: highlighted and outlined
const whole = { from: null, blend: null, alpha: DEFAULT_ALPHA }; // the every-region controls

// --- choosing a reference ------------------------------------------------------------------------------
// The picker's tiles: "own" (or "none") first, then every reference; for one class, references that
// do not show it say so (picking one keeps the own style there, the API's fallback "own").
function choices(cls, noneName) {
  const own = noneName === "own" ? ownRef() : null;
  const first = { id: null, name: noneName, image: own?.image ?? null, mark: noneName === "own" ? "own" : "—" };
  const refs = app.refs.map((ref) => ({
    id: ref.id,
    name: ref.name,
    image: ref.image,
    note: cls !== null && !ref.present[cls] ? `no ${app.names[cls]} in it` : null,
  }));
  return [first, ...refs];
}

// A button showing the chosen reference's thumbnail (and name, unless compact); a click opens the picker.
function choiceButton(label, selected, noneName, onPick, { cls = null, compact = false } = {}) {
  const ref = refById(selected);
  const own = noneName === "own" ? ownRef() : null;
  const image = ref?.image ?? own?.image ?? null;
  const name = ref?.name ?? noneName;
  const button = element(
    "button",
    {
      class: compact ? "choice compact" : "choice",
      type: "button",
      "aria-label": label,
      "data-ref": ref?.id ?? "",
      title: `${label}: ${name}${own && !ref ? ` (${own.name})` : ""} — click to choose`,
    },
    image ? element("img", { src: image, alt: "" }) : element("span", { class: "tile-none", text: noneName === "own" ? "own" : "—" }),
    compact ? null : element("span", { class: "choice-name", text: name }),
  );
  button.addEventListener("click", () => {
    const box = button.getBoundingClientRect();
    openPicker({ anchor: { x: box.left - 12, y: box.bottom - 4 }, title: label, choices: choices(cls, noneName), selected: ref?.id ?? null, onPick });
  });
  return button;
}

function setRegion(cls, change) {
  edit((doc) => {
    const choice = { ...region(app.doc, cls) };
    change(choice);
    doc.regions[cls] = choice;
  });
}

function setEveryRegion(change) {
  edit((doc) => app.names.forEach((_, cls) => (doc.regions[cls] = { ...region(doc, cls), ...change })));
}

function regionHints(cls, choice) {
  const name = app.names[cls];
  const from = refById(choice.from);
  const own = ownRef();
  const hints = [];
  if (from && !from.present[cls]) hints.push(`${from.name} shows no ${name}: own style kept`);
  if (!from && !own?.present[cls]) hints.push(`no ${name} style of its own (neutral): take one from a reference`);
  const blend = refById(choice.blend);
  if (blend && !blend.present[cls]) hints.push(`${blend.name} shows no ${name}: nothing to blend toward`);
  return hints;
}

// A blend slider 0..100; apply(alpha) sets the document while it moves (one undo step per drag).
function blendSlider(label, alpha, why, apply) {
  const slider = element("input", { type: "range", min: "0", max: "100", step: "1", value: String(Math.round(alpha * 100)), "aria-label": label, title: label });
  setDisabled(slider, why);
  const shown = element("output", { text: alpha.toFixed(2) });
  slider.addEventListener("input", () => {
    if (!app.dragging) checkpoint();
    app.dragging = true;
    apply(Number(slider.value) / 100);
    shown.textContent = (Number(slider.value) / 100).toFixed(2);
    touched();
  });
  slider.addEventListener("change", () => {
    app.dragging = false;
    drawn = "";
    changed();
  });
  return [slider, shown];
}

// --- the every-region controls ---------------------------------------------------------------------------
// The every-region controls show what the regions on the map hold when they all agree (so undo brings
// them back too); where they differ, "own" / "none".
function syncWhole(present) {
  const common = (key) => {
    const values = new Set(present.map((cls) => region(app.doc, cls)[key]));
    return values.size === 1 ? [...values][0] : undefined;
  };
  whole.from = refById(common("from")) ? common("from") : null;
  whole.blend = refById(common("blend")) ? common("blend") : null;
  whole.alpha = common("alpha") ?? whole.alpha;
}

function renderWhole() {
  const from = choiceButton("every region: style from", whole.from, "own", (id) => setEveryRegion({ from: id }));
  const toward = choiceButton(
    "every region: blend toward", whole.blend, "none",
    (id) => setEveryRegion({ blend: id, alpha: whole.alpha }),
    { compact: true },
  );
  const [slider, shown] = blendSlider(
    "every region: blend", whole.alpha, whole.blend ? null : "pick a reference to blend toward first",
    (alpha) => {
      whole.alpha = alpha;
      app.names.forEach((_, cls) => (app.doc.regions[cls] = { ...region(app.doc, cls), blend: whole.blend, alpha }));
    },
  );
  keepingFocus($("#whole"), () => $("#whole").replaceChildren(
    element("div", { class: "line" }, element("span", { text: "style" }), from),
    element("div", { class: "line blend" }, element("span", { text: "blend" }), toward, slider, shown),
  ));
}

// --- one row per region ----------------------------------------------------------------------------------
function regionRow(cls, share) {
  const name = app.names[cls];
  const choice = region(app.doc, cls);
  const [r, g, b] = app.palette[cls];
  const from = choiceButton(`${name}: style from`, choice.from, "own", (id) => setRegion(cls, (c) => (c.from = id)), { cls });
  const toward = choiceButton(`${name}: blend toward`, choice.blend, "none", (id) => setRegion(cls, (c) => (c.blend = id)), { cls, compact: true });
  const [slider, shown] = blendSlider(
    `${name}: blend`, choice.alpha, refById(choice.blend) ? null : "pick a reference to blend toward first",
    (alpha) => (app.doc.regions[cls] = { ...region(app.doc, cls), alpha }),
  );
  const zoom = element("button", {
    class: "icon-button zoom", type: "button", "aria-label": `${name}: zoom to region`,
    title: `Zoom to ${name} (${(share * 100).toFixed(share < 0.1 ? 1 : 0)}% of the map)`,
    onclick: () => {
      setFocus(cls);
      zoomToClass(cls);
    },
  });
  zoom.innerHTML = ZOOM_ICON;
  const hints = regionHints(cls, choice);
  const classes = ["region", refById(choice.from) || refById(choice.blend) ? "edited" : "", cls === focused ? "focus" : ""];
  const row = element(
    "div",
    { class: classes.filter(Boolean).join(" "), "data-cls": cls },
    element(
      "header",
      {},
      element("span", { class: "swatch", style: `background: rgb(${r} ${g} ${b})` }),
      element("strong", { text: name, title: name }),
      zoom,
      from,
    ),
    element("div", { class: "blend" }, element("span", { text: "blend" }), toward, slider, shown),
    hints.length ? element("div", { class: "hint", text: hints.join("; ") }) : null,
  );
  // a click on the row, off its controls, chooses the region (outline, paint class)
  row.addEventListener("click", (event) => !event.target.closest("button, input") && setFocus(cls));
  return row;
}

function renderRegions() {
  if (app.dragging) return;
  const values = shares();
  if (focused !== null && !values[focused]) focused = null;
  // Rebuilt only when the rows would differ, not on every pointer move of a stroke.
  const now = JSON.stringify([values.map(Boolean), app.refs.map((r) => r.id), app.doc.own, app.doc.regions, focused]);
  if (now === drawn) return;
  drawn = now;
  const present = values.flatMap((share, cls) => (share ? [cls] : []));
  syncWhole(present);
  renderWhole();
  const rows = present.map((cls) => regionRow(cls, values[cls]));
  keepingFocus($("#regions"), () =>
    $("#regions").replaceChildren(...(rows.length ? rows : [element("p", { class: "empty", text: "Paint to add regions." })])));
}

// Rebuilding a panel replaces its controls: the one that had the keyboard focus (a slider moved with the arrow
// keys, the button a style choice returned the focus to) gets it back in its new form, found by its
// aria-label (unique in the panel), so that a keyboard user keeps their place.
function keepingFocus(panel, rebuild) {
  const active = document.activeElement;
  const label = active && panel.contains(active) ? active.getAttribute("aria-label") : null;
  rebuild();
  if (label) panel.querySelector(`[aria-label="${CSS.escape(label)}"]`)?.focus();
}

// --- choosing a region -----------------------------------------------------------------------------------
// The chosen region's row is scrolled into view where its panel scrolls by itself (a wide window); in a narrow
// window the whole page scrolls, and it stays on the map or image that was clicked, under the style choice.
function showRow(cls) {
  const row = $(`.region[data-cls="${cls}"]`);
  if (row && getComputedStyle(row.closest(".panel")).overflowY !== "visible") row.scrollIntoView({ block: "nearest" });
}

function setFocus(cls) {
  focused = cls;
  selectClass(cls, { keepTool: true });
  outline(cls);
  renderRegions();
  showRow(cls);
}

// A region clicked on the map or the image: choose it and open its style choice beside the pointer.
export function openRegion(cls, anchor) {
  closePicker();
  setFocus(cls);
  const name = app.names[cls];
  const choice = region(app.doc, cls);
  const zoom = element("button", {
    type: "button", class: "zoom-region", text: "Zoom", title: `Zoom to ${name}`, onclick: () => zoomToClass(cls),
  });
  openPicker({
    anchor,
    title: `${name}: style from`,
    choices: choices(cls, "own"),
    selected: refById(choice.from)?.id ?? null,
    onPick: (id) => setRegion(cls, (c) => (c.from = id)),
    extra: zoom,
  });
}

export function wireRegions() {
  onChanged(renderRegions);
  onChanged(() => outline(focused));
  onRefsChanged(renderRegions);
}
