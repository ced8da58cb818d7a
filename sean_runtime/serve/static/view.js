// What both frames show: their size on screen, the zoom and pan they share (so the label map and the
// image always show the same part), and the outline of the chosen region drawn over each.
//
// The view: `zoom` (1 shows the whole map) and the package pixel (cx, cy) at the frames' centre. Each
// frame's .view child is moved and scaled by one CSS transform, so pointer positions read through
// getBoundingClientRect stay right at any zoom.

import { $, setDisabled } from "./dom.js";
import { app } from "./state.js";

const MAX_SCALE = 8; // screen pixels per package pixel at most when the whole map shows
const MIN_SCALE = 1 / 8; // and at least, in a window too narrow for the map
const MAX_ZOOM = 16;
const ZOOM_STEP = 2; // the + and - buttons
const WHEEL_STEP = 1.25; // one notch of a mouse wheel
const REGION_FILL = 0.5; // zoom to a region: its box fills about this share of the frame
const CLICK_SLOP_PX = 4; // a press that moves further is a pan, not a click
const SCROLLBAR_PX = 20; // room kept for a scrollbar that appears after the frames are sized
const CHROME_PX = 48 + 240; // the window's height less the frames': top bar; captions, zoom, seed, downloads

const view = { zoom: 1, cx: 0, cy: 0 };
let scale = 1; // screen pixels per package pixel at zoom 1

// The width the frames have: `whole`, the stage's less its padding (the style sheet narrows it on a phone) and
// room for a scrollbar; `each` of the two side by side, or `whole` where editor.css stacks them (`stacked`).
function frameRoom() {
  const stage = $(".stage");
  const [padded, row] = [getComputedStyle(stage), getComputedStyle($(".canvases"))];
  const whole = stage.clientWidth - parseFloat(padded.paddingLeft) - parseFloat(padded.paddingRight) - SCROLLBAR_PX;
  const stacked = row.flexDirection === "column";
  return { whole, stacked, each: stacked ? whole : (whole - parseFloat(row.columnGap)) / 2 };
}

// The height each frame has: side by side, the window's less the top bar and the rows under the frames; stacked
// (a phone), half of what the window shows under the map's caption, less the image's caption, so that both show
// whole on opening. Less, on a phone, the paint controls that editor.css keeps at the window's foot (--foot:
// their height, which the page keeps clear at its end and when it scrolls a control into view).
function frameHeight(stacked) {
  const paint = $(".paint");
  const foot = getComputedStyle(paint).position === "fixed" ? paint.offsetHeight : 0;
  document.documentElement.style.setProperty("--foot", `${foot}px`);
  if (!stacked) return window.innerHeight - CHROME_PX - foot;
  const [map, image] = [$("#label-wrap").getBoundingClientRect(), $("#output-wrap").getBoundingClientRect()];
  return (window.innerHeight - foot - (map.top + window.scrollY) - (image.top - map.bottom)) / 2;
}

// Screen pixels per package pixel: from 1 to MAX_SCALE, as large as the frames side by side fit in the window
// (any number: image-rendering keeps the pixels crisp, and the frames fill the room they have); 1 where only one
// fits across (the second wraps below it); less than 1 where not even one does (a phone, a wide map), so that
// the page never scrolls sideways. The frames are a whole number of CSS pixels wide.
export function layout() {
  const room = frameRoom();
  const fit = Math.min(room.each / app.width, frameHeight(room.stacked) / app.height);
  if (room.each >= app.width) scale = Math.floor(app.width * Math.min(MAX_SCALE, Math.max(1, fit))) / app.width;
  else scale = Math.max(MIN_SCALE, Math.min(1, room.whole / app.width));
  for (const frame of document.querySelectorAll(".frame")) {
    frame.style.width = `${app.width * scale}px`;
    frame.style.height = `${app.height * scale}px`;
  }
  apply();
}

// A zoom in that shows a package pixel as one screen pixel or more is rounded to whole screen pixels, so every
// pixel of the map shows the same size; below one (a map shown smaller than its package size, see layout) it
// stays, and so does 1, the whole map at the frames' scale.
function whole(zoom) {
  return zoom > 1 && zoom * scale >= 1 ? Math.round(zoom * scale) / scale : zoom;
}

// Clamp the view so the map always covers the frame, then move both frames' contents.
function apply() {
  view.zoom = Math.max(1, Math.min(MAX_ZOOM, whole(view.zoom)));
  const half = [app.width / 2 / view.zoom, app.height / 2 / view.zoom]; // half the visible part, package pixels
  view.cx = Math.max(half[0], Math.min(app.width - half[0], view.cx));
  view.cy = Math.max(half[1], Math.min(app.height - half[1], view.cy));
  const tx = (app.width / 2 - view.cx * view.zoom) * scale;
  const ty = (app.height / 2 - view.cy * view.zoom) * scale;
  for (const node of document.querySelectorAll(".frame .view")) {
    node.style.transform = `translate(${tx}px, ${ty}px) scale(${view.zoom})`;
  }
  // Zoomed in, a drag over the image pans it, a touch drag too: the browser must not take it to scroll the page.
  $("#output-wrap").classList.toggle("zoomed", view.zoom > 1);
  $("#zoom-value").textContent = `${Math.round(view.zoom * 100)}%`;
  setDisabled($("#zoom-out"), view.zoom <= 1 ? "the whole map already shows" : null);
  setDisabled($("#zoom-fit"), view.zoom <= 1 ? "the whole map already shows" : null);
  setDisabled($("#zoom-in"), view.zoom >= MAX_ZOOM ? `${MAX_ZOOM * 100}% is the closest zoom` : null);
}

