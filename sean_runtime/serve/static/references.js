// The references panel: style sources encoded once by /v1/encode (uploads, samples, the current
// image), the server's samples as starting points, and starting from a reference's label map.

import { ApiError } from "./api.js";
import { $, element, fileToDataUrl, imageSize, setDisabled } from "./dom.js";
import { labelForImage } from "./labelmap.js";
import { base64ToBytes } from "./png.js";
import {
  api, app, decodeLabel, edit, labelPng, listRef, onChanged, onRefsChanged, removedRef, report, setStatus,
  showMessage,
} from "./state.js";

let shownOwn; // the own reference the panel was drawn for

// label: base64 PNG, or undefined for the server's segmenter to label the image (it answers the map it used).
export async function addRef(name, kind, image, label) {
  const answer = await api.encode(image, label);
  const { styles } = answer;
  const ref = {
    id: `r${app.nextRef++}`, name, kind, image, label: label ?? answer.label, styles, present: styles.present,
  };
  listRef(ref);
  return ref;
}

// An edit: undo brings the reference back with the document that used it, redo removes it again.
function removeRef(id) {
  edit((doc) => {
    if (doc.own === id) doc.own = null;
    for (const choice of Object.values(doc.regions)) {
      if (choice.from === id) choice.from = null;
      if (choice.blend === id) choice.blend = null;
    }
    doc.removed = [...(doc.removed ?? []), id];
  });
}

