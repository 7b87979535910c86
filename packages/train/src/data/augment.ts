// Seeded data augmentation on one image: uint8 C x H x W in, uint8 C x H x W out.
//
// Every random choice comes from `random` (uniform in [0, 1), the trainer's seeded generator), so
// a seed repeats the same augmented images. Geometric ops write `src` into a distinct `dst`;
// photometric ops change an image in place. None allocates per pixel.
//
// Which ops make sense is the trainer's call: a flipped digit is not a digit, so MNIST gets crops
// (and RandAugment-lite) but no flips; CIFAR-10 gets crops and flips.
import type { ImageShape } from './types.js';

function checkBuffers(what: string, shape: ImageShape, ...images: Uint8Array[]): void {
  const size = shape.channels * shape.height * shape.width;
  for (const img of images) {
    if (img.length !== size) {
      throw new Error(`${what}: image holds ${img.length} bytes, a ${shape.channels}x${shape.height}x${shape.width} image has ${size}`);
    }
  }
}

// Geometric ops read pixels after writing others: src and dst must not share memory.
function checkNoAlias(what: string, src: Uint8Array, dst: Uint8Array): void {
  if (
    src.buffer === dst.buffer &&
    src.byteOffset < dst.byteOffset + dst.byteLength &&
    dst.byteOffset < src.byteOffset + src.byteLength
  ) {
    throw new Error(`${what}: src and dst share memory; give a separate dst`);
  }
}

/** Shifts the image by (dx, dy) whole pixels (right and down positive), filling with 0. */
export function translate(src: Uint8Array, dst: Uint8Array, shape: ImageShape, dx: number, dy: number): void {
  checkBuffers('translate', shape, src, dst);
  checkNoAlias('translate', src, dst);
  const { channels, height, width } = shape;
  dst.fill(0);
  // The overlap of the shifted image with the frame, as ranges of destination rows and columns.
  const x0 = Math.max(0, dx);
  const x1 = Math.min(width, width + dx);
  const y0 = Math.max(0, dy);
  const y1 = Math.min(height, height + dy);
  if (x0 >= x1 || y0 >= y1) return;
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    for (let y = y0; y < y1; y++) {
      const from = plane + (y - dy) * width + (x0 - dx);
      dst.set(src.subarray(from, from + (x1 - x0)), plane + y * width + x0);
    }
  }
}

/**
 * torchvision's RandomCrop(size, padding=pad): pad every side with `pad` zero pixels, then cut a
 * window of the original size at a uniformly random position; that is, a random shift by
 * -pad..pad pixels on each axis.
 */
export function randomCropWithPadding(src: Uint8Array, dst: Uint8Array, shape: ImageShape, pad: number, random: () => number): void {
  const dx = pad - Math.floor(random() * (2 * pad + 1));
  const dy = pad - Math.floor(random() * (2 * pad + 1));
  translate(src, dst, shape, dx, dy);
}

/** Mirrors the image left to right. */
export function horizontalFlip(src: Uint8Array, dst: Uint8Array, shape: ImageShape): void {
  checkBuffers('horizontalFlip', shape, src, dst);
  checkNoAlias('horizontalFlip', src, dst);
  const { channels, height, width } = shape;
  for (let row = 0; row < channels * height; row++) {
    const start = row * width;
    for (let x = 0; x < width; x++) dst[start + x] = src[start + width - 1 - x]!;
  }
}

/** Mirrors the image with probability `p` (default 0.5), else copies it. */
export function randomHorizontalFlip(src: Uint8Array, dst: Uint8Array, shape: ImageShape, random: () => number, p = 0.5): void {
  if (random() < p) horizontalFlip(src, dst, shape);
  else {
    checkBuffers('randomHorizontalFlip', shape, src, dst);
    dst.set(src);
  }
}

/**
 * Rotates the image by `degrees` counterclockwise (as Pillow's Image.rotate) about its center,
 * sampling bilinearly; pixels that come from outside the frame are 0.
 */
export function rotate(src: Uint8Array, dst: Uint8Array, shape: ImageShape, degrees: number): void {
  checkBuffers('rotate', shape, src, dst);
  checkNoAlias('rotate', src, dst);
  const { channels, height, width } = shape;
  const angle = (degrees * Math.PI) / 180;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const cx = width / 2;
  const cy = height / 2;
  // Inverse mapping: for each destination pixel center, the source point that lands on it. In
  // image coordinates (y down) a counterclockwise turn by t sends (u, v) to (u cos + v sin,
  // -u sin + v cos), so the source of (u, v) is (u cos - v sin, u sin + v cos).
  for (let y = 0; y < height; y++) {
    const v = y + 0.5 - cy;
    for (let x = 0; x < width; x++) {
      const u = x + 0.5 - cx;
      const sx = u * cos - v * sin + cx - 0.5;
      const sy = u * sin + v * cos + cy - 0.5;
      const fx = Math.floor(sx);
      const fy = Math.floor(sy);
      const ax = sx - fx;
      const ay = sy - fy;
      // The four neighbours' weights; one outside the frame contributes 0.
      const in00 = fx >= 0 && fx < width && fy >= 0 && fy < height;
      const in10 = fx + 1 >= 0 && fx + 1 < width && fy >= 0 && fy < height;
      const in01 = fx >= 0 && fx < width && fy + 1 >= 0 && fy + 1 < height;
      const in11 = fx + 1 >= 0 && fx + 1 < width && fy + 1 >= 0 && fy + 1 < height;
      for (let c = 0; c < channels; c++) {
        const plane = c * height * width;
        const at = plane + fy * width + fx;
        const value =
          (in00 ? src[at]! * (1 - ax) * (1 - ay) : 0) +
          (in10 ? src[at + 1]! * ax * (1 - ay) : 0) +
          (in01 ? src[at + width]! * (1 - ax) * ay : 0) +
          (in11 ? src[at + width + 1]! * ax * ay : 0);
        dst[plane + y * width + x] = Math.round(value);
      }
    }
  }
}

