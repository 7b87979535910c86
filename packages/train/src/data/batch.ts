// From stored bytes to what a model eats: a B x C x H x W Float32Array, normalized per channel.
import type { ImageDataset, Normalization } from './types.js';

/** Mean and std of the MNIST training set (the usual 0.1307 / 0.3081), on pixels rescaled to [0, 1]. */
export const MNIST_NORMALIZATION: Normalization = { mean: [0.1307], std: [0.3081], rescale: 1 / 255 };

/** Hugging Face ViTImageProcessor's defaults: [0, 1] mapped to [-1, 1] in every channel. */
export function imageNetHalfNormalization(channels: number): Normalization {
  return { mean: new Array<number>(channels).fill(0.5), std: new Array<number>(channels).fill(0.5), rescale: 1 / 255 };
}

const numberOrList = (v: unknown, channels: number, key: string): number[] | undefined => {
  if (v === undefined || v === null) return undefined;
  const list = typeof v === 'number' ? new Array<number>(channels).fill(v) : v;
  if (!Array.isArray(list) || list.length !== channels || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error(`preprocessor_config.json: "${key}" is ${JSON.stringify(v)}, expected a number or ${channels} numbers (one per channel)`);
  }
  return list as number[];
};

/**
 * Reads the normalization from a parsed Hugging Face `preprocessor_config.json`: `image_mean`,
 * `image_std`, `rescale_factor`, `do_rescale`, `do_normalize`, with ViTImageProcessor's defaults
 * (rescale 1/255, mean = std = 0.5) for the keys it lacks. `do_normalize: false` gives mean 0,
 * std 1; `do_rescale: false` gives rescale 1.
 */
export function normalizationFromPreprocessorConfig(config: Record<string, unknown>, channels: number): Normalization {
  const doRescale = config['do_rescale'] !== false;
  const doNormalize = config['do_normalize'] !== false;
  const rescaleFactor = config['rescale_factor'] ?? 1 / 255;
  if (typeof rescaleFactor !== 'number' || !Number.isFinite(rescaleFactor)) {
    throw new Error(`preprocessor_config.json: "rescale_factor" is ${JSON.stringify(rescaleFactor)}, expected a number`);
  }
  if (!doNormalize) return { mean: new Array<number>(channels).fill(0), std: new Array<number>(channels).fill(1), rescale: doRescale ? rescaleFactor : 1 };
  const mean = numberOrList(config['image_mean'], channels, 'image_mean') ?? new Array<number>(channels).fill(0.5);
  const std = numberOrList(config['image_std'], channels, 'image_std') ?? new Array<number>(channels).fill(0.5);
  if (std.some((s) => s === 0)) throw new Error(`preprocessor_config.json: "image_std" ${JSON.stringify(std)} has a zero`);
  return { mean, std, rescale: doRescale ? rescaleFactor : 1 };
}

// One 256-entry table per channel: normalizing a byte is then a lookup, each entry computed in
// double precision and rounded once, so it is both exact and fast (and 256 x C entries cost less
// to build than one image to normalize).
function normalizationTable(norm: Normalization, channels: number): Float32Array {
  if (norm.mean.length !== channels || norm.std.length !== channels) {
    throw new Error(`makeBatch: normalization has ${norm.mean.length} means and ${norm.std.length} stds for ${channels}-channel images`);
  }
  const table = new Float32Array(256 * channels);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v * norm.rescale - norm.mean[c]!) / norm.std[c]!;
  }
  return table;
}

export interface MakeBatchOptions {
  /** Where to write the B x C x H x W floats (reused between batches); allocated if absent. */
  out?: Float32Array;
  /**
   * Applied to each image before normalization (uint8 C x H x W in, uint8 C x H x W out, `dst`
   * never aliasing `src`), e.g. an augmentation from augment.ts bound to a seeded generator.
   */
  augment?: (src: Uint8Array, dst: Uint8Array) => void;
}

/**
 * Gathers images `indices` of `ds` into a normalized float batch, `images[b, c, y, x] =
 * (ds pixel * rescale - mean[c]) / std[c]`, and their labels. `options.out` may be longer than
 * needed (a last, smaller batch); `images` is then its first B x C x H x W entries.
 */
export function makeBatch(
  ds: ImageDataset,
  indices: Int32Array | number[],
  norm: Normalization,
  options: MakeBatchOptions = {},
): { images: Float32Array; labels: Int32Array } {
  const { channels, height, width } = ds;
  const plane = height * width;
  const size = channels * plane;
  const batch = indices.length;
  if (options.out && options.out.length < batch * size) {
    throw new Error(`makeBatch: out holds ${options.out.length} floats, a batch of ${batch} x ${channels}x${height}x${width} needs ${batch * size}`);
  }
  const images = options.out ? options.out.subarray(0, batch * size) : new Float32Array(batch * size);
  const labels = new Int32Array(batch);
  const table = normalizationTable(norm, channels);
  const augmented = options.augment ? new Uint8Array(size) : undefined;
  for (let b = 0; b < batch; b++) {
    const i = indices[b]!;
    if (!(i >= 0 && i < ds.count)) throw new Error(`makeBatch: index ${i} at batch position ${b} is outside 0..${ds.count - 1} (${ds.source})`);
    let pixels = ds.images.subarray(i * size, (i + 1) * size);
    if (augmented) {
      options.augment!(pixels, augmented);
      pixels = augmented;
    }
    const base = b * size;
    for (let c = 0; c < channels; c++) {
      const t = c * 256;
      const start = c * plane;
      for (let p = start; p < start + plane; p++) images[base + p] = table[t + pixels[p]!]!;
    }
    labels[b] = ds.labels[i]!;
  }
  return { images, labels };
}
