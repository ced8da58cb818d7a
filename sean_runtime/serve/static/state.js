// The editor's shared state and the one way the document changes: edit -> history -> redraw -> image.
//
// The document (label map, region choices, seed, noise, which reference is the map's own style) is
// what undo / redo and the saved state cover; references are encoded once (/v1/encode) and their
// styles kept here. The panels register what they redraw after a change (onChanged); the image side
// registers how it asks for a new image (onTouched).

import { Api, ApiError } from "./api.js";
import { History } from "./document.js";
import { $, filePixels } from "./dom.js";
import { labelFromPixels } from "./labelmap.js";
import { bytesToBase64, greyPng } from "./png.js";

const HISTORY_LIMIT = 100; // undo steps kept: a long session of edits can be walked back, at a bounded memory cost

export const api = new Api();

export const app = {
  info: null,
  names: [],
  palette: [],
  width: 0,
  height: 0,
  doc: null, // the document (document.js)
  refs: [], // the references (document.js)
  samples: [],
  nextRef: 1,
  tool: "brush",
  cls: 1,
  size: 5,
  history: new History(HISTORY_LIMIT),
  rev: 0, // the document's revision: every edit adds one
  doneRev: -1, // the revision of the last answer (image or error) the page shows
  answerLabel: null, // the label map the image shown (app.answer) was drawn from
  answer: null, // the last /v1/synthesize answer shown
  request: null, // the last /v1/synthesize body sent
  stroke: null,
  dragging: false, // a blend slider is being dragged: its row must not be rebuilt under the pointer
  timings: [], // round trip of each /v1/synthesize seen by the page, ms
  firstImageMs: null, // from navigation start to the first image on screen
};

// --- messages and status ---------------------------------------------------------------------------
// source "render": a failed /v1/synthesize, which the next image that arrives clears; "seed": a seed out of
// range, which the next valid seed clears; other messages (a bad upload, a resized file) stay until
// dismissed or replaced.
export function showMessage(text, kind = "error", source = "action") {
  $("#message-text").textContent = text;
  $("#message").dataset.kind = kind;
  $("#message").dataset.source = source;
  $("#message").hidden = false;
}

export function clearMessage(source = null) {
  if (source === null || $("#message").dataset.source === source) $("#message").hidden = true;
}

export function setStatus(kind, text) {
  $("#status").dataset.kind = kind;
  $("#status-text").textContent = text;
}

export function report(exc, source = "action") {
  const text = exc instanceof Error ? exc.message : String(exc);
  // "cannot reach the server" of any action: the next answer from the server clears it (output.js)
  if (exc instanceof ApiError && !exc.status) source = "network";
  showMessage(text, "error", source);
  setStatus("error", exc instanceof ApiError && exc.status ? `error ${exc.status}` : "error");
  // a bad file or input is said on the page; only what nobody meant to throw goes to the console
  if (!(exc instanceof ApiError) && exc?.constructor !== Error) console.error(exc);
}

// --- the document and its history ------------------------------------------------------------------
const redraws = [];
const touches = [];

// redraw(): after every change of the document, in the order registered.
export function onChanged(redraw) {
  redraws.push(redraw);
}

// request({immediate}): the document changed and the image should follow.
export function onTouched(request) {
  touches.push(request);
}

// The document changed in a way nothing needs redrawing for (a slider mid-drag): a new image only.
export function touched({ immediate = false } = {}) {
  app.rev++;
  for (const request of touches) request({ immediate });
}

// After any change of the document: redraw what shows it and ask for a new image.
export function changed({ immediate = false } = {}) {
  app.rev++;
  for (const redraw of redraws) redraw();
  for (const request of touches) request({ immediate });
}

// Record the document before an edit, so undo can bring it back.
export function checkpoint() {
  app.history.record(app.doc);
}

export function edit(change) {
  checkpoint();
  change(app.doc);
  syncRefs(app.doc); // a removal is an edit
  changed();
}

function travel(doc) {
  if (doc === null) return;
  app.doc = doc;
  syncRefs(doc);
  changed();
}

// The reference list follows the document's `removed` ids (document.js): every reference made in this
// session is kept, and the list shows those the current document has not removed.
const madeRefs = new Map(); // id -> reference, in the order made

export function listRef(ref) {
  madeRefs.set(ref.id, ref);
  app.refs.push(ref);
  refsChanged();
}

// A reference the current document removed that `test` accepts (a sample added again), or undefined.
export function removedRef(test) {
  const removed = new Set(app.doc.removed ?? []);
  return [...madeRefs.values()].find((r) => removed.has(r.id) && test(r));
}

// Load state: the loaded references are all there is; no earlier one can come back.
export function resetRefs(refs) {
  madeRefs.clear();
  for (const ref of refs) madeRefs.set(ref.id, ref);
  app.refs = [...refs];
}

function syncRefs(doc) {
  const removed = new Set(doc.removed ?? []);
  const listed = [...madeRefs.values()].filter((r) => !removed.has(r.id));
  if (listed.length === app.refs.length && listed.every((r, i) => r === app.refs[i])) return;
  app.refs = listed;
  refsChanged();
}

