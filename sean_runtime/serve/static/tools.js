// The tools panel: which tool paints, with which class and brush size; the class list with each
// class's share of the map; undo and redo.

import { $, element, setDisabled } from "./dom.js";
import { app, onChanged, redo, shares, undo } from "./state.js";

export function selectTool(tool) {
  app.tool = tool;
  document.body.dataset.tool = tool;
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
  }
}

// The class the brush, fill and rectangle paint. Choosing one to paint with leaves the region tool,
// eraser and picker for the brush; a region chosen on the map (keepTool) keeps the tool.
export function selectClass(cls, { keepTool = false } = {}) {
  app.cls = cls;
  if (!keepTool && ["region", "eraser", "picker"].includes(app.tool)) selectTool("brush");
  for (const button of document.querySelectorAll("#classes button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.cls) === cls));
  }
}

export function setSize(size) {
  app.size = Math.max(1, Math.min(Number($("#size").max), size));
  $("#size").value = String(app.size);
  $("#size-value").textContent = String(app.size);
}

export function renderClasses() {
  const list = $("#classes");
  list.replaceChildren(
    ...app.names.map((name, cls) => {
      const [r, g, b] = app.palette[cls];
      return element(
        "li",
        { "data-name": name.toLowerCase() },
        element(
          "button",
          { "data-cls": cls, "aria-pressed": String(cls === app.cls), title: name, onclick: () => selectClass(cls) },
          element("span", { class: "swatch", style: `background: rgb(${r} ${g} ${b})` }),
          element("span", { text: name }),
          element("span", { class: "share", "data-share": cls }),
          element("span", { class: "key", text: cls < 10 ? String(cls) : "" }),
        ),
      );
    }),
  );
  $("#class-filter").hidden = app.names.length <= 20;
}

function shareText(share) {
  if (!share) return "";
  return share < 0.001 ? "<0.1%" : `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

function updateCounts() {
  const values = shares();
  for (const node of document.querySelectorAll("[data-share]")) node.textContent = shareText(values[node.dataset.share]);
}

function updateHistoryButtons() {
  setDisabled($("#undo"), app.history.canUndo ? null : "nothing to undo yet");
  setDisabled($("#redo"), app.history.canRedo ? null : "nothing undone to redo");
}

export function wireTools() {
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => selectTool(button.dataset.tool));
  }
  $("#size").addEventListener("input", () => setSize(Number($("#size").value)));
  $("#undo").addEventListener("click", undo);
  $("#redo").addEventListener("click", redo);
  $("#class-filter").addEventListener("input", (e) => {
    const text = e.target.value.toLowerCase();
    for (const li of document.querySelectorAll("#classes li")) li.hidden = !li.dataset.name.includes(text);
  });
  onChanged(updateCounts);
  onChanged(updateHistoryButtons);
  updateHistoryButtons();
}
