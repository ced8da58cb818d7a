// The SEAN editor: paint a label map, choose where each region's style comes from, see the image.
//
// The document (label map, region choices, seed, noise, which reference is the map's own style) is
// what undo / redo and the saved state cover; references are encoded once (/v1/encode) and their
// styles kept here. Each edit asks /v1/synthesize for the image through one Updater: debounced, one
// request at a time, the latest edit wins.

import { Api, ApiError, Updater } from "./api.js";
import { History, readStateFile, region, stateFile, synthesizeBody, zeroStyles } from "./document.js";
import { $, download, element, fileToDataUrl, filePixels, jsonBlob } from "./dom.js";
import { LabelMap, labelFromPixels } from "./labelmap.js";
import { base64ToBytes, bytesToBase64, greyPng } from "./png.js";

const UPDATE_DELAY_MS = 60; // debounce after an edit
const UPDATE_MAX_WAIT_MS = 150; // a stroke in progress still asks for an image at least this often
const HISTORY_LIMIT = 100; // undo steps kept (the issue asks for at least 50)
const MAX_SCALE = 8; // display: package pixels per screen pixel at most

// --- state -------------------------------------------------------------------------------------
const api = new Api();
const app = {
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
  answer: null, // the last /v1/synthesize answer shown
  request: null, // the last /v1/synthesize body sent
  stroke: null,
  dragging: false, // a blend slider is being dragged: its row must not be rebuilt under the pointer
  shownOwn: undefined, // the own reference the References panel was drawn for
  regionsDrawn: "", // what the Regions panel was drawn for (see renderRegions)
  timings: [], // round trip of each /v1/synthesize seen by the page, ms
  firstImageMs: null, // from navigation start to the first image on screen
};

const updater = new Updater(render, {
  delayMs: UPDATE_DELAY_MS,
  maxWaitMs: UPDATE_MAX_WAIT_MS,
  onBusy: (busy) => {
    document.body.dataset.state = busy ? "busy" : "ready";
    if (busy) setStatus("busy", "updating…");
  },
});

// --- messages and status ---------------------------------------------------------------------------
// source "render": a failed /v1/synthesize, which the next image that arrives clears; other messages
// (a bad upload, a resized file) stay until dismissed or replaced.
function showMessage(text, kind = "error", source = "action") {
  $("#message-text").textContent = text;
  $("#message").dataset.kind = kind;
  $("#message").dataset.source = source;
  $("#message").hidden = false;
}

function clearMessage(source = null) {
  if (source === null || $("#message").dataset.source === source) $("#message").hidden = true;
}

function setStatus(kind, text) {
  $("#status").dataset.kind = kind;
  $("#status-text").textContent = text;
}

// --- the document and its history ------------------------------------------------------------------
// Record the document before an edit, so undo can bring it back.
function checkpoint() {
  app.history.record(app.doc);
}

function edit(change) {
  checkpoint();
  change(app.doc);
  changed();
}

function travel(doc) {
  if (doc === null) return;
  app.doc = doc;
  changed();
}

const undo = () => travel(app.history.undo(app.doc));
const redo = () => travel(app.history.redo(app.doc));

// After any change of the document: redraw what shows it and ask for a new image.
function changed({ immediate = false } = {}) {
  app.rev++;
  drawLabel();
  updateCounts();
  if (app.shownOwn !== app.doc.own) renderRefs();
  renderRegions();
  syncControls();
  $("#undo").disabled = !app.history.canUndo;
  $("#redo").disabled = !app.history.canRedo;
  if (immediate) updater.run();
  else updater.schedule();
}

function syncControls() {
  $("#seed").value = String(app.doc.seed);
  $("#noise").checked = app.doc.noise;
}

// --- references ------------------------------------------------------------------------------------
function refById(id) {
  return app.refs.find((r) => r.id === id) ?? null;
}

function ownRef() {
  return refById(app.doc.own);
}

