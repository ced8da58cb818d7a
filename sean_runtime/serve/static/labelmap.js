// The label map being edited: class ids [height * width], row-major, and the painting operations.

export class LabelMap {
  constructor(width, height, ids = null) {
    this.width = width;
    this.height = height;
    this.ids = ids ?? new Uint16Array(width * height);
    if (this.ids.length !== width * height) throw new Error(`${this.ids.length} ids for a ${width}x${height} map`);
  }

  clone() {
    return new LabelMap(this.width, this.height, this.ids.slice());
  }

  equals(other) {
    if (other.width !== this.width || other.height !== this.height) return false;
    for (let i = 0; i < this.ids.length; i++) if (this.ids[i] !== other.ids[i]) return false;
    return true;
  }

  at(x, y) {
    return this.ids[y * this.width + x];
  }

  inside(x, y) {
    return x >= 0 && y >= 0 && x < this.width && y < this.height;
  }

  // The pixels a round brush of `size` pixels covers at (x, y) (pixel units, fractional): an odd size
  // is centred on a pixel, an even one on a pixel corner, so every size stamps a symmetric disc.
  footprint(x, y, size) {
    const cx = size % 2 ? Math.floor(x) + 0.5 : Math.round(x);
    const cy = size % 2 ? Math.floor(y) + 0.5 : Math.round(y);
    const r2 = (size / 2) ** 2 + 1e-6;
    const half = Math.ceil(size / 2);
    const pixels = [];
    for (let py = Math.floor(cy) - half; py <= Math.floor(cy) + half; py++) {
      for (let px = Math.floor(cx) - half; px <= Math.floor(cx) + half; px++) {
        if ((px + 0.5 - cx) ** 2 + (py + 0.5 - cy) ** 2 <= r2 && this.inside(px, py)) pixels.push(px, py);
      }
    }
    return pixels;
  }

  stamp(x, y, size, cls) {
    const pixels = this.footprint(x, y, size);
    for (let i = 0; i < pixels.length; i += 2) this.ids[pixels[i + 1] * this.width + pixels[i]] = cls;
  }

  // A brush stroke segment: stamps every half pixel so that fast pointer moves leave no gaps.
  line(x0, y0, x1, y1, size, cls) {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) * 2));
    for (let i = 0; i <= steps; i++) this.stamp(x0 + ((x1 - x0) * i) / steps, y0 + ((y1 - y0) * i) / steps, size, cls);
  }

  // Integer pixel corners, inclusive, in any order; clipped to the map.
  rect(x0, y0, x1, y1, cls) {
    const [left, right] = [Math.max(0, Math.min(x0, x1)), Math.min(this.width - 1, Math.max(x0, x1))];
    const [top, bottom] = [Math.max(0, Math.min(y0, y1)), Math.min(this.height - 1, Math.max(y0, y1))];
    for (let y = top; y <= bottom; y++) this.ids.fill(cls, y * this.width + left, y * this.width + right + 1);
  }

  // Flood fill of the 4-connected region of (x, y)'s class; false when nothing changes.
  fill(x, y, cls) {
    const target = this.at(x, y);
    if (target === cls) return false;
    const { width, height, ids } = this;
    const stack = [y * width + x];
    ids[y * width + x] = cls;
    while (stack.length) {
      const i = stack.pop();
      const px = i % width;
      const neighbours = [px > 0 ? i - 1 : -1, px < width - 1 ? i + 1 : -1, i - width, i + width];
      for (const n of neighbours) {
        if (n >= 0 && n < width * height && ids[n] === target) {
          ids[n] = cls;
          stack.push(n);
        }
      }
    }
    return true;
  }

  counts(numClasses) {
    const counts = new Uint32Array(numClasses);
    for (const v of this.ids) counts[v]++;
    return counts;
  }

  // RGBA pixels for a canvas, each class in its palette colour.
  toImageData(palette) {
    const image = new ImageData(this.width, this.height);
    for (let i = 0; i < this.ids.length; i++) {
      const [r, g, b] = palette[this.ids[i]];
      image.data.set([r, g, b, 255], i * 4);
    }
    return image;
  }

  // Nearest-neighbour resize exactly as the server resizes label maps (sean_core.imageio.nearest_indices).
  resized(width, height) {
    if (width === this.width && height === this.height) return this.clone();
    const out = new LabelMap(width, height);
    const rows = nearestIndices(this.height, height);
    const cols = nearestIndices(this.width, width);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) out.ids[y * width + x] = this.ids[rows[y] * this.width + cols[x]];
    }
    return out;
  }
}

// The label map that goes with an image of `size` ({width, height}, as the server reads the image): the map itself
// where the server takes the pair (the same size, or the same aspect ratio where the domain stores labels at another
// scale: sean_runtime.inputs.check_pairs), else the map resized to the image's size, nearest-neighbour as the
// runtime resizes label maps (resize_labels), which is the fix the server's refusal names.
export function labelForImage(label, size, scaledOk) {
  const { width, height } = size;
  const same = label.width === width && label.height === height;
  return same || (scaledOk && height * label.width === width * label.height) ? label : label.resized(width, height);
}