export function renderRefs() {
  shownOwn = app.doc.own;
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

// --- the server's samples -----------------------------------------------------------------------------
export function renderSamples() {
  const box = $("#samples");
  box.replaceChildren(
    ...app.samples.map((sample, i) =>
      element(
        "div",
        { class: "thumb", title: `Start from sample ${sample.name}` },
        element("img", {
          src: `data:image/png;base64,${sample.image}`,
          alt: `Start from sample ${sample.name}`,
          "data-sample": i,
          tabindex: 0, // reachable and started by the keyboard too
          role: "button",
          onclick: () => startFromSample(i).catch(report),
          onkeydown: (event) => {
            if (event.key !== "Enter" && event.key !== " ") return;
            event.preventDefault();
            startFromSample(i).catch(report);
          },
        }),
        element("button", {
          class: "add",
          text: "+",
          title: `Add sample ${sample.name} as a reference`,
          "aria-label": `Add sample ${sample.name} as a reference`,
          onclick: () => sampleRef(i).catch(report),
        }),
      ),
    ),
  );
  $("#samples-note").hidden = app.samples.length > 0;
}

const addingSamples = new Map(); // sample name -> its reference being encoded: quick clicks add it once
const addingSnapshots = new Set(); // images shown being added as references: quick clicks add each once

export async function sampleRef(i) {
  const sample = app.samples[i];
  const name = `sample ${sample.name}`;
  const isIt = (r) => r.kind === "sample" && r.name === name;
  const added = app.refs.find(isIt);
  if (added) return added;
  const removed = removedRef(isIt); // back as an edit, not as a second reference an undo would list too
  if (removed) {
    edit((doc) => (doc.removed = doc.removed.filter((id) => id !== removed.id)));
    return removed;
  }
  if (!addingSamples.has(name)) {
    const adding = addRef(name, "sample", `data:image/png;base64,${sample.image}`, sample.label);
    addingSamples.set(name, adding);
    adding.finally(() => addingSamples.delete(name)).catch(() => {});
  }
  return addingSamples.get(name);
}

async function startFromSample(i) {
  await startFromRef(await sampleRef(i));
}

// --- adding references ----------------------------------------------------------------------------------
let traced = null; // the photo shown under the map, its object URL
function showTrace(file) {
  if (file === (traced?.file ?? null)) return;
  if (traced) URL.revokeObjectURL(traced.url);
  traced = file ? { file, url: URL.createObjectURL(file) } : null;
  const trace = $("#trace");
  trace.hidden = !traced;
  if (traced) trace.src = traced.url;
  else trace.removeAttribute("src");
  $("#label-wrap").classList.toggle("tracing", Boolean(traced));
  $("#trace-opacity-row").hidden = !traced;
}

// How much of the map shows over the photo it is painted on: less to see the photo's edges, more to see the regions.
function setTraceOpacity(percent) {
  $("#label-wrap").style.setProperty("--map-opacity", String(percent / 100));
  $("#trace-opacity-value").textContent = `${percent}%`;
}

// The server's 413 counts the request's bytes, in which a file travels as base64 (4/3 of its size): a photo of 13 MB
// is over a limit of 16 MB. Said with the photo's name and size, which a person can compare with the limit.
function tooLarge(photo) {
  const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
  const limit = app.info.limits?.max_body_bytes;
  return new ApiError(`${photo.name} (${mb(photo.size)}): too large for this server, which takes ` +
    `${limit ? `at most ${mb(limit)}` : "less"} a request, a file counting 4/3 of its size (base64): save the photo ` +
    "smaller (2000 pixels wide is plenty), or start sean serve with a larger --max-body-mb", 413);
}

// The server names the field it could not read ("image: not a readable image", "image is 6000x4500 pixels, more
// than the limit"); a person knows the file by its name.
function namingThePhoto(exc, photo) {
  if (exc instanceof ApiError && exc.status === 413) return tooLarge(photo);
  if (exc instanceof ApiError && exc.status === 400 && /^image[: ]/.test(exc.message)) {
    return new ApiError(photo.name + exc.message.slice("image".length), exc.status);
  }
  return exc;
}

function wireRefForm() {
  const image = $("#ref-image");
  const label = $("#ref-label");
  const note = $("#ref-files");
  const add = $("#ref-add");
  // With a segmenter on the server (docs/serving.md) the label map is optional: a photo will do. Without one, a
  // photo alone takes the map as painted, which is painted over the photo: it shows under the map meanwhile.
  const segmenter = Boolean(app.info?.segmenter);
  const opacity = $("#trace-opacity");
  opacity.addEventListener("input", () => setTraceOpacity(Number(opacity.value)));
  setTraceOpacity(Number(opacity.value));
  const update = () => {
    const files = [image.files[0], label.files[0]];
    showTrace(!segmenter && files[0] && !files[1] ? files[0] : null);
    setDisabled(add, files[0] ? null : "pick the style image first");
    note.dataset.kind = "";
    const labelName = files[1]?.name ??
      (segmenter ? "— (the server's segmenter labels it)" : "the map as painted (paint its regions over the photo)");
    note.textContent = files[0] || files[1]
      ? `image: ${files[0]?.name ?? "—"} · label map: ${labelName}`
      : segmenter
        ? "Pick a style image; its label map is optional (the server's segmenter labels it)."
        : "Pick a style image and its label map, or a photo alone to paint its regions over it.";
  };
  update();
  image.addEventListener("change", update);
  label.addEventListener("change", update);
  $("#ref-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const [imageFile, labelFile] = [image.files[0], label.files[0]];
    setDisabled(add, "encoding the last one…");
    note.textContent = "encoding…";
    setStatus("busy", "encoding the reference…"); // an upload of a large photo takes seconds
    try {
      // Without a label file or a segmenter, the photo's label map is the map as painted (over the photo).
      const painted = !labelFile && !segmenter;
      const labelName = labelFile?.name ?? "the map as painted";
      // A label map the page cannot read as the server does is refused now, not when its map is opened.
      const map = labelFile ? await decodeLabel(labelFile, labelFile.name) : painted ? app.doc.label : null;
      const [imageData, labelData, size] = await Promise.all([
        fileToDataUrl(imageFile),
        labelFile ? fileToDataUrl(labelFile) : undefined,
        map ? imageSize(imageFile) : null,
      ]);
      if (painted && !size) {
        throw new Error(`${imageFile.name}: the browser cannot read it to paint its regions: save it as a PNG or ` +
          "JPEG, or pick its label map");
      }
      let labelB64 = labelData?.slice(labelData.indexOf(",") + 1);
      // A map of another size than its photo (one made at the package's size, say) is scaled to the photo.
      const fitted = size ? labelForImage(map, size, app.info.labels_may_be_scaled) : map;
      if (fitted !== map || painted) labelB64 = await labelPng(fitted);
      await addRef(imageFile.name.replace(/\.[^.]+$/, ""), "upload", imageData, labelB64);
      image.value = "";
      label.value = "";
      update();
      setStatus("ready", "ready · reference added");
      if (fitted !== map) {
        showMessage(`${labelName} is ${map.width}x${map.height}: scaled to ${imageFile.name}'s ` +
          `${size.width}x${size.height} nearest-neighbour, as the runtime scales label maps`, "info");
      }
    } catch (caught) {
      const exc = namingThePhoto(caught, imageFile);
      note.dataset.kind = "error";
      note.textContent = exc.message;
      report(exc);
      setDisabled(add, null);
    }
  });
}

export function wireReferences() {
  wireRefForm();
  $("#snapshot").addEventListener("click", () => {
    const { answer, answerLabel } = app; // the image shown and its own label map, whatever edit is on the way
    if (!answer) return showMessage("no image yet: wait for the first one", "info");
    const image = `data:image/png;base64,${answer.image}`;
    const listed = app.refs.some((r) => r.kind === "snapshot" && r.image === image); // app.refs: those not removed
    if (listed || addingSnapshots.has(image)) return showMessage("this image is a reference already", "info");
    const adding = labelPng(answerLabel).then((label) => addRef(`image seed ${answer.seed}`, "snapshot", image, label));
    addingSnapshots.add(image);
    adding.finally(() => addingSnapshots.delete(image)).catch(report);
  });
  onChanged(() => shownOwn !== app.doc.own && renderRefs());
  onRefsChanged(renderRefs);
}
