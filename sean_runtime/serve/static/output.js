// The image side: each edit becomes a /v1/synthesize request through one Updater (debounced, one
// request at a time, the latest edit wins); the answer is shown, and the request in its panel.

import { ApiError, Updater } from "./api.js";
import { synthesizeBody, zeroStyles } from "./document.js";
import { $, setDisabled } from "./dom.js";
import { api, app, clearMessage, labelPng, onTouched, report, setStatus } from "./state.js";

const UPDATE_DELAY_MS = 60; // debounce after an edit
const UPDATE_MAX_WAIT_MS = 150; // a stroke in progress still asks for an image at least this often
// While the server cannot be reached or is not ready, the page asks again this often: when it is back (restarted,
// say), the image of the edits made meanwhile comes by itself, not only after one more edit.
const RETRY_MS = 2000;
let retry = null;

export const updater = new Updater(render, {
  delayMs: UPDATE_DELAY_MS,
  maxWaitMs: UPDATE_MAX_WAIT_MS,
  onBusy: (busy) => {
    document.body.dataset.state = busy ? "busy" : "ready";
    if (busy) setStatus("busy", "updating…");
  },
});

async function buildRequest() {
  // a copy: the label PNG is written asynchronously, and edits may come in meanwhile
  const doc = { ...app.doc, label: app.doc.label.clone(), regions: structuredClone(app.doc.regions) };
  const body = synthesizeBody(doc, app.refs, await labelPng(doc.label), zeroStyles(app.names, app.info.style_dim));
  return { body, label: doc.label };
}

async function render() {
  const rev = app.rev;
  const started = performance.now();
  try {
    const { body, label } = await buildRequest();
    app.request = body;
    showRequest();
    const answer = await api.synthesize(app.request);
    const ms = performance.now() - started;
    app.timings.push(ms);
    await showImage(answer, rev);
    // the image shown and the label map it was drawn from: a snapshot or a download takes both, never the
    // image of one revision with the map of a later edit
    app.answer = answer;
    app.answerLabel = label;
    app.doneRev = rev;
    clearMessage("render");
    clearMessage("network"); // the server answers again
    setStatus("ready", `ready · ${Math.round(ms)} ms`);
    $("#output-wrap").classList.remove("stale");
    $("#timing").textContent = `${Math.round(ms)} ms (server ${Math.round(answer.ms)} ms)`;
    if (app.firstImageMs === null) app.firstImageMs = performance.now();
  } catch (exc) {
    app.doneRev = rev;
    report(exc, "render");
    // The image on screen is an earlier edit's: shown as out of date, not as the current one, until an
    // answer comes (the next edit asks again, and so does the page itself while the server is away).
    if (app.answer) {
      $("#output-wrap").classList.add("stale");
      $("#timing").textContent = "out of date: the last edits have no image";
    }
    // No answer (the server stopped, or restarting) or a 503 (its package still loading, or its queue full: "retry
    // shortly"): asked again. Another answer (a 400) would be the same again.
    if (exc instanceof ApiError && (!exc.status || exc.status === 503)) {
      setStatus("error", `${exc.status ? "the server is busy" : "cannot reach the server"} · trying again`);
      clearTimeout(retry);
      // an edit made meanwhile has asked already
      retry = setTimeout(() => app.rev === rev && !updater.busy && updater.run(), RETRY_MS);
    }
  }
}

// The last request, readable: long base64 strings and code lists shortened.
export function showRequest() {
  setDisabled($("#download-request"), app.request === null ? "nothing sent yet" : null);
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
  imageButtons(null);
  return loaded;
}

// The buttons that need an image on screen; why: the reason they are off, null when there is one.
function imageButtons(why) {
  for (const id of ["#download-image", "#download-styles", "#snapshot"]) setDisabled($(id), why);
}

export function wireOutput() {
  imageButtons("no image yet: it appears after the first answer");
  showRequest();
  $("#request").addEventListener("toggle", showRequest);
  onTouched(({ immediate }) => (immediate ? updater.run() : updater.schedule()));
}