/** Pillow's ImageEnhance.Brightness, in place: every pixel times `factor`, rounded and clipped. */
export function adjustBrightness(img: Uint8Array, factor: number): void {
  for (let i = 0; i < img.length; i++) img[i] = Math.min(255, Math.round(img[i]! * factor));
}

/**
 * Pillow's ImageEnhance.Contrast, in place: pixels pulled toward (factor < 1) or pushed away from
 * (factor > 1) the image's mean gray level (the mean luma for RGB), rounded and clipped.
 */
export function adjustContrast(img: Uint8Array, shape: ImageShape, factor: number): void {
  checkBuffers('adjustContrast', shape, img);
  const plane = shape.height * shape.width;
  let sum = 0;
  if (shape.channels === 3) {
    for (let p = 0; p < plane; p++) sum += 0.299 * img[p]! + 0.587 * img[plane + p]! + 0.114 * img[2 * plane + p]!;
  } else {
    for (let p = 0; p < img.length; p++) sum += img[p]!;
  }
  const mean = Math.round(sum / (shape.channels === 3 ? plane : img.length));
  for (let i = 0; i < img.length; i++) {
    img[i] = Math.min(255, Math.max(0, Math.round(mean + factor * (img[i]! - mean))));
  }
}

/** Cutout (DeVries and Taylor 2017), in place: zeroes a size x size square centred at (cx, cy), clipped to the frame. */
export function cutout(img: Uint8Array, shape: ImageShape, cx: number, cy: number, size: number): void {
  checkBuffers('cutout', shape, img);
  const { channels, height, width } = shape;
  const x0 = Math.max(0, cx - Math.floor(size / 2));
  const x1 = Math.min(width, cx - Math.floor(size / 2) + size);
  const y0 = Math.max(0, cy - Math.floor(size / 2));
  const y1 = Math.min(height, cy - Math.floor(size / 2) + size);
  if (x0 >= x1) return;
  for (let c = 0; c < channels; c++) {
    for (let y = y0; y < y1; y++) img.fill(0, c * height * width + y * width + x0, c * height * width + y * width + x1);
  }
}

/**
 * How far each RandAugment-lite op goes at full magnitude (10). At magnitude m an op goes m/10 of
 * this, in a random direction. Milder than timm's (translate 45%) so that small digit images
 * survive: a 28x28 MNIST digit at magnitude 9 moves at most 6 pixels.
 */
export const RAND_AUGMENT_LIMITS = {
  /** Shift, as a fraction of the image side. */
  translate: 0.25,
  /** Rotation in degrees. */
  rotate: 30,
  /** Brightness factor 1 +- this. */
  brightness: 0.9,
  /** Contrast factor 1 +- this. */
  contrast: 0.9,
  /** Side of the cut-out square, as a fraction of the shorter image side. */
  cutout: 0.4,
} as const;

export type RandAugmentOp = keyof typeof RAND_AUGMENT_LIMITS;

export interface RandAugmentOptions {
  /** Strength 0..10, as in the RandAugment paper (Cubuk et al. 2019); timm's "m9" is 9. */
  magnitude: number;
  /** Ops applied to each image, each picked uniformly with replacement (default 2). */
  numOps?: number;
  /** The ops to pick from (default all five). */
  ops?: readonly RandAugmentOp[];
}

const ALL_OPS = Object.keys(RAND_AUGMENT_LIMITS) as RandAugmentOp[];

/**
 * RandAugment-lite: applies `numOps` ops drawn at random from translate, rotate, brightness,
 * contrast and cutout, each at `magnitude`, writing the result to `dst`. `scratch` (an image-sized
 * buffer) avoids one allocation per call for the geometric ops.
 */
export function randAugmentLite(
  src: Uint8Array,
  dst: Uint8Array,
  shape: ImageShape,
  options: RandAugmentOptions,
  random: () => number,
  scratch?: Uint8Array,
): void {
  const { magnitude, numOps = 2, ops = ALL_OPS } = options;
  if (!(magnitude >= 0 && magnitude <= 10)) throw new Error(`randAugmentLite: magnitude ${magnitude} is outside 0..10`);
  if (ops.length === 0) throw new Error('randAugmentLite: no ops to pick from');
  checkBuffers('randAugmentLite', shape, src, dst);
  checkNoAlias('randAugmentLite', src, dst);
  const level = magnitude / 10;
  const { height, width } = shape;
  dst.set(src);
  let buffer = scratch;
  for (let k = 0; k < numOps; k++) {
    const op = ops[Math.floor(random() * ops.length)]!;
    const sign = random() < 0.5 ? -1 : 1;
    const amount = level * RAND_AUGMENT_LIMITS[op];
    if (op === 'translate' || op === 'rotate') {
      buffer ??= new Uint8Array(dst.length);
      if (op === 'rotate') rotate(dst, buffer, shape, sign * amount);
      else if (random() < 0.5) translate(dst, buffer, shape, sign * Math.round(amount * width), 0);
      else translate(dst, buffer, shape, 0, sign * Math.round(amount * height));
      dst.set(buffer);
    } else if (op === 'brightness') {
      adjustBrightness(dst, 1 + sign * amount);
    } else if (op === 'contrast') {
      adjustContrast(dst, shape, 1 + sign * amount);
    } else {
      const size = Math.round(amount * Math.min(height, width));
      cutout(dst, shape, Math.floor(random() * width), Math.floor(random() * height), size);
    }
  }
}