// Source index of each output pixel on one axis: the output pixel's centre, (x + 0.5) * in / out, with the
// centre advanced by one float64 addition of the scale per pixel and truncated, as the server (PIL's
// NEAREST) does; JavaScript numbers are float64, so the ties land where the server's do.
export function nearestIndices(sizeIn, sizeOut) {
  const scale = sizeIn / sizeOut;
  const indices = new Int32Array(sizeOut);
  let centre = 0.5 * scale;
  for (let x = 0; x < sizeOut; x++) {
    if (x > 0) centre += scale;
    indices[x] = Math.min(Math.trunc(centre), sizeIn - 1);
  }
  return indices;
}

// What a colour mask the palette refuses seems to be, as the server appends it to its message: the text of
// GREY_IDS_HINT and BGR_HINT in sean_core/domains/base.py (tests/test_editor.py holds them equal), the same rule
// as Domain.colour_mask_hint. data: RGBA pixels; lookup: palette colour key -> class id.
const GREY_IDS_HINT = "; it looks like class ids saved as RGB (its three channels are equal): read it as one channel " +
  "(cv2.IMREAD_GRAYSCALE, or [..., 0]) and pass that, or save it as a single-channel PNG";
const BGR_HINT = "; it looks like BGR (OpenCV's channel order: every colour is the palette's with its channels " +
  "reversed): convert it to RGB with [..., ::-1]";

function colourMaskHint(data, lookup, numClasses) {
  let grey = true;
  let high = 0;
  let bgr = true;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (r !== g || g !== b) grey = false;
    else high = Math.max(high, r);
    if (!lookup.has((b << 16) | (g << 8) | r)) bgr = false;
  }
  if (grey) return high < numClasses ? GREY_IDS_HINT : "";
  return bgr ? BGR_HINT : "";
}

// Decoded label-file pixels (RGBA from a canvas) -> a LabelMap, read like the server reads a label file:
// grey pixels with values below the class count are class ids, anything else must be palette colours.
// stored, what the file says its pixels are (a PNG's colour type): "grey", so its values are ids whatever
// they are; "colour" (RGB) or "indexed" (a palette PNG), so they are colours, never ids, as both runtimes
// read them; or "unknown".
// domain: the package's domain name, which the server's messages name.
export function labelFromPixels(image, palette, numClasses, source, stored = "unknown", domain = "") {
  const { width, height, data } = image;
  const ids = new Uint16Array(width * height);
  let grey = stored === "grey" || stored === "unknown";
  for (let i = 0; grey && i < ids.length; i++) {
    const [r, g, b] = [data[i * 4], data[i * 4 + 1], data[i * 4 + 2]];
    if (r !== g || g !== b || r >= numClasses) {
      grey = false;
      break;
    }
    ids[i] = r;
  }
  if (grey) return new LabelMap(width, height, ids);
  if (stored === "grey") { // a map of class ids: its ids out of range are named, as the server names them
    const high = new Set();
    for (let i = 0; i < ids.length; i++) if (data[i * 4] >= numClasses) high.add(data[i * 4]);
    const values = [...high].sort((a, b) => a - b);
    const of = domain ? ` of domain '${domain}'` : ""; // as sean_core.domains.base.check_class_ids words it
    throw new Error(`${source}: values [${values.slice(0, 10).join(", ")}] are outside the ${numClasses} classes` +
      `${of} (valid ids 0..${numClasses - 1})`);
  }
  if (!palette) {
    throw new Error(`${source}: not a map of class ids (grey values 0..${numClasses - 1}), and this package has no palette`);
  }
  const lookup = new Map();
  palette.forEach(([r, g, b], cls) => {
    const key = (r << 16) | (g << 8) | b;
    if (!lookup.has(key)) lookup.set(key, cls); // where two classes share a colour the lower id wins
  });
  const unknown = new Set();
  for (let i = 0; i < ids.length; i++) {
    const key = (data[i * 4] << 16) | (data[i * 4 + 1] << 8) | data[i * 4 + 2];
    const cls = lookup.get(key);
    if (cls === undefined) unknown.add(key);
    else ids[i] = cls;
  }
  if (unknown.size) {
    // The five lowest, as the server names them (Domain.unknown_colours).
    const lowest = [...unknown].sort((a, b) => a - b).slice(0, 5).map((k) => `(${k >> 16}, ${(k >> 8) & 255}, ${k & 255})`);
    const error = new Error(
      `${source}: colours ${lowest.join(", ")}${unknown.size > 5 ? " ..." : ""} are not in the palette ` +
        `and it is not a map of class ids 0..${numClasses - 1}; use the domain's colours or class ids`,
    );
    error.lowest = lowest;
    error.hint = colourMaskHint(data, lookup, numClasses);
    throw error;
  }
  return new LabelMap(width, height, ids);
}