async function addRef(name, kind, image, label) {
  const { styles } = await api.encode(image, label);
  const ref = { id: `r${app.nextRef++}`, name, kind, image, label, styles, present: styles.present };
  app.refs.push(ref);
  renderRefs();
  renderRegions();
  return ref;
}

function removeRef(id) {
  edit((doc) => {
    if (doc.own === id) doc.own = null;
    for (const choice of Object.values(doc.regions)) {
      if (choice.from === id) choice.from = null;
      if (choice.blend === id) choice.blend = null;
    }
  });
  app.refs = app.refs.filter((r) => r.id !== id);
  renderRefs();
  renderRegions();
}

function renderRefs() {
  app.shownOwn = app.doc.own;
  const list = $("#refs");
  list.replaceChildren();
  if (!app.refs.length) list.append(element("p", { class: "empty", text: "No references yet." }));
  for (const ref of app.refs) {
    const own = ref.id === app.doc.own;
    const count = ref.present.filter(Boolean).length;
    list.append(
      element(
        "div",
        { class: own ? "ref own" : "ref", "data-ref": ref.id },
        element("img", { src: ref.image, alt: `${ref.name}: image` }),
        element("img", { src: `data:image/png;base64,${ref.label}`, alt: `${ref.name}: label map`, class: "ref-label" }),
        element(
          "div",
          { class: "name", title: ref.name },
          ref.name,
          element("small", { text: own ? `own · ${count} classes` : `${count} classes` }),
        ),
        element(
          "div",
          { class: "actions" },
          element("button", {
            text: "Start",
            title: "Start from its label map, with its styles as the map's own",
            onclick: () => startFromRef(ref).catch(report),
          }),
          element("button", {
            text: "×",
            title: "Remove this reference",
            "aria-label": `Remove ${ref.name}`,
            onclick: () => removeRef(ref.id),
          }),
        ),
      ),
    );
  }
  // labels drawn in palette colours, not as near-black ids
  for (const img of list.querySelectorAll("img.ref-label")) colourizeThumb(img);
}

async function colourizeThumb(img) {
  try {
    const label = await decodeLabel(await (await fetch(img.src)).blob(), "label map");
    const canvas = element("canvas", { width: label.width, height: label.height });
    canvas.getContext("2d").putImageData(label.toImageData(app.palette), 0, 0);
    img.src = canvas.toDataURL();
  } catch {
    // keep the raw thumbnail
  }
}

async function startFromRef(ref) {
  const label = await decodeLabel(new Blob([base64ToBytes(ref.label)]), ref.name);
  edit((doc) => {
    doc.label = label.resized(app.width, app.height);
    doc.own = ref.id;
    doc.regions = {};
  });
  renderRefs();
}

// --- reading files -------------------------------------------------------------------------------
async function decodeLabel(blob, source) {
  // A canvas reads 8 bits per channel: a 16-bit PNG's ids would silently become other ones.
  const header = new Uint8Array(await blob.slice(0, 26).arrayBuffer());
  if (header[1] === 0x50 && header[2] === 0x4e && header[3] === 0x47 && header[24] === 16) {
    throw new Error(`${source} is a 16-bit PNG, which the browser reads as 8 bits: save it as an 8-bit PNG`);
  }
  return labelFromPixels(await filePixels(blob, source), app.palette, app.names.length, source);
}

async function labelPng(label = app.doc.label) {
  return bytesToBase64(await greyPng(label.ids, label.width, label.height));
}

// --- synthesis -------------------------------------------------------------------------------------
async function buildRequest() {
  // a copy: the label PNG is written asynchronously, and edits may come in meanwhile
  const doc = { ...app.doc, label: app.doc.label.clone(), regions: structuredClone(app.doc.regions) };
  return synthesizeBody(doc, app.refs, await labelPng(doc.label), zeroStyles(app.names, app.info.style_dim));
}

