// The SEAN editor: paint a label map, choose where each region's style comes from, see the image.
//
// This module wires the page: it connects to the server, starts the panels (tools.js, canvas.js,
// references.js, regions.js, output.js, all sharing state.js), and holds what spans them: the seed
// and noise, keyboard shortcuts, downloads and the saved state.

import { readStateFile, stateFile } from "./document.js";
import { $, download, jsonBlob } from "./dom.js";
import { LabelMap } from "./labelmap.js";
import { PALETTE_SIZE, base64ToBytes, greyPng, palettePng } from "./png.js";
import { wireCanvas } from "./canvas.js";
import { updater, wireOutput } from "./output.js";
import { renderRefs, renderSamples, sampleRef, wireReferences } from "./references.js";
import { openRegion, wireRegions } from "./regions.js";
import {
  api, app, changed, clearMessage, decodeLabel, edit, labelPng, markSaved, onChanged, redo, report, resetRefs,
  setStatus, showMessage, undo, unsaved,
} from "./state.js";
import { renderClasses, selectClass, selectTool, setSize, wireTools } from "./tools.js";
import { layout, pixelAt, wireView, zoomIn, zoomOut, zoomTo } from "./view.js";

// --- seed and noise ----------------------------------------------------------------------------------
function syncControls() {
  $("#seed").value = String(app.doc.seed);
  $("#noise").checked = app.doc.noise;
}

function setSeed(value) {
  if (!Number.isSafeInteger(value) || value < 0) {
    showMessage(`the seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`, "error", "seed");
    syncControls();
    return;
  }
  clearMessage("seed"); // a seed that is right answers the message about one that was not
  if (value !== app.doc.seed) edit((doc) => (doc.seed = value));
}

const randomSeed = () => setSeed(Math.floor(Math.random() * 2 ** 31));
const toggleNoise = () => edit((doc) => (doc.noise = !doc.noise));

// --- files in and out ----------------------------------------------------------------------------------
async function openLabel(file) {
  let label = await decodeLabel(file, file.name);
  if (label.width !== app.width || label.height !== app.height) {
    showMessage(`${file.name} is ${label.width}x${label.height}: resized to the package's ${app.width}x${app.height}`, "info");
    label = label.resized(app.width, app.height);
  }
  edit((doc) => (doc.label = label));
}

function baseName() {
  return `sean-${app.info.domain}`;
}

// The label map to download: an indexed-colour PNG in the domain's palette, which shows the classes' colours in any
// viewer and whose indices are the ids, and which every reader of the project (the server, the C++ runtime, this
// page) reads by its colours as the same ids. Without a palette of the domain (or one where two classes share a
// colour, or too long for a PNG), the grey PNG of class ids, which looks black: its name says it holds ids.
async function labelFile() {
  const { ids, width, height } = app.doc.label;
  const colours = app.info.palette;
  if (colours && colours.length <= PALETTE_SIZE && new Set(colours.map(String)).size === colours.length) {
    return [`${baseName()}-label.png`, await palettePng(ids, width, height, colours)];
  }
  return [`${baseName()}-label-ids.png`, await greyPng(ids, width, height)];
}

async function saveState() {
  download(`${baseName()}-state.json`, jsonBlob(stateFile(app.doc, app.refs, app.info, await labelPng())));
  markSaved();
}

async function loadState(file) {
  const { state, refs } = readStateFile(await file.text(), file.name, app.names);
  const label = await decodeLabel(new Blob([base64ToBytes(state.label)]), `${file.name}: label`);
  resetRefs(refs);
  app.nextRef = 1 + Math.max(0, ...refs.map((r) => Number(String(r.id).slice(1)) || 0));
  app.history.clear(); // a fresh start: the history's reference ids would now name the loaded references
  app.doc = {
    label: label.resized(app.width, app.height),
    own: state.own ?? null,
    regions: state.regions ?? {},
    seed: state.seed ?? 0,
    noise: state.noise ?? true,
    removed: [],
  };
  renderRefs();
  changed();
  markSaved();
}

// --- keyboard ------------------------------------------------------------------------------------------
function onKey(event) {
  const typing = event.target.closest?.("input, select, textarea") && event.target.type !== "range";
  const key = event.key.toLowerCase();
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && key === "s") {
    event.preventDefault();
    saveState().catch(report);
    return;
  }
  if (typing) return;
  if (ctrl && (key === "z" || key === "y")) {
    event.preventDefault();
    if (key === "y" || event.shiftKey) redo();
    else undo();
    return;
  }
  if (ctrl || event.altKey) return;
  const tools = { v: "region", b: "brush", f: "fill", r: "rect", e: "eraser", i: "picker" };
  if (tools[key]) selectTool(tools[key]);
  else if (/^[0-9]$/.test(key) && Number(key) < app.names.length) selectClass(Number(key));
  else if (key === "[" || key === "]") setSize(app.size + (key === "]" ? 1 : -1));
  else if (key === "+" || key === "=") zoomIn();
  else if (key === "-") zoomOut();
  else if (key === "home") zoomTo(1);
  else if (key === "d") randomSeed();
  else if (key === "n") toggleNoise();
  else if (key === "?") $("#help").showModal();
  else return;
  event.preventDefault();
}

