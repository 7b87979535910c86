import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CIFAR10_CLASS_NAMES, loadCifar10 } from '../src/data/index.js';
import { cifarBytes, tempDir, writeFile } from './fixtures/data-files.js';

const temp = tempDir('cifar');
afterAll(temp.cleanup);

// Pixel k of image i: the channel (k >> 10) in the high bits, so a plane mix-up shows.
const pixel = (i: number, k: number) => ((k >> 10) * 80 + i * 7 + (k & 1023)) & 255;

// Batch b holds two images with labels b, b+1 (test: 9, 0).
function writeCifarDir(name: string, overrides: Record<string, Uint8Array | string | null> = {}): string {
  const dir = join(temp.dir, name);
  const files: Record<string, Uint8Array | string | null> = {
    'batches.meta.txt': 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n',
    'test_batch.bin': cifarBytes([9, 0], (i, k) => pixel(i + 100, k)),
  };
  for (let b = 1; b <= 5; b++) files[`data_batch_${b}.bin`] = cifarBytes([b, b + 1], (i, k) => pixel(2 * b + i, k));
  Object.assign(files, overrides);
  for (const [file, bytes] of Object.entries(files)) if (bytes !== null) writeFile(join(dir, file), bytes);
  return dir;
}

describe('loadCifar10', () => {
  it('loads the batches in order, records already channel-major', async () => {
    const dir = writeCifarDir('good');
    const { train, test } = await loadCifar10(dir);
    expect(train).toMatchObject({ count: 10, channels: 3, height: 32, width: 32, numClasses: 10 });
    expect(Array.from(train.labels)).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    expect(Array.from(test.labels)).toEqual([9, 0]);
    expect(train.classNames).toEqual(CIFAR10_CLASS_NAMES);
    for (const i of [0, 3, 9]) {
      const image = train.images.subarray(i * 3072, (i + 1) * 3072);
      // Train image i is pixel(i + 2): batch 1 starts at image 2.
      expect(image[0]).toBe(pixel(i + 2, 0));
      expect(image[1024 + 5]).toBe(pixel(i + 2, 1024 + 5)); // green plane
      expect(image[3071]).toBe(pixel(i + 2, 3071));
    }
    expect(Array.from(test.images.subarray(3072, 3072 + 4))).toEqual([0, 1, 2, 3].map((k) => pixel(101, k)));
    expect(test.source).toBe(`cifar10:${dir} test`);
  });

  it('finds the batches in cifar-10-batches-bin and reads its class names', async () => {
    const names = 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n';
    writeCifarDir(join('archive', 'cifar-10-batches-bin'), { 'batches.meta.txt': names });
    const { train } = await loadCifar10(join(temp.dir, 'archive'));
    expect(train.classNames).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect(train.count).toBe(10);
  });

  it('uses the standard class names when batches.meta.txt is absent', async () => {
    const { test } = await loadCifar10(writeCifarDir('nometa', { 'batches.meta.txt': null }));
    expect(test.classNames[9]).toBe('truck');
  });

  it('names every missing batch', async () => {
    const dir = writeCifarDir('missing', { 'data_batch_3.bin': null, 'test_batch.bin': null });
    await expect(loadCifar10(dir)).rejects.toThrow(`cifar10: ${dir}: missing data_batch_3.bin, test_batch.bin`);
  });

  it('rejects a truncated batch, saying where the last whole record ends', async () => {
    const dir = writeCifarDir('truncated', { 'data_batch_2.bin': cifarBytes([1, 2], () => 0).subarray(0, 3073 + 100) });
    await expect(loadCifar10(dir)).rejects.toThrow(
      `cifar10: ${join(dir, 'data_batch_2.bin')}: 3173 bytes is not a whole number of 3073-byte records (1 label + 3x32x32 pixels): 1 records and 100 bytes left over from offset 3073`,
    );
  });

  it('rejects trailing bytes after the records', async () => {
    const long = new Uint8Array(2 * 3073 + 5);
    const dir = writeCifarDir('long', { 'test_batch.bin': long });
    await expect(loadCifar10(dir)).rejects.toThrow(/test_batch.bin: 6151 bytes .* 2 records and 5 bytes left over from offset 6146/);
  });

  it('rejects an empty batch', async () => {
    const dir = writeCifarDir('empty', { 'data_batch_5.bin': new Uint8Array(0) });
    await expect(loadCifar10(dir)).rejects.toThrow(/data_batch_5.bin: 0 bytes .*\(the file is empty\)/);
  });

  it('rejects a label of 10 or more with its record and byte offset', async () => {
    const dir = writeCifarDir('label', { 'data_batch_4.bin': cifarBytes([3, 12], () => 0) });
    await expect(loadCifar10(dir)).rejects.toThrow(
      `cifar10: ${join(dir, 'data_batch_4.bin')}: label 12 at index 1 (byte offset 3073) is outside 0..9`,
    );
  });

  it('rejects a class name file without ten names', async () => {
    const dir = writeCifarDir('meta', { 'batches.meta.txt': 'cat\ndog\n' });
    await expect(loadCifar10(dir)).rejects.toThrow(`cifar10: ${join(dir, 'batches.meta.txt')}: 2 class names, expected 10 (one per line)`);
  });
});