async function render() {
  const rev = app.rev;
  const started = performance.now();
  try {
    app.request = await buildRequest();
    showRequest();
    const answer = await api.synthesize(app.request);
    const ms = performance.now() - started;
    app.timings.push(ms);
    await showImage(answer, rev);
    app.answer = answer;
    app.doneRev = rev;
    clearMessage("render");
    setStatus("ready", `ready · ${Math.round(ms)} ms`);
    $("#timing").textContent = `${Math.round(ms)} ms (server ${Math.round(answer.ms)} ms)`;
    if (app.firstImageMs === null) app.firstImageMs = performance.now();
  } catch (exc) {
    app.doneRev = rev;
    report(exc, "render");
  }
}

// The last request, readable: long base64 strings and code lists shortened.
function showRequest() {
  $("#download-request").disabled = app.request === null;
  if (!$("#request").open || app.request === null) return;
  const short = (key, value) => {
    if (typeof value === "string" && value.length > 48) return `${value.slice(0, 24)}… (${value.length} characters)`;
    if (key === "codes" && Array.isArray(value)) return `[${value.length} classes x ${value[0]?.length ?? 0} numbers]`;
    if (key === "present" && Array.isArray(value)) return value.map(Number).join("");
    if (key === "class_names" && Array.isArray(value)) return `[${value.length} class names]`;
    return value;
  };
  $("#request-body").textContent = JSON.stringify(app.request, short, 2);
}

function showImage(answer, rev) {
  const img = $("#output");
  const loaded = new Promise((resolve) => {
    img.onload = resolve;
    img.onerror = resolve;
  });
  img.src = `data:image/png;base64,${answer.image}`;
  img.dataset.rev = String(rev);
  img.hidden = false;
  $("#placeholder").hidden = true;
  $("#download-image").disabled = false;
  $("#download-styles").disabled = false;
  $("#snapshot").disabled = false;
  return loaded;
}

function report(exc, source = "action") {
  const text = exc instanceof Error ? exc.message : String(exc);
  showMessage(text, "error", source);
  setStatus("error", exc instanceof ApiError && exc.status ? `error ${exc.status}` : "error");
  if (!(exc instanceof ApiError)) console.error(exc);
}

// --- the label canvas ------------------------------------------------------------------------------
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

function onPointerUp(event) {
  const stroke = app.stroke;
  app.stroke = null;
  if (stroke?.start) {
    const end = clampPixel(pixelAt(event));
    edit((doc) => doc.label.rect(stroke.start.x, stroke.start.y, end.x, end.y, app.cls));
  } else if (stroke) {
    updater.schedule(0); // the stroke is done: update now
  }
  drawOverlay(pixelAt(event));
}

