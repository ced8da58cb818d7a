// The regions panel: one row per class on the map, saying where its style comes from (the own
// reference or a swap from another) and how far it blends toward a second reference.

import { region } from "./document.js";
import { $, element } from "./dom.js";
import { app, changed, checkpoint, edit, onChanged, onRefsChanged, ownRef, refById, shares, touched } from "./state.js";

let drawn = ""; // what the panel was drawn for (see renderRegions)

function refOptions(selected, noneText) {
  return [
    element("option", { value: "", text: noneText, selected: !selected }),
    ...app.refs.map((ref) => element("option", { value: ref.id, text: ref.name, selected: ref.id === selected })),
  ];
}

function setRegion(cls, change) {
  edit((doc) => {
    const choice = { ...region(app.doc, cls) };
    change(choice);
    doc.regions[cls] = choice;
  });
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

// One row per class on the map: where its style comes from, and a blend toward a second reference.
function renderRegions() {
  const panel = $("#regions");
  if (app.dragging) return;
  const values = shares();
  // Rebuilt only when the rows would differ, not on every pointer move of a stroke.
  const now = JSON.stringify([values.map(Boolean), app.refs.map((r) => r.id), app.doc.own, app.doc.regions]);
  if (now === drawn) return;
  drawn = now;
  $("#all-from").replaceChildren(...refOptions(null, "own"));
  const rows = [];
  values.forEach((share, cls) => {
    if (!share) return;
    const choice = region(app.doc, cls);
    const edited = refById(choice.from) || refById(choice.blend);
    const [r, g, b] = app.palette[cls];
    const alpha = element("input", {
      type: "range", min: "0", max: "100", step: "1", value: String(Math.round(choice.alpha * 100)),
      disabled: !choice.blend, "aria-label": `${app.names[cls]}: blend`,
    });
    const shown = element("output", { text: choice.alpha.toFixed(2) });
    alpha.addEventListener("input", () => {
      if (!app.dragging) checkpoint(); // one undo step for a whole drag
      app.dragging = true;
      app.doc.regions[cls] = { ...region(app.doc, cls), alpha: Number(alpha.value) / 100 };
      shown.textContent = (Number(alpha.value) / 100).toFixed(2);
      touched();
    });
    alpha.addEventListener("change", () => {
      app.dragging = false;
      drawn = "";
      changed();
    });
    const from = element("select", { "aria-label": `${app.names[cls]}: style from`, "data-role": "from" },
      ...refOptions(choice.from, "own"));
    from.addEventListener("change", () => setRegion(cls, (c) => (c.from = from.value || null)));
    const blend = element("select", { "aria-label": `${app.names[cls]}: blend toward`, "data-role": "blend" },
      ...refOptions(choice.blend, "—"));
    blend.addEventListener("change", () => setRegion(cls, (c) => (c.blend = blend.value || null)));
    const hints = regionHints(cls, choice);
    rows.push(
      element(
        "div",
        { class: edited ? "region edited" : "region", "data-cls": cls },
        element(
          "header",
          {},
          element("span", { class: "swatch", style: `background: rgb(${r} ${g} ${b})` }),
          element("strong", { text: app.names[cls], title: app.names[cls] }),
          from,
        ),
        element("div", { class: "blend" }, element("span", { text: "blend" }), blend, alpha, shown),
        hints.length ? element("div", { class: "hint", text: hints.join("; ") }) : null,
      ),
    );
  });
  panel.replaceChildren(...(rows.length ? rows : [element("p", { class: "empty", text: "Paint to add regions." })]));
}

export function wireRegions() {
  $("#all-from").addEventListener("change", (e) => {
    const from = e.target.value || null;
    edit((doc) => {
      app.names.forEach((_, cls) => (doc.regions[cls] = { ...region(doc, cls), from }));
    });
  });
  onChanged(renderRegions);
  onRefsChanged(renderRegions);
}
