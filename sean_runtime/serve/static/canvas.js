// The label canvas: drawing the map in the palette, the overlay that previews a tool, and the pointer
// tools (region, brush, fill, rectangle, eraser, picker). A middle-button drag, or a drag with Space
// held, pans the view (view.js).

import { $ } from "./dom.js";
import { app, changed, checkpoint, edit, onChanged } from "./state.js";
import { selectClass } from "./tools.js";
import { pixelAt as viewPixelAt, startPan } from "./view.js";

const HOVER_ALPHA = 0.35; // the region tool lights the region under the pointer this much

let spaceHeld = false;
let hovered = null; // [class, revision] the region tool's highlight was drawn for

function drawLabel() {
  const canvas = $("#label");
  canvas.getContext("2d").putImageData(app.doc.label.toImageData(app.palette), 0, 0);
}

const pixelAt = (event) => viewPixelAt(event, $("#label"));

function paintClass() {
  return app.tool === "eraser" ? 0 : app.cls;
}

// The region tool: the whole region under the pointer, lit.
function drawHover(context, point) {
  const { x, y } = clampPixel(point);
  const cls = app.doc.label.at(x, y);
  if (hovered && hovered[0] === cls && hovered[1] === app.rev) return;
  hovered = [cls, app.rev];
  context.clearRect(0, 0, app.width, app.height);
  context.fillStyle = `rgb(255 255 255 / ${HOVER_ALPHA})`;
  const { ids, width } = app.doc.label;
  for (let i = 0; i < ids.length; i++) if (ids[i] === cls) context.fillRect(i % width, Math.floor(i / width), 1, 1);
}

function drawOverlay(point, rectStart = null) {
  const canvas = $("#overlay");
  const context = canvas.getContext("2d");
  if (point && !rectStart && app.tool === "region") {
    drawHover(context, point);
    return;
  }
  hovered = null;
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (!point) return;
  const [r, g, b] = app.palette[paintClass()];
  context.fillStyle = `rgb(${r} ${g} ${b} / 0.75)`;
  const x = Math.floor(point.x);
  const y = Math.floor(point.y);
  if (rectStart) {
    const [left, top] = [Math.min(rectStart.x, x), Math.min(rectStart.y, y)];
    context.fillRect(left, top, Math.abs(x - rectStart.x) + 1, Math.abs(y - rectStart.y) + 1);
  } else if (app.tool === "brush" || app.tool === "eraser") {
    const pixels = app.doc.label.footprint(point.x, point.y, app.size);
    for (let i = 0; i < pixels.length; i += 2) context.fillRect(pixels[i], pixels[i + 1], 1, 1);
  } else {
    context.fillRect(x, y, 1, 1);
  }
}

function clampPixel(point) {
  return {
    x: Math.max(0, Math.min(app.width - 1, Math.floor(point.x))),
    y: Math.max(0, Math.min(app.height - 1, Math.floor(point.y))),
  };
}

function pick(point) {
  const { x, y } = clampPixel(point);
  selectClass(app.doc.label.at(x, y));
}

// onRegion(cls, {x, y}): the region tool clicked class `cls` at viewport point (x, y).
function onPointerDown(event, onRegion) {
  if (event.button === 1 || (event.button === 0 && spaceHeld)) {
    event.preventDefault();
    startPan(event, $("#label-wrap"));
    return;
  }
  if (event.button !== 0) return;
  const point = pixelAt(event);
  const canvas = $("#label");
  canvas.setPointerCapture(event.pointerId);
  if (event.altKey || app.tool === "picker") {
    pick(point);
    return;
  }
  if (app.tool === "region") {
    const { x, y } = clampPixel(point);
    onRegion(app.doc.label.at(x, y), { x: event.clientX, y: event.clientY });
    return;
  }
  if (app.tool === "fill") {
    const { x, y } = clampPixel(point);
    if (app.doc.label.at(x, y) !== app.cls) edit((doc) => doc.label.fill(x, y, app.cls));
    return;
  }
  if (app.tool === "rect") {
    app.stroke = { start: clampPixel(point) };
    drawOverlay(point, app.stroke.start);
    return;
  }
  checkpoint();
  app.stroke = { last: point };
  app.doc.label.stamp(point.x, point.y, app.size, paintClass());
  changed();
}

function onPointerMove(event) {
  const point = pixelAt(event);
  const { x, y } = clampPixel(point);
  $("#cursor").textContent = `${x}, ${y} · ${app.names[app.doc.label.at(x, y)]}`;
  if (!app.stroke) {
    drawOverlay(point);
    return;
  }
  if (app.stroke.start) {
    drawOverlay(clampPixel(point), app.stroke.start);
    return;
  }
  app.doc.label.line(app.stroke.last.x, app.stroke.last.y, point.x, point.y, app.size, paintClass());
  app.stroke.last = point;
  drawOverlay(point);
  changed();
}

// pointer up: a rectangle is drawn; the end of a stroke asks for the image at once (finishStroke)
function onPointerUp(event, finishStroke) {
  const stroke = app.stroke;
  app.stroke = null;
  if (stroke?.start) {
    const end = clampPixel(pixelAt(event));
    edit((doc) => doc.label.rect(stroke.start.x, stroke.start.y, end.x, end.y, app.cls));
  } else if (stroke) {
    finishStroke();
  }
  drawOverlay(pixelAt(event));
}

// finishStroke(): the stroke is done, update the image now. onRegion: see onPointerDown.
export function wireCanvas(finishStroke, onRegion) {
  for (const id of ["#label", "#overlay"]) {
    $(id).width = app.width;
    $(id).height = app.height;
  }
  const canvas = $("#label");
  canvas.addEventListener("pointerdown", (event) => onPointerDown(event, onRegion));
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", (event) => onPointerUp(event, finishStroke));
  canvas.addEventListener("pointercancel", () => (app.stroke = null));
  canvas.addEventListener("pointerleave", () => !app.stroke && drawOverlay(null));
  // Space over the map pans, even when a toolbar button keeps the focus from a click (a tool, zoom +);
  // elsewhere, and always in a style choice or a dialog, a focused button or field takes it as usual.
  let overMap = false;
  canvas.addEventListener("pointerenter", () => (overMap = true));
  canvas.addEventListener("pointerleave", () => (overMap = false));
  const typing = (event) =>
    event.target.closest?.("input, select, textarea, #picker button, dialog button")
    || (!overMap && event.target.closest?.("button"));
  document.addEventListener("keydown", (event) => {
    if (event.key === " " && !typing(event)) {
      spaceHeld = true;
      event.preventDefault(); // no page scroll while panning, no click of a focused button
    }
  });
  document.addEventListener("keyup", (event) => {
    if (event.key !== " ") return;
    if (spaceHeld) event.preventDefault(); // a button activates on Space's keyup
    spaceHeld = false;
  });
  onChanged(drawLabel);
}
