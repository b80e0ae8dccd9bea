#!/usr/bin/env node
// The canonical job done with sharp, as its documentation suggests.
//
//   node sharp.js <input-dir> <output-dir>            canonical: <out>/<name>.jpg
//   node sharp.js --three <input-dir> <output-dir>    amazon-main, shopify, mockup-input
//
// Threading (measured on 2 cores, 24-file batch, see README.md): one process with two images
// in flight. sharp runs each image on sharp.concurrency() libvips threads, which sharp sets to 1
// on glibc Linux, and libuv's pool runs the in-flight images side by side: 1.98 s, against
// 1.99 s with concurrency 2, 2.27 s for two processes with half the files each and 2.50 s for
// one image at a time on two threads. SHARP_INFLIGHT, SHARP_CONCURRENCY and SHARP_TRIM
// (alpha|builtin) override for re-measuring.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

// sharp is installed by setup.sh under target/compare/node, outside the source tree.
const nodeDir = process.env.COMPARE_NODE_DIR ||
  path.join(__dirname, '..', '..', '..', 'target', 'compare', 'node');
const sharp = createRequire(path.join(nodeDir, 'package.json'))('sharp');

const INFLIGHT = Number(process.env.SHARP_INFLIGHT || 2);
const TRIM = process.env.SHARP_TRIM || 'alpha';
if (process.env.SHARP_CONCURRENCY) sharp.concurrency(Number(process.env.SHARP_CONCURRENCY));
const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };
const CLEAR = { r: 0, g: 0, b: 0, alpha: 0 };

// Product at `fill` of a `size` square: fit the trimmed product inside a square of the
// product's size ('contain' pads it, centred), then extend the padding out to the canvas.
function place(img, size, fill, background) {
  const inner = Math.round(size * fill);
  const a = Math.floor((size - inner) / 2);
  const b = size - inner - a;
  return img
    .resize(inner, inner, { fit: 'contain', background, kernel: 'lanczos3' })
    .extend({ top: a, bottom: b, left: a, right: b, background });
}

// The product box: rows and columns holding a mostly opaque pixel (alpha >= 128). A user who
// knows background-remover output leaves its faint specks and haze out of the box; the
// threshold .trim() uses (10) would frame them as product.
// Clear rows are skipped from the top and the bottom; the rows between are scanned only
// from each side inwards, as far as the box found so far.
function alphaBox(data, width, height) {
  const solid = (x, y) => data[(y * width + x) * 4 + 3] >= 128;
  const clearRow = (y) => { for (let x = 0; x < width; x++) if (solid(x, y)) return false; return true; };
  let top = 0;
  while (top < height && clearRow(top)) top++;
  if (top === height) return { left: 0, top: 0, width, height }; // nothing to trim to
  let bottom = height - 1;
  while (clearRow(bottom)) bottom--;
  let left = width, right = -1;
  for (let y = top; y <= bottom; y++) {
    let x = 0;
    while (x < left && !solid(x, y)) x++;
    left = Math.min(left, x);
    let r = width - 1;
    while (r > right && !solid(r, y)) r--;
    right = Math.max(right, r);
  }
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

// The trimmed product, ready to place. rotate(): EXIF auto-orient; an embedded ICC profile
// is converted to sRGB by default. TRIM 'alpha' (default, measured faster): decode once to raw
// RGBA and crop to alphaBox. TRIM 'builtin': .trim(), which runs libvips find_trim on the
// RGBA and again on the alpha, each pass decoding the PNG again (12.9 s against 3.2 s for
// the batch, measured with another job on the machine).
async function trimmed(input) {
  if (TRIM === 'builtin') return sharp(input).rotate().trim();
  const { data, info } = await sharp(input).rotate().ensureAlpha().raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } })
    .extract(alphaBox(data, info.width, info.height));
}

// Metadata is dropped by default, so the output is stripped.
async function canonical(input, outDir) {
  const name = path.parse(input).name;
  await place(await trimmed(input), 2000, 0.85, WHITE)
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 85, chromaSubsampling: '4:2:0', optimiseCoding: true, mozjpeg: false })
    .toFile(path.join(outDir, `${name}.jpg`));
}

// Three outputs from one decode: the oriented, sRGB, trimmed RGBA is kept as raw pixels and
// each output starts from them. (.clone() of a file input decodes the PNG once per output:
// 2.0 s against 1.5 s for three outputs of 8 files, measured.)
async function three(input, outDir) {
  const name = path.parse(input).name;
  const { data, info } = await (await trimmed(input)).raw().toBuffer({ resolveWithObject: true });
  const base = () => sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } });
  const dir = (spec) => path.join(outDir, spec, `${name}.${spec === 'mockup-input' ? 'png' : 'jpg'}`);
  await Promise.all([
    place(base(), 2000, 0.85, WHITE).flatten({ background: '#ffffff' })
      .jpeg({ quality: 90, chromaSubsampling: '4:4:4', optimiseCoding: true, mozjpeg: false })
      .toFile(dir('amazon-main')),
    place(base(), 2048, 0.85, WHITE).flatten({ background: '#ffffff' })
      .jpeg({ quality: 88, chromaSubsampling: '4:2:0', progressive: true, optimiseCoding: true, mozjpeg: false })
      .toFile(dir('shopify')),
    place(base(), 2000, 0.95, CLEAR).png().toFile(dir('mockup-input')),
  ]);
}

async function main() {
  const args = process.argv.slice(2);
  const isThree = args[0] === '--three';
  if (isThree) args.shift();
  const [inDir, outDir] = args;
  if (!inDir || !outDir) {
    console.error('usage: sharp.js [--three] <input-dir> <output-dir>');
    process.exit(64);
  }
  const inputs = fs.readdirSync(inDir).filter((f) => /\.png$/i.test(f)).sort()
    .map((f) => path.join(inDir, f));
  const dirs = isThree ? ['amazon-main', 'shopify', 'mockup-input'] : [''];
  for (const d of dirs) fs.mkdirSync(path.join(outDir, d), { recursive: true });
  const job = isThree ? three : canonical;
  // A small pool: INFLIGHT images at a time, each worker taking the next file when free.
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < inputs.length) {
      const input = inputs[next++];
      try {
        await job(input, outDir);
      } catch (e) {
        failed++;
        console.error(`${input}: ${e.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  process.exit(failed ? 1 : 0);
}

main();