// A click on the image chooses the region under it, as the region tool does on the map.
function onImageClick(event) {
  const { x, y } = pixelAt(event, $("#output"));
  if ($("#output").hidden || x < 0 || y < 0 || x >= app.width || y >= app.height) return;
  openRegion(app.doc.label.at(Math.floor(x), Math.floor(y)), { x: event.clientX, y: event.clientY });
}

// --- wiring --------------------------------------------------------------------------------------------
function wire() {
  wireTools();
  wireView(onImageClick);
  wireCanvas(() => updater.schedule(0), openRegion);
  wireReferences();
  wireRegions();
  onChanged(syncControls);
  wireOutput();
  $("#blank").addEventListener("click", () => edit((doc) => (doc.label = new LabelMap(app.width, app.height))));
  $("#open-label").addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) openLabel(file).catch(report);
  });
  // an empty field is no seed (Number("") would be 0, silently)
  $("#seed").addEventListener("change", () => setSeed($("#seed").value.trim() === "" ? NaN : Number($("#seed").value)));
  $("#dice").addEventListener("click", randomSeed);
  $("#noise").addEventListener("change", toggleNoise);
  $("#download-image").addEventListener("click", () => {
    if (!app.answer) return showMessage("no image yet: wait for the first one", "info");
    // named by the seed of the image shown (an edit on its way may have changed the document's)
    download(`${baseName()}-seed${app.answer.seed}.png`, new Blob([base64ToBytes(app.answer.image)], { type: "image/png" }));
  });
  $("#download-label").addEventListener("click", async () => {
    const [name, bytes] = await labelFile();
    download(name, new Blob([bytes], { type: "image/png" }));
  });
  $("#download-styles").addEventListener("click", () => download(`${baseName()}-styles.json`, jsonBlob(app.answer.styles)));
  $("#save-state").addEventListener("click", () => saveState().catch(report));
  $("#download-request").addEventListener("click", () => download("request.json", jsonBlob(app.request)));
  $("#load-state").addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) loadState(file).catch(report);
  });
  $("#message-close").addEventListener("click", () => clearMessage());
  $("#help-open").addEventListener("click", () => $("#help").showModal());
  document.addEventListener("keydown", onKey);
}

// --- start ---------------------------------------------------------------------------------------------
async function connect() {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api.info();
    } catch (exc) {
      if (exc.status === 401) {
        await askKey(api.key !== null); // a key was sent: it was refused
      } else if (exc.status === 503 && attempt < 120) {
        setStatus("busy", "the package is loading…");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      } else {
        throw exc;
      }
    }
  }
}

function askKey(refused) {
  const dialog = $("#key-dialog");
  $("#key-refused").hidden = !refused;
  if (refused) $("#key-input").select();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      api.setKey($("#key-input").value.trim());
      resolve();
    }, { once: true });
    dialog.showModal();
  });
}

// Colours for a package without its domain plugin (no palette): well spread hues, background black.
function generatedPalette(count) {
  return Array.from({ length: count }, (_, i) => {
    if (i === 0) return [0, 0, 0];
    const hue = (i * 137.508) % 360;
    const f = (n) => {
      const k = (n + hue / 30) % 12;
      return Math.round(255 * (0.55 - 0.45 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
    };
    return [f(0), f(8), f(4)];
  });
}

async function start() {
  const info = await connect();
  app.info = info;
  app.names = info.class_names;
  app.palette = info.palette ?? generatedPalette(info.class_names.length);
  app.width = info.resolution.width;
  app.height = info.resolution.height;
  app.cls = Math.min(1, app.names.length - 1);
  app.doc = { label: new LabelMap(app.width, app.height), own: null, regions: {}, seed: 0, noise: true, removed: [] };
  $("#package").textContent =
    `${info.domain} · ${app.width}×${app.height} · ${app.names.length} classes · ${info.backend} ${info.computes}`;
  renderClasses();
  selectTool("region"); // region first: a click on the map or the image chooses a region's style
  setSize(app.size);
  renderRefs();
  wire();
  layout();
  app.samples = (await api.samples()).samples;
  renderSamples();
  if (app.samples.length) {
    const ref = await sampleRef(0);
    const label = await decodeLabel(new Blob([base64ToBytes(ref.label)]), ref.name);
    app.doc = { ...app.doc, label, own: ref.id };
    renderRefs();
  }
  changed({ immediate: true });
  markSaved(); // the start is nothing to lose
  // Work since then would be lost by a reload or a closed tab: the browser asks first (its own dialog).
  window.addEventListener("beforeunload", (event) => {
    if (unsaved()) event.preventDefault();
  });
}

// What the page's tests read: the revision shown and the round trips seen.
window.seanEditor = {
  get settled() {
    return app.doc !== null && !updater.busy && app.doneRev === app.rev;
  },
  get rev() {
    return app.rev;
  },
  get timings() {
    return app.timings;
  },
  get firstImageMs() {
    return app.firstImageMs;
  },
};

start().catch((exc) => {
  report(exc);
  $("#package").textContent = "not connected";
});