export function zoomTo(zoom, cx = view.cx, cy = view.cy) {
  Object.assign(view, { zoom, cx, cy });
  apply();
}

export const zoomIn = () => zoomTo(view.zoom * ZOOM_STEP);
export const zoomOut = () => zoomTo(view.zoom / ZOOM_STEP);

// Zoom by `factor` keeping the package pixel under the pointer where it is.
function zoomAround(factor, event, frame) {
  const rect = frame.getBoundingClientRect();
  const fx = (event.clientX - rect.left) / rect.width - 0.5; // -0.5 .. 0.5 across the frame
  const fy = (event.clientY - rect.top) / rect.height - 0.5;
  const px = view.cx + (fx * app.width) / view.zoom;
  const py = view.cy + (fy * app.height) / view.zoom;
  // at least one screen pixel per package pixel more or less, so a wheel notch always zooms (below one screen
  // pixel each, the factor itself)
  const asked = view.zoom * factor;
  const [now, next] = [Math.round(view.zoom * scale), Math.round(asked * scale)];
  const pixels = next === now ? now + Math.sign(factor - 1) : next;
  const zoom = Math.max(1, Math.min(MAX_ZOOM, asked * scale < 1 ? asked : pixels / scale));
  zoomTo(zoom, px - (fx * app.width) / zoom, py - (fy * app.height) / zoom);
}

// Show the class's pixels large: its bounding box at the frames' centre, filling about half of them.
export function zoomToClass(cls) {
  const { ids, width } = app.doc.label;
  let [left, top, right, bottom] = [Infinity, Infinity, -1, -1];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== cls) continue;
    const [x, y] = [i % width, Math.floor(i / width)];
    [left, top, right, bottom] = [Math.min(left, x), Math.min(top, y), Math.max(right, x), Math.max(bottom, y)];
  }
  if (right < 0) return;
  const [w, h] = [right - left + 1, bottom - top + 1];
  const zoom = Math.min(app.width / w, app.height / h) * REGION_FILL;
  zoomTo(Math.max(1, zoom), left + w / 2, top + h / 2);
}

// The package pixel under the pointer, read from an element inside a .view (the canvas or the image).
export function pixelAt(event, node) {
  const rect = node.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) / rect.width) * app.width,
    y: ((event.clientY - rect.top) / rect.height) * app.height,
  };
}

// Drag the view with the pointer from a pointerdown `event` on `frame`; onClick(event) when the press
// did not move (a click, not a pan).
export function startPan(event, frame, onClick = null) {
  const start = { x: event.clientX, y: event.clientY, cx: view.cx, cy: view.cy };
  let panned = false;
  frame.setPointerCapture(event.pointerId);
  const move = (e) => {
    const [dx, dy] = [e.clientX - start.x, e.clientY - start.y];
    if (!panned && Math.hypot(dx, dy) < CLICK_SLOP_PX) return;
    panned = true;
    frame.classList.add("panning");
    zoomTo(view.zoom, start.cx - dx / scale / view.zoom, start.cy - dy / scale / view.zoom);
  };
  const up = (e) => {
    frame.removeEventListener("pointermove", move);
    frame.removeEventListener("pointerup", up);
    frame.removeEventListener("pointercancel", up);
    frame.classList.remove("panning");
    if (!panned && e.type === "pointerup" && onClick) onClick(e);
  };
  frame.addEventListener("pointermove", move);
  frame.addEventListener("pointerup", up);
  frame.addEventListener("pointercancel", up);
}

// The outline of one class's pixels (null: none) over both frames, along the pixel edges.
export function outline(cls) {
  let path = "";
  if (cls !== null) {
    const { ids, width, height } = app.doc.label;
    const inside = (x, y) => x >= 0 && y >= 0 && x < width && y < height && ids[y * width + x] === cls;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!inside(x, y)) continue;
        if (!inside(x, y - 1)) path += `M${x} ${y}h1`;
        if (!inside(x, y + 1)) path += `M${x} ${y + 1}h1`;
        if (!inside(x - 1, y)) path += `M${x} ${y}v1`;
        if (!inside(x + 1, y)) path += `M${x + 1} ${y}v1`;
      }
    }
  }
  for (const svg of document.querySelectorAll(".frame svg.outline")) {
    svg.setAttribute("viewBox", `0 0 ${app.width} ${app.height}`);
    for (const line of svg.querySelectorAll("path")) line.setAttribute("d", path);
    svg.dataset.cls = cls === null ? "" : String(cls);
  }
}

// onImageClick(event): a click (not a pan) on the image.
export function wireView(onImageClick) {
  for (const frame of document.querySelectorAll(".frame")) {
    frame.addEventListener("wheel", (event) => {
      event.preventDefault();
      zoomAround(event.deltaY < 0 ? WHEEL_STEP : 1 / WHEEL_STEP, event, frame);
    }, { passive: false });
  }
  const output = $("#output-wrap");
  output.addEventListener("pointerdown", (event) => {
    if (event.button === 0 || event.button === 1) startPan(event, output, event.button === 0 ? onImageClick : null);
  });
  $("#zoom-in").addEventListener("click", zoomIn);
  $("#zoom-out").addEventListener("click", zoomOut);
  $("#zoom-fit").addEventListener("click", () => zoomTo(1));
  window.addEventListener("resize", layout);
}