// What a reload or a closed tab would lose: the document changed, or a reference was made, since the page
// started or the state was saved or loaded (markSaved at those moments).
let savedAt = { rev: 0, refs: 0 };
export function markSaved() {
  savedAt = { rev: app.rev, refs: madeRefs.size };
}
export const unsaved = () => app.rev !== savedAt.rev || madeRefs.size !== savedAt.refs;

export const undo = () => travel(app.history.undo(app.doc));
export const redo = () => travel(app.history.redo(app.doc));

// --- references ------------------------------------------------------------------------------------
const refRedraws = [];

// redraw(): after a reference is added or removed (references are not part of the document).
export function onRefsChanged(redraw) {
  refRedraws.push(redraw);
}

export function refsChanged() {
  for (const redraw of refRedraws) redraw();
}

export function refById(id) {
  return app.refs.find((r) => r.id === id) ?? null;
}

export function ownRef() {
  return refById(app.doc.own);
}

// Share of the map each class covers, [0, 1] per class id.
export function shares() {
  const counts = app.doc.label.counts(app.names.length);
  const total = app.width * app.height;
  return [...counts].map((n) => n / total);
}

// --- label files -------------------------------------------------------------------------------------
// What a PNG's colour type (byte 25 of the file) says its pixels are: class ids (grey, grey + alpha), colours
// (RGB, RGBA) or a palette's colours (indexed).
const PNG_STORES = { 0: "grey", 4: "grey", 2: "colour", 6: "colour", 3: "indexed" };

export async function decodeLabel(blob, source) {
  // A canvas reads 8 bits per channel: a 16-bit PNG's ids would silently become other ones.
  const header = new Uint8Array(await blob.slice(0, 26).arrayBuffer());
  const png = header[1] === 0x50 && header[2] === 0x4e && header[3] === 0x47;
  if (png && header[24] === 16) {
    throw new Error(`${source} is a 16-bit PNG, which the browser reads as 8 bits: save it as an 8-bit PNG`);
  }
  if (!png) {
    // The server reads other lossless formats too, but a browser decodes them (and a 24-bit BMP's or a WebP's
    // grey pixels, which the server reads as colours) in ways this page cannot tell apart.
    throw new Error(`${source}: the editor opens label maps as PNG files (class ids in grey, or the palette's ` +
      "colours); save it as a PNG");
  }
  const pixels = await filePixels(blob, source);
  for (let i = 3; i < pixels.data.length; i += 4) {
    // The server drops transparency and keeps the values stored; the canvas gives a transparent pixel's
    // values premultiplied (alpha 0: black), so its id would differ.
    if (pixels.data[i] !== 255) {
      throw new Error(`${source} has transparent pixels, which the browser cannot read exactly: save the label ` +
        "map without transparency (no alpha channel or tRNS chunk)");
    }
  }
  // A grey PNG of 1, 2 or 4 bits holds the ids stored, as the server reads it; the browser stretches them to
  // 0..255 as a picture's grey (4-bit 1 -> 17).
  if (header[25] === 0 && [1, 2, 4].includes(header[24])) {
    const step = 255 / (2 ** header[24] - 1);
    for (let i = 0; i < pixels.data.length; i += 4) {
      for (let c = 0; c < 3; c++) pixels.data[i + c] = Math.round(pixels.data[i + c] / step);
    }
  }
  const stored = PNG_STORES[header[25]] ?? "unknown";
  const domain = app.info.domain;
  const read = () => labelFromPixels(pixels, app.palette, app.names.length, source, stored, domain);
  if (stored === "grey" || stored === "unknown") return read();
  if (stored === "colour") {
    // An RGB PNG holds colours, even where they are grey: the server's messages (ManifestDomain and
    // Domain.colors_to_labels). Without a palette of the domain the page's own colours are no palette.
    if (!app.info.palette) {
      throw new Error(`${source}: a colour mask needs the palette of domain '${domain}', which neither an ` +
        "installed plugin nor the package provides; pass a single-channel class-id map instead, or install the plugin");
    }
    try {
      return read();
    } catch (error) {
      if (!error.lowest) throw error;
      throw new Error(`${source}: colours [${error.lowest.join(", ")}] are not in the palette of domain '${domain}'; ` +
        `draw masks with the domain's palette (or pass an id map)${error.hint}`);
    }
  }
  // The server's message for a palette PNG whose colours are not the domain's (Domain.labels_from_bytes).
  let which = `there is no palette of domain '${domain}' to read them with`;
  if (app.info.palette) {
    try {
      return read();
    } catch (error) {
      if (!error.lowest) throw error;
      which = `its colours [${error.lowest.join(", ")}] are not in the palette of domain '${domain}'`;
    }
  }
  throw new Error(`${source} is an indexed-colour (palette) PNG, which is read by its palette's colours, not by ` +
    `its indices, and ${which}; if its indices are the class ids, save them as a single-channel PNG (e.g. with ` +
    "Pillow: Image.fromarray(numpy.asarray(Image.open(src))).save(dst))");
}

export async function labelPng(label = app.doc.label) {
  return bytesToBase64(await greyPng(label.ids, label.width, label.height));
}
