// The editing document and what is made from it: its undo history, the /v1/synthesize body, the
// saved-state file. No DOM here.
//
// A document is {label: LabelMap, own: reference id | null, regions: {class id: {from, blend, alpha}},
// seed, noise, removed: [reference ids removed from the list]}: a removal is an edit, so that undo brings
// the reference back and redo takes it out again. A reference is {id, name, kind, image (data URL), label
// (base64 PNG), styles (the /v1/encode JSON), present: [bool per class]}.

export const DEFAULT_ALPHA = 0.5;
export const STATE_FORMAT = "sean-editor-state";
export const STATE_VERSION = 1;

export function region(doc, cls) {
  return doc.regions[cls] ?? { from: null, blend: null, alpha: DEFAULT_ALPHA };
}

function copy(doc) {
  return { ...doc, label: doc.label.clone(), regions: structuredClone(doc.regions), removed: [...(doc.removed ?? [])] };
}

// Undo and redo of whole documents (a label map is small: 64x64 ids are 8 KiB, 512x512 are 512 KiB).
export class History {
  constructor(limit) {
    this.limit = limit;
    this.clear();
  }

  clear() {
    this.undos = [];
    this.redos = [];
  }

  get canUndo() {
    return this.undos.length > 0;
  }

  get canRedo() {
    return this.redos.length > 0;
  }

  // Record the document as it is before an edit.
  record(doc) {
    this.undos.push(copy(doc));
    if (this.undos.length > this.limit) this.undos.shift();
    this.redos = [];
  }

  // -> the document before the last edit (current goes onto the redo stack), or null.
  undo(current) {
    return this.#step(this.undos, this.redos, current);
  }

  redo(current) {
    return this.#step(this.redos, this.undos, current);
  }

  #step(from, to, current) {
    if (!from.length) return null;
    to.push(copy(current));
    return copy(from.pop());
  }
}

// Styles for a map with no own reference: zero codes, every class absent (a neutral grey image).
export function zeroStyles(classNames, styleDim) {
  return {
    codes: classNames.map(() => new Array(styleDim).fill(0)),
    present: classNames.map(() => false),
    class_names: classNames,
  };
}

// The /v1/synthesize body: the own styles, one swap per reference that regions take their style from,
// one interpolation per (reference, alpha) that regions blend toward; references that are gone count
// as "own". labelPng: the map as a base64 grey PNG of class ids.
export function synthesizeBody(doc, refs, labelPng, neutral) {
  const byId = new Map(refs.map((r) => [r.id, r]));
  const swaps = new Map();
  const blends = new Map();
  for (const [key, choice] of Object.entries(doc.regions)) {
    const cls = Number(key);
    if (byId.has(choice.from)) swaps.set(choice.from, [...(swaps.get(choice.from) ?? []), cls]);
    if (byId.has(choice.blend)) {
      const group = `${choice.blend} ${choice.alpha}`;
      const classes = [...(blends.get(group)?.classes ?? []), cls];
      blends.set(group, { id: choice.blend, alpha: choice.alpha, classes });
    }
  }
  return {
    label: labelPng,
    styles: byId.get(doc.own)?.styles ?? neutral,
    swaps: [...swaps].map(([id, classes]) => ({ classes, styles: byId.get(id).styles })),
    interpolate: [...blends.values()].map((b) => ({ alpha: b.alpha, classes: b.classes, styles: byId.get(b.id).styles })),
    seed: doc.seed,
    noise: doc.noise,
    return_styles: true,
  };
}

// The saved-state file (docs/editor.md): everything needed to continue, in one JSON object.
export function stateFile(doc, refs, info, labelPng) {
  return {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    domain: info.domain,
    class_names: info.class_names,
    resolution: info.resolution,
    label: labelPng,
    own: doc.own,
    regions: doc.regions,
    seed: doc.seed,
    noise: doc.noise,
    references: refs.map(({ id, name, kind, image, label, styles }) => ({ id, name, kind, image, label, styles })),
  };
}

// A state file's text -> {state, refs}, checked against the package's classes; the label map is left
// as base64 for the caller to decode. Errors say what to do.
export function readStateFile(text, fileName, classNames) {
  let state;
  try {
    state = JSON.parse(text);
  } catch {
    throw new Error(`${fileName} is not JSON: pick a file saved with "Save state"`);
  }
  if (state?.format !== STATE_FORMAT || state.version !== STATE_VERSION) {
    throw new Error(`${fileName} is not an editor state (format ${STATE_FORMAT} version ${STATE_VERSION})`);
  }
  if (JSON.stringify(state.class_names) !== JSON.stringify(classNames)) {
    throw new Error(`${fileName} is for domain ${state.domain} with other classes; load it with that package`);
  }
  if (typeof state.label !== "string" || !Array.isArray(state.references)) {
    throw new Error(`${fileName}: the label map or the references are missing`);
  }
  // values a later edit would send: a bad one found now, not as a 400 at every edit after loading
  if (!Number.isSafeInteger(state.seed) || state.seed < 0 || typeof state.noise !== "boolean") {
    throw new Error(`${fileName}: its seed (a whole number from 0) or noise (true or false) is not valid`);
  }
  // what synthesizeBody sends for each region: a class id, reference ids, a blend weight in [0, 1]
  const regions = state.regions ?? {};
  const reference = (id) => id === null || id === undefined || typeof id === "string";
  const badRegion = typeof regions !== "object" || regions === null || Array.isArray(regions)
    || Object.entries(regions).some(([cls, c]) => !/^\d+$/.test(cls) || Number(cls) >= classNames.length
      || typeof c !== "object" || c === null || !reference(c.from) || !reference(c.blend)
      || (c.alpha !== undefined && !(Number.isFinite(c.alpha) && c.alpha >= 0 && c.alpha <= 1)));
  if (badRegion) {
    throw new Error(`${fileName}: its regions are not {class id: {from, blend: reference id or null, alpha in [0, 1]}}`);
  }
  const broken = state.references.find(
    (r) => typeof r?.id !== "string" || typeof r.image !== "string" || typeof r.label !== "string"
      || !Array.isArray(r.styles?.codes) || !Array.isArray(r.styles?.present),
  );
  if (broken !== undefined) {
    throw new Error(`${fileName}: reference ${JSON.stringify(broken?.name ?? broken?.id ?? "?")} lacks its image, label `
      + "map or styles: pick a file saved with \"Save state\"");
  }
  const refs = state.references.map((r) => ({ ...r, present: r.styles.present }));
  return { state, refs };
}