// --- display size ----------------------------------------------------------------------------------
function layout() {
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

// --- classes and regions ---------------------------------------------------------------------------
function selectClass(cls) {
  app.cls = cls;
  if (app.tool === "eraser" || app.tool === "picker") selectTool("brush");
  for (const button of document.querySelectorAll("#classes button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.cls) === cls));
  }
}

function selectTool(tool) {
  app.tool = tool;
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
  }
}

function renderClasses() {
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

function shares() {
  const counts = app.doc.label.counts(app.names.length);
  const total = app.width * app.height;
  return [...counts].map((n) => n / total);
}

function shareText(share) {
  if (!share) return "";
  return share < 0.001 ? "<0.1%" : `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

function updateCounts() {
  const values = shares();
  for (const node of document.querySelectorAll("[data-share]")) node.textContent = shareText(values[node.dataset.share]);
}

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
  const own = ownRef();
  // Rebuilt only when the rows would differ, not on every pointer move of a stroke.
  const drawn = JSON.stringify([values.map(Boolean), app.refs.map((r) => r.id), app.doc.own, app.doc.regions]);
  if (drawn === app.regionsDrawn) return;
  app.regionsDrawn = drawn;
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
      app.rev++;
      updater.schedule();
    });
    alpha.addEventListener("change", () => {
      app.dragging = false;
      app.regionsDrawn = "";
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

// --- starting points ------------------------------------------------------------------------------
function renderSamples() {
  const box = $("#samples");
  box.replaceChildren(
    ...app.samples.map((sample, i) =>
      element(
        "div",
        { class: "thumb", title: `Start from sample ${sample.name}` },
        element("img", {
          src: `data:image/png;base64,${sample.image}`,
          alt: `sample ${sample.name}`,
          "data-sample": i,
          onclick: () => startFromSample(i).catch(report),
        }),
        element("button", {
          class: "add",
          text: "+",
          title: `Add sample ${sample.name} as a reference`,
          onclick: () => sampleRef(i).catch(report),
        }),
      ),
    ),
  );
  $("#samples-note").hidden = app.samples.length > 0;
}

async function sampleRef(i) {
  const sample = app.samples[i];
  const name = `sample ${sample.name}`;
  return app.refs.find((r) => r.kind === "sample" && r.name === name)
    ?? addRef(name, "sample", `data:image/png;base64,${sample.image}`, sample.label);
}

async function startFromSample(i) {
  await startFromRef(await sampleRef(i));
}

async function openLabel(file) {
  let label = await decodeLabel(file, file.name);
  if (label.width !== app.width || label.height !== app.height) {
    showMessage(`${file.name} is ${label.width}x${label.height}: resized to the package's ${app.width}x${app.height}`, "info");
    label = label.resized(app.width, app.height);
  }
  edit((doc) => (doc.label = label));
}

// --- downloads and the saved state ----------------------------------------------------------------
function baseName() {
  return `sean-${app.info.domain}`;
}

async function saveState() {
  download(`${baseName()}-state.json`, jsonBlob(stateFile(app.doc, app.refs, app.info, await labelPng())));
}

async function loadState(file) {
  const { state, refs } = readStateFile(await file.text(), file.name, app.names);
  const label = await decodeLabel(new Blob([base64ToBytes(state.label)]), `${file.name}: label`);
  app.refs = refs;
  app.nextRef = 1 + Math.max(0, ...refs.map((r) => Number(String(r.id).slice(1)) || 0));
  app.history.clear(); // a fresh start: the history's reference ids would now name the loaded references
  app.doc = {
    label: label.resized(app.width, app.height),
    own: state.own ?? null,
    regions: state.regions ?? {},
    seed: state.seed ?? 0,
    noise: state.noise ?? true,
  };
  renderRefs();
  changed();
}

// --- wiring --------------------------------------------------------------------------------------
function setSeed(value) {
  if (!Number.isSafeInteger(value) || value < 0) {
    showMessage(`the seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`);
    syncControls();
    return;
  }
  if (value !== app.doc.seed) edit((doc) => (doc.seed = value));
}

const randomSeed = () => setSeed(Math.floor(Math.random() * 2 ** 31));
const toggleNoise = () => edit((doc) => (doc.noise = !doc.noise));

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
  const tools = { b: "brush", f: "fill", r: "rect", e: "eraser", i: "picker" };
  if (tools[key]) selectTool(tools[key]);
  else if (/^[0-9]$/.test(key) && Number(key) < app.names.length) selectClass(Number(key));
  else if (key === "[" || key === "]") setSize(app.size + (key === "]" ? 1 : -1));
  else if (key === "d") randomSeed();
  else if (key === "n") toggleNoise();
  else if (key === "?") $("#help").showModal();
  else return;
  event.preventDefault();
}

function setSize(size) {
  app.size = Math.max(1, Math.min(Number($("#size").max), size));
  $("#size").value = String(app.size);
  $("#size-value").textContent = String(app.size);
}

