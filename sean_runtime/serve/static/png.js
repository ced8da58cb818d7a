// PNG files of class ids, written in the browser.
//
// A canvas can only write RGBA PNGs, but a label file holds one channel of class ids (8-bit, or
// 16-bit past 256 classes), the form `sean synth` and /v1/synthesize read as ids; or an indexed-colour
// PNG whose indices are the ids and whose palette is the domain's, which shows the classes' colours and
// which they read by those colours as the same ids. This writes those files: signature, IHDR, (PLTE,)
// one zlib IDAT (deflate through CompressionStream where the browser has it, stored blocks otherwise), IEND.

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const STORED_BLOCK = 65535; // the most bytes one stored deflate block holds
const ADLER_MOD = 65521;
const ADLER_NMAX = 5552; // bytes summed before the adler sums must be reduced to stay below 2^32

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (let start = 0; start < bytes.length; start += ADLER_NMAX) {
    const end = Math.min(start + ADLER_NMAX, bytes.length);
    for (let i = start; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= ADLER_MOD;
    b %= ADLER_MOD;
  }
  return ((b << 16) | a) >>> 0;
}

function u32(value) {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

// A zlib stream of stored (uncompressed) deflate blocks: valid everywhere, larger than deflate.
function zlibStored(raw) {
  const blocks = Math.max(1, Math.ceil(raw.length / STORED_BLOCK));
  const out = new Uint8Array(2 + blocks * 5 + raw.length + 4);
  out[0] = 0x78; // deflate, 32 KiB window
  out[1] = 0x01; // check bits: (0x78 * 256 + 0x01) % 31 == 0, no preset dictionary
  let at = 2;
  for (let i = 0; i < blocks; i++) {
    const chunk = raw.subarray(i * STORED_BLOCK, (i + 1) * STORED_BLOCK);
    out[at] = i === blocks - 1 ? 1 : 0; // BFINAL on the last block, BTYPE 00 (stored)
    out[at + 1] = chunk.length & 0xff;
    out[at + 2] = chunk.length >>> 8;
    out[at + 3] = ~chunk.length & 0xff;
    out[at + 4] = (~chunk.length >>> 8) & 0xff;
    out.set(chunk, at + 5);
    at += 5 + chunk.length;
  }
  out.set(u32(adler32(raw)), at);
  return out;
}

async function zlib(raw) {
  if (typeof CompressionStream !== "function") return zlibStored(raw);
  // "deflate" is the zlib format (RFC 1950), exactly what a PNG IDAT holds.
  const stream = new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunk(type, data) {
  const body = new Uint8Array(4 + data.length);
  for (let i = 0; i < 4; i++) body[i] = type.charCodeAt(i);
  body.set(data, 4);
  return [...u32(data.length), ...body, ...u32(crc32(body))];
}

const GREY = 0; // IHDR colour types
const INDEXED = 3;
export const PALETTE_SIZE = 256; // the most colours a PNG palette holds

// ids: a Uint8Array or Uint16Array of width * height values; before them in the file, the chunks `extra`.
async function png(ids, width, height, depth, colourType, extra, stored) {
  const bytesPerPixel = depth / 8;
  const stride = 1 + width * bytesPerPixel; // a filter-type byte (0: none) before every row
  const raw = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = ids[y * width + x];
      const at = y * stride + 1 + x * bytesPerPixel;
      if (depth === 16) {
        raw[at] = v >>> 8; // PNG samples are big-endian
        raw[at + 1] = v & 0xff;
      } else {
        raw[at] = v;
      }
    }
  }
  const header = [...u32(width), ...u32(height), depth, colourType, 0, 0, 0]; // deflate, filter 0, no interlace
  const data = stored ? zlibStored(raw) : await zlib(raw);
  return new Uint8Array([
    ...SIGNATURE,
    ...chunk("IHDR", header),
    ...extra,
    ...chunk("IDAT", data),
    ...chunk("IEND", []),
  ]);
}

// ids: a Uint8Array or Uint16Array of width * height class ids -> the bytes of a grey PNG.
export function greyPng(ids, width, height, { stored = false } = {}) {
  return png(ids, width, height, ids.some((v) => v > 255) ? 16 : 8, GREY, [], stored);
}

// ids below palette.length, palette: at most PALETTE_SIZE [r, g, b] -> the bytes of an indexed-colour PNG.
export function palettePng(ids, width, height, palette) {
  return png(ids, width, height, 8, INDEXED, chunk("PLTE", palette.flat()), false);
}

export function bytesToBase64(bytes) {
  let text = "";
  const step = 0x8000; // String.fromCharCode takes a bounded number of arguments
  for (let i = 0; i < bytes.length; i += step) text += String.fromCharCode(...bytes.subarray(i, i + step));
  return btoa(text);
}

export function base64ToBytes(b64) {
  const text = atob(b64.startsWith("data:") ? b64.slice(b64.indexOf(",") + 1) : b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
