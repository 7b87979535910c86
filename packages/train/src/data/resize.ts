// Bilinear resizing of 8-bit images, computed exactly as Pillow's Image.resize(size, BILINEAR)
// (Pillow's libImaging/Resample.c), which is also what torchvision's Resize does to PIL images.
//
// Each output pixel is a weighted mean of input pixels under a triangle ("tent") filter. When
// shrinking by a factor s > 1, the tent is widened to s pixels on each side, so every input pixel
// contributes (an area-style average, no aliasing); when enlarging it is plain bilinear
// interpolation. The two axes are resized one after the other (horizontal first), each pass
// rounding to 8 bits, with weights in 22-bit fixed point - the same integers Pillow uses, so the
// results match it byte for byte (tested against Pillow in test/data-resize.test.ts).

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** For each output index: the first input index, how many inputs, and their fixed-point weights. */
interface AxisCoefficients {
  first: Int32Array;
  count: Int32Array;
  /** outSize x taps, row `o` holding the weights of output `o`. */
  weights: Float64Array;
  taps: number;
}

const cache = new Map<string, AxisCoefficients>();

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1).
function axisCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const key = `${inSize}>${outSize}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  const tent = (x: number): number => Math.max(0, 1 - Math.abs(x));
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // (int) casts in C truncate toward zero: Math.trunc, not Math.floor.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    for (let i = lo; i < hi; i++) total += tent((i - center + 0.5) / filterScale);
    for (let i = lo; i < hi; i++) {
      const w = total === 0 ? 0 : tent((i - center + 0.5) / filterScale) / total;
      weights[o * taps + i - lo] = Math.trunc(w * ONE + (w < 0 ? -0.5 : 0.5));
    }
    first[o] = lo;
    count[o] = hi - lo;
  }
  const coefficients = { first, count, weights, taps };
  cache.set(key, coefficients);
  return coefficients;
}

// Pillow's clip8: the accumulator started at ONE/2, so the shift rounds to nearest.
function clip8(sum: number): number {
  if (sum <= 0) return 0;
  if (sum >= 256 * ONE) return 255;
  return Math.floor(sum / ONE);
}

/**
 * Resizes one channel plane `src` (inHeight x inWidth) into `dst` (outHeight x outWidth).
 * `scratch`, if given, holds the intermediate inHeight x outWidth plane (else it is allocated).
 */
export function resizePlane(
  src: Uint8Array,
  inHeight: number,
  inWidth: number,
  dst: Uint8Array,
  outHeight: number,
  outWidth: number,
  scratch?: Uint8Array,
): void {
  if (src.length < inHeight * inWidth || dst.length < outHeight * outWidth) {
    throw new Error(
      `resizePlane: ${inHeight}x${inWidth} -> ${outHeight}x${outWidth} needs ${inHeight * inWidth} source and ` +
        `${outHeight * outWidth} destination bytes, got ${src.length} and ${dst.length}`,
    );
  }
  // Like Pillow, skip a pass whose size does not change (it would copy the pixels unchanged).
  let rows = src;
  if (outWidth !== inWidth) {
    rows = scratch && scratch.length >= inHeight * outWidth ? scratch : new Uint8Array(inHeight * outWidth);
    const { first, count, weights, taps } = axisCoefficients(inWidth, outWidth);
    for (let y = 0; y < inHeight; y++) {
      const inRow = y * inWidth;
      for (let x = 0; x < outWidth; x++) {
        let sum = ONE / 2;
        const start = inRow + first[x]!;
        for (let k = 0, n = count[x]!, w = x * taps; k < n; k++) sum += src[start + k]! * weights[w + k]!;
        rows[y * outWidth + x] = clip8(sum);
      }
    }
  }
  if (outHeight !== inHeight) {
    const { first, count, weights, taps } = axisCoefficients(inHeight, outHeight);
    for (let y = 0; y < outHeight; y++) {
      const start = first[y]!;
      const n = count[y]!;
      for (let x = 0; x < outWidth; x++) {
        let sum = ONE / 2;
        for (let k = 0; k < n; k++) sum += rows[(start + k) * outWidth + x]! * weights[y * taps + k]!;
        dst[y * outWidth + x] = clip8(sum);
      }
    }
  } else if (rows !== dst) {
    dst.set(rows.subarray(0, outHeight * outWidth));
  }
}