function wire() {
  const canvas = $("#label");
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", () => (app.stroke = null));
  canvas.addEventListener("pointerleave", () => !app.stroke && drawOverlay(null));
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => selectTool(button.dataset.tool));
  }
  $("#size").addEventListener("input", () => setSize(Number($("#size").value)));
  $("#undo").addEventListener("click", undo);
  $("#redo").addEventListener("click", redo);
  $("#blank").addEventListener("click", () => edit((doc) => (doc.label = new LabelMap(app.width, app.height))));
  $("#open-label").addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) openLabel(file).catch(report);
  });
  $("#class-filter").addEventListener("input", (e) => {
    const text = e.target.value.toLowerCase();
    for (const li of document.querySelectorAll("#classes li")) li.hidden = !li.dataset.name.includes(text);
  });
  $("#seed").addEventListener("change", () => setSeed(Number($("#seed").value)));
  $("#dice").addEventListener("click", randomSeed);
  $("#noise").addEventListener("change", toggleNoise);
  $("#all-from").addEventListener("change", (e) => {
    const from = e.target.value || null;
    edit((doc) => {
      app.names.forEach((_, cls) => (doc.regions[cls] = { ...region(doc, cls), from }));
    });
  });
  wireRefForm();
  $("#snapshot").addEventListener("click", () => {
    const name = `image seed ${app.doc.seed}`;
    labelPng()
      .then((label) => addRef(name, "snapshot", `data:image/png;base64,${app.answer.image}`, label))
      .catch(report);
  });
  $("#download-image").addEventListener("click", () => {
    download(`${baseName()}-seed${app.doc.seed}.png`, new Blob([base64ToBytes(app.answer.image)], { type: "image/png" }));
  });
  $("#download-label").addEventListener("click", async () => {
    download(`${baseName()}-label.png`, new Blob([await greyPng(app.doc.label.ids, app.width, app.height)], { type: "image/png" }));
  });
  $("#download-styles").addEventListener("click", () => download(`${baseName()}-styles.json`, jsonBlob(app.answer.styles)));
  $("#save-state").addEventListener("click", () => saveState().catch(report));
  $("#request").addEventListener("toggle", showRequest);
  $("#download-request").addEventListener("click", () => download("request.json", jsonBlob(app.request)));
  $("#load-state").addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (file) loadState(file).catch(report);
  });
  $("#message-close").addEventListener("click", () => clearMessage());
  $("#help-open").addEventListener("click", () => $("#help").showModal());
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", layout);
}

function wireRefForm() {
  const image = $("#ref-image");
  const label = $("#ref-label");
  const note = $("#ref-files");
  const add = $("#ref-add");
  const update = () => {
    const files = [image.files[0], label.files[0]];
    add.disabled = !files[0] || !files[1];
    note.dataset.kind = "";
    note.textContent = files[0] || files[1]
      ? `image: ${files[0]?.name ?? "—"} · label map: ${files[1]?.name ?? "—"}`
      : "Pick a style image and its label map.";
  };
  image.addEventListener("change", update);
  label.addEventListener("change", update);
  $("#ref-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const [imageFile, labelFile] = [image.files[0], label.files[0]];
    add.disabled = true;
    note.textContent = "encoding…";
    try {
      const [imageData, labelData] = await Promise.all([fileToDataUrl(imageFile), fileToDataUrl(labelFile)]);
      const labelB64 = labelData.slice(labelData.indexOf(",") + 1);
      await addRef(imageFile.name.replace(/\.[^.]+$/, ""), "upload", imageData, labelB64);
      image.value = "";
      label.value = "";
      update();
    } catch (exc) {
      note.dataset.kind = "error";
      note.textContent = exc.message;
      report(exc);
      add.disabled = false;
    }
  });
}

// --- start ---------------------------------------------------------------------------------------
async function connect() {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api.info();
    } catch (exc) {
      if (exc.status === 401) {
        await askKey();
      } else if (exc.status === 503 && attempt < 120) {
        setStatus("busy", "the package is loading…");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      } else {
        throw exc;
      }
    }
  }
}

function askKey() {
  const dialog = $("#key-dialog");
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
  app.doc = { label: new LabelMap(app.width, app.height), own: null, regions: {}, seed: 0, noise: true };
  $("#package").textContent =
    `${info.domain} · ${app.width}×${app.height} · ${app.names.length} classes · ${info.backend} ${info.precision}`;
  for (const id of ["#label", "#overlay"]) {
    $(id).width = app.width;
    $(id).height = app.height;
  }
  renderClasses();
  selectTool("brush");
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
