// Datasets for @bitvit/train: loaders (MNIST, IDX, CIFAR-10, PNG folders), splits, batches, augmentation.
export type { DatasetSplits, ImageDataset, ImageShape, Normalization } from './types.js';
export { parseDataSpec, loadDataset } from './spec.js';
export type { DataSpec, LoadDatasetOptions } from './spec.js';
export { loadIdxImages, loadIdxLabels, loadIdxDir, loadMnist } from './idx.js';
export type { IdxDirOptions } from './idx.js';
export { loadCifar10, CIFAR10_CLASS_NAMES } from './cifar10.js';
export { loadImageFolder } from './folder.js';
export { decodePngImage } from './png.js';
export type { DecodedImage } from './png.js';
export { resizePlane } from './resize.js';
export { convertChannels, convertImage, convertDataset } from './convert.js';
export { shuffleInPlace, permutation, subset, trainValSplit } from './split.js';
export { makeBatch, normalizationFromPreprocessorConfig, MNIST_NORMALIZATION, imageNetHalfNormalization } from './batch.js';
export type { MakeBatchOptions } from './batch.js';
export {
  translate, randomCropWithPadding, horizontalFlip, randomHorizontalFlip, rotate,
  adjustBrightness, adjustContrast, cutout, randAugmentLite, RAND_AUGMENT_LIMITS,
} from './augment.js';
export type { RandAugmentOp, RandAugmentOptions } from './augment.js';
