// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html, "CIFAR-10 binary version").
//
// Each batch file is a run of 3073-byte records: 1 label byte (0..9), then 3072 pixel bytes, the
// 32x32 red plane, then green, then blue, each row-major. That is already C x H x W, so a record's
// pixels copy straight into the dataset.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, readMaybeGzip } from './files.js';
import { checkLabelRange } from './labels.js';
import type { DatasetSplits, ImageDataset } from './types.js';

const SIDE = 32;
const PIXELS = 3 * SIDE * SIDE;
const RECORD = 1 + PIXELS;
const NUM_CLASSES = 10;

/** The class names in batches.meta.txt of the official archive, used when that file is absent. */
export const CIFAR10_CLASS_NAMES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILE = 'test_batch.bin';

// Splits one batch file into labels and pixels, checking its length and labels.
function parseBatch(bytes: Uint8Array, file: string): { labels: Int32Array; images: Uint8Array } {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    const whole = Math.floor(bytes.length / RECORD);
    throw new Error(
      `cifar10: ${file}: ${bytes.length} bytes is not a whole number of ${RECORD}-byte records ` +
        `(1 label + 3x32x32 pixels): ${whole} records and ${bytes.length - whole * RECORD} bytes left over ` +
        `from offset ${whole * RECORD}` + (bytes.length === 0 ? ' (the file is empty)' : ''),
    );
  }
  const count = bytes.length / RECORD;
  const labels = new Int32Array(count);
  const images = new Uint8Array(count * PIXELS);
  for (let i = 0; i < count; i++) {
    labels[i] = bytes[i * RECORD]!;
    images.set(bytes.subarray(i * RECORD + 1, (i + 1) * RECORD), i * PIXELS);
  }
  checkLabelRange(labels, NUM_CLASSES, `cifar10: ${file}`, (i) => `byte offset ${i * RECORD}`);
  return { labels, images };
}

// batches.meta.txt: one class name per line (the official file ends with blank lines).
async function readClassNames(dir: string): Promise<string[]> {
  const path = join(dir, 'batches.meta.txt');
  if (!(await exists(path))) return CIFAR10_CLASS_NAMES;
  const names = (await readFile(path, 'utf8'))
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (names.length !== NUM_CLASSES) {
    throw new Error(`cifar10: ${path}: ${names.length} class names, expected ${NUM_CLASSES} (one per line)`);
  }
  return names;
}

/**
 * Loads CIFAR-10 from `dir` (or from `dir/cifar-10-batches-bin`, where the official archive
 * unpacks): train = data_batch_1..5.bin in order, test = test_batch.bin, class names from
 * batches.meta.txt (the standard ten if it is missing). Images are 3 x 32 x 32 bytes.
 * Batches may hold any whole number of records (the official ones hold 10000 each).
 */
export async function loadCifar10(dir: string): Promise<DatasetSplits> {
  if (!(await exists(join(dir, TRAIN_FILES[0]!))) && (await exists(join(dir, 'cifar-10-batches-bin')))) {
    dir = join(dir, 'cifar-10-batches-bin');
  }
  const required = [...TRAIN_FILES, TEST_FILE];
  const present = await Promise.all(required.map((f) => exists(join(dir, f))));
  const absent = required.filter((_, i) => !present[i]);
  if (absent.length > 0) throw new Error(`cifar10: ${dir}: missing ${absent.join(', ')}`);

  const classNames = await readClassNames(dir);
  const load = async (files: string[], split: string): Promise<ImageDataset> => {
    const batches = [];
    for (const f of files) {
      const path = join(dir, f);
      batches.push(parseBatch(await readMaybeGzip(path, 'cifar10'), path));
    }
    const count = batches.reduce((n, b) => n + b.labels.length, 0);
    const images = new Uint8Array(count * PIXELS);
    const labels = new Int32Array(count);
    let at = 0;
    for (const b of batches) {
      images.set(b.images, at * PIXELS);
      labels.set(b.labels, at);
      at += b.labels.length;
    }
    return {
      images, labels, count, channels: 3, height: SIDE, width: SIDE,
      numClasses: NUM_CLASSES, classNames, source: `cifar10:${dir} ${split}`,
    };
  };
  return { train: await load(TRAIN_FILES, 'train'), test: await load([TEST_FILE], 'test') };
}
