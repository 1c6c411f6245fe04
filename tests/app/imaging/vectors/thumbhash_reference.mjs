// Regenerates thumbhash_vectors.json with the reference encoder (npm package `thumbhash` 0.1.1,
// Evan Wallace's own implementation):  npm install thumbhash@0.1.1 && node thumbhash_reference.mjs
// The images are defined by the same integer formulas in tests/app/imaging/test_thumbhash.py.
import { rgbaToThumbHash } from "thumbhash";
import { writeFileSync } from "node:fs";

const images = {
  gradient_opaque_32x24: [32, 24, (x, y) => [(x * 8) & 255, (y * 10) & 255, ((x + y) * 4) & 255, 255]],
  transparent_2to1_40x20: [40, 20, (x, y) => [200, (x * 6) & 255, 50, (x * 12 + y) & 255]],
  stripes_portrait_20x50: [20, 50, (x, y) => [Math.floor(y / 5) % 2 ? 255 : 0, 128, (x * 12) & 255, 255]],
  half_transparent_50x50: [50, 50, (x, y) => [(y * 5) & 255, (x * 5) & 255, 90, x < 25 ? 0 : 255]],
  single_pixel_1x1: [1, 1, () => [12, 34, 56, 255]],
  wide_alpha_100x25: [100, 25, (x, y) => [(x * 2) & 255, (y * 9) & 255, ((x * y) >> 2) & 255, (x + y * 3) & 255]],
};

const out = {};
for (const [name, [w, h, pixel]] of Object.entries(images)) {
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) rgba.set(pixel(x, y), (y * w + x) * 4);
  out[name] = Buffer.from(rgbaToThumbHash(w, h, rgba)).toString("hex");
}
writeFileSync("thumbhash_vectors.json", JSON.stringify(out, null, 2) + "\n");
