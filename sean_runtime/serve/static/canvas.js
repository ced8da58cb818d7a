// The label canvas: drawing the map in the palette, the overlay that previews a tool, the pointer
// tools (brush, fill, rectangle, eraser, picker) and the display size of both frames.

import { $ } from "./dom.js";
import { app, changed, checkpoint, edit, onChanged } from "./state.js";
import { selectClass } from "./tools.js";

const MAX_SCALE = 8; // display: package pixels per screen pixel at most

function drawLabel() {
  const canvas = $("#label");
  canvas.getContext("2d").putImageData(app.doc.label.toImageData(app.palette), 0, 0);
}

function pixelAt(event) {
  const rect = $("#label").getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) / rect.width) * app.width,
    y: ((event.clientY - rect.top) / rect.height) * app.height,
  };
}

function paintClass() {
  return app.tool === "eraser" ? 0 : app.cls;
}

function drawOverlay(point, rectStart = null) {
  const canvas = $("#overlay");
  const context = canvas.getContext("2d");
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

function onPointerDown(event) {
  if (event.button !== 0) return;
  const point = pixelAt(event);
  const canvas = $("#label");
  canvas.setPointerCapture(event.pointerId);
  if (event.altKey || app.tool === "picker") {
    pick(point);
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

// --- display size ----------------------------------------------------------------------------------
export function layout() {
  const stage = $(".stage");
  const [padding, gap, scrollbar] = [48, 24, 20]; // .stage padding, .canvases gap, room for a scrollbar
  const byWidth = (stage.clientWidth - padding - gap - scrollbar) / 2 / app.width;
  const byHeight = (window.innerHeight - 48 - 200) / app.height;
  const scale = Math.max(1, Math.min(MAX_SCALE, Math.floor(Math.min(byWidth, byHeight))));
  for (const frame of [$("#label-wrap"), $("#output-wrap")]) {
    frame.style.width = `${app.width * scale}px`;
    frame.style.height = `${app.height * scale}px`;
  }
}

// finishStroke(): the stroke is done, update the image now.
export function wireCanvas(finishStroke) {
  for (const id of ["#label", "#overlay"]) {
    $(id).width = app.width;
    $(id).height = app.height;
  }
  const canvas = $("#label");
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", (event) => onPointerUp(event, finishStroke));
  canvas.addEventListener("pointercancel", () => (app.stroke = null));
  canvas.addEventListener("pointerleave", () => !app.stroke && drawOverlay(null));
  window.addEventListener("resize", layout);
  onChanged(drawLabel);
}
