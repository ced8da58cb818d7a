// The reference picker: a small pop-over of thumbnails, one tile per choice (each reference's image
// and its whole name), opened next to the control or the point of the map that asked for it.
//
// openPicker({anchor: {x, y} in viewport pixels, title, choices: [{id, name, image, note}], selected,
// onPick(id), extra}): a choice with a `note` (what picking it does not give) is dimmed and says so;
// `extra`: an element for the header (a region's Zoom button).

import { element } from "./dom.js";

const MARGIN = 8; // px kept between the pop-over and the window's edge
const DOUBLE_CLICK_MS = 500; // a second click this soon after the first makes a double-click (the usual system setting)
const PRESS = ["pointerdown", "mousedown", "pointerup", "mouseup", "click", "dblclick"];

let current = null; // {close} of the open pop-over

export function closePicker() {
  current?.close();
}

// The first click of a double-click on a tile picks it and closes the pop-over: the second would land on what
// lay under the tile (the map, where it would paint or choose another region). A press there that soon is
// swallowed, with its release and click.
function swallowSecondClick(rect) {
  let until = performance.now() + DOUBLE_CLICK_MS;
  let pressed = false;
  const swallow = (event) => {
    if (event.type === "pointerdown") {
      const { clientX: x, clientY: y } = event;
      pressed = x >= rect.left && x <= rect.right && y >= rect.top && y <= rect.bottom;
      if (pressed) until = performance.now() + DOUBLE_CLICK_MS; // its release and click follow
    }
    if (!pressed) return;
    event.preventDefault();
    event.stopPropagation();
  };
  const end = () => {
    const left = until - performance.now();
    if (left > 0) return setTimeout(end, left);
    for (const type of PRESS) window.removeEventListener(type, swallow, true);
  };
  for (const type of PRESS) window.addEventListener(type, swallow, true);
  setTimeout(end, DOUBLE_CLICK_MS);
}

export function openPicker({ anchor, title, choices, selected, onPick, extra = null }) {
  closePicker();
  const opener = document.activeElement; // the focus goes back there when the pop-over closes
  const tiles = choices.map((choice) =>
    element(
      "button",
      {
        class: ["tile", choice.id === selected ? "chosen" : "", choice.note ? "lacks" : ""].filter(Boolean).join(" "),
        type: "button",
        "aria-label": choice.name,
        "aria-pressed": String(choice.id === selected),
        "data-ref": choice.id ?? "",
        "data-note": choice.note ?? null,
        title: choice.note ? `${choice.name} — ${choice.note}` : choice.name,
        onclick: (event) => {
          const where = event.currentTarget.getBoundingClientRect();
          closePicker();
          if (event.detail) swallowSecondClick(where); // a pointer's click, not a key's
          onPick(choice.id);
        },
      },
      choice.image
        ? element("img", { src: choice.image, alt: "" })
        : element("span", { class: "tile-none", "aria-hidden": "true", text: choice.mark ?? "—" }),
      element("span", { class: "tile-name", text: choice.name }),
      choice.note ? element("small", { class: "tile-note", text: choice.note }) : null,
    ),
  );
  const box = element(
    "div",
    { id: "picker", class: "picker", role: "dialog", "aria-label": title },
    element(
      "header",
      {},
      element("strong", { text: title }),
      extra,
      element("button", { class: "icon-button", type: "button", "aria-label": "Close", text: "×", onclick: closePicker }),
    ),
    element("div", { class: "tiles" }, ...tiles),
  );
  document.body.append(box);
  // beside the anchor, inside the window
  const { width, height } = box.getBoundingClientRect();
  const left = Math.min(Math.max(MARGIN, anchor.x + 12), window.innerWidth - width - MARGIN);
  const top = Math.min(Math.max(MARGIN, anchor.y + 12), window.innerHeight - height - MARGIN);
  box.style.left = `${left}px`;
  box.style.top = `${top}px`;
  (box.querySelector(".tile.chosen") ?? box.querySelector(".tile"))?.focus();

  const outside = (event) => {
    if (!box.contains(event.target)) closePicker();
  };
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      closePicker();
      return;
    }
    if (!box.contains(document.activeElement)) return;
    const buttons = [...box.querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    // Tab past either end leaves the pop-over, which closes, the focus back on what opened it (the page goes
    // on from there), rather than jumping to the top of the page with the pop-over left open.
    if (event.key === "Tab" && at === (event.shiftKey ? 0 : buttons.length - 1)) {
      event.preventDefault();
      event.stopPropagation();
      closePicker();
      return;
    }
    // arrows step through the tiles, as in a grid of choices
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    const tileAt = tiles.indexOf(document.activeElement);
    if (step && tileAt >= 0) {
      event.preventDefault();
      event.stopPropagation();
      tiles[Math.max(0, Math.min(tiles.length - 1, tileAt + step))].focus();
    }
  };
  // the anchor moves with a scroll of the page or a panel, a resize: the pop-over would float off it
  const moved = (event) => {
    if (!box.contains(event.target)) closePicker();
  };
  // registered after the click that opened the pop-over has finished (unless it closed meanwhile)
  setTimeout(() => current?.box === box && document.addEventListener("pointerdown", outside, true), 0);
  document.addEventListener("keydown", onKey, true);
  // from the next frame on: a scroll that opening caused (a panel showing the chosen row) is dispatched first
  requestAnimationFrame(() => current?.box === box && document.addEventListener("scroll", moved, true));
  window.addEventListener("resize", closePicker);
  current = {
    box,
    close: () => {
      document.removeEventListener("pointerdown", outside, true);
      document.removeEventListener("keydown", onKey, true);
      document.removeEventListener("scroll", moved, true);
      window.removeEventListener("resize", closePicker);
      // the focus leaves the box before it goes: back to what opened it (keyboard users continue there), and a
      // removed element that still had the focus is kept alive by the browser, tiles and listeners with it
      if (box.contains(document.activeElement)) {
        if (opener?.isConnected && opener !== document.body) opener.focus({ preventScroll: true });
        else document.activeElement.blur();
      }
      box.remove();
      current = null;
    },
  };
  return box;
}
