// Small DOM helpers the editor's panels share: building elements, files in and out.

export const $ = (selector) => document.querySelector(selector);

// element("button", {class, text, title, onclick, ...attributes}, ...children); false / null skip an attribute.
export function element(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// Save a blob as a file through the browser's download.
export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const link = element("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export const jsonBlob = (data) => new Blob([JSON.stringify(data, null, 1)], { type: "application/json" });

export function fileToDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

// An image file's pixels exactly as stored (no colour management, no premultiplied alpha): ImageData.
export async function filePixels(blob, source) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new Error(`${source}: not an image the browser can read (a label map is a PNG)`);
  }
  const canvas = element("canvas", { width: bitmap.width, height: bitmap.height });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}

// An image file's width and height as the server reads them: turned by its EXIF orientation (the browser turns it
// as OpenCV does); null where the browser cannot decode it (the server may still read it).
export async function imageSize(blob) {
  try {
    const bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return null;
  }
}

// A control that is off says why: `why` null enables it; otherwise it is disabled, its tooltip is its
// own title followed by the reason, and data-why holds the reason (for tests and assistive tools).
export function setDisabled(control, why) {
  if (control.dataset.title === undefined) control.dataset.title = control.title ?? "";
  const base = control.dataset.title;
  control.disabled = Boolean(why);
  if (why) {
    control.dataset.why = why;
    control.title = base ? `${base} — ${why}` : why;
  } else {
    delete control.dataset.why;
    control.title = base;
  }
}
