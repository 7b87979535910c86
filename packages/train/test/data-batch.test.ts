import { describe, expect, it } from 'vitest';
import {
  MNIST_NORMALIZATION, imageNetHalfNormalization, makeBatch, normalizationFromPreprocessorConfig,
  permutation, shuffleInPlace, subset, trainValSplit,
} from '../src/data/index.js';
import type { ImageDataset } from '../src/data/index.js';
import { seededRandom } from './fixtures/data-files.js';

// 10 images of 2 x 1 x 2 pixels: image i holds [i, 10 + i, 20 + i, 30 + i]; label i % 3.
function toy(count = 10): ImageDataset {
  const images = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) images.set([i, 10 + i, 20 + i, 30 + i], i * 4);
  return {
    images, labels: Int32Array.from({ length: count }, (_, i) => i % 3),
    count, channels: 2, height: 1, width: 2, numClasses: 3, classNames: ['a', 'b', 'c'], source: 'toy',
  };
}

describe('makeBatch', () => {
  const norm = { mean: [0.5, 0.25], std: [0.5, 2], rescale: 1 / 255 };
  const expected = (v: number, c: number) => Math.fround((v / 255 - norm.mean[c]!) / norm.std[c]!);

  it('gathers the images in index order and normalizes each channel', () => {
    const { images, labels } = makeBatch(toy(), [7, 2], norm);
    expect(Array.from(labels)).toEqual([1, 2]);
    expect(Array.from(images)).toEqual([
      expected(7, 0), expected(17, 0), expected(27, 1), expected(37, 1),
      expected(2, 0), expected(12, 0), expected(22, 1), expected(32, 1),
    ]);
  });

  it('writes into a reused buffer and returns a view of the needed length', () => {
    const out = new Float32Array(3 * 4).fill(99);
    const { images } = makeBatch(toy(), Int32Array.from([4]), norm, { out });
    expect(images.buffer).toBe(out.buffer);
    expect(images.length).toBe(4);
    expect(images[0]).toBe(expected(4, 0));
    expect(out[4]).toBe(99);
    expect(() => makeBatch(toy(), [1, 2, 3, 4], norm, { out })).toThrow(
      'makeBatch: out holds 12 floats, a batch of 4 x 2x1x2 needs 16',
    );
  });

  it('applies an augmentation to each image before normalizing, leaving the dataset alone', () => {
    const ds = toy();
    const reverse = (src: Uint8Array, dst: Uint8Array) => {
      for (let k = 0; k < src.length; k++) dst[k] = src[src.length - 1 - k]!;
    };
    const { images } = makeBatch(ds, [1], norm, { augment: reverse });
    expect(Array.from(images)).toEqual([expected(31, 0), expected(21, 0), expected(11, 1), expected(1, 1)]);
    expect(Array.from(ds.images.subarray(4, 8))).toEqual([1, 11, 21, 31]);
  });

  it('rejects an index out of range and a normalization for other channels', () => {
    expect(() => makeBatch(toy(), [0, 10], norm)).toThrow('makeBatch: index 10 at batch position 1 is outside 0..9 (toy)');
    expect(() => makeBatch(toy(), [0], MNIST_NORMALIZATION)).toThrow(
      'makeBatch: normalization has 1 means and 1 stds for 2-channel images',
    );
  });
});

describe('normalizationFromPreprocessorConfig', () => {
  it('reads image_mean, image_std and rescale_factor', () => {
    const config = { image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], rescale_factor: 0.00392156862745098 };
    expect(normalizationFromPreprocessorConfig(config, 3)).toEqual({
      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], rescale: 0.00392156862745098,
    });
  });

  it("uses ViTImageProcessor's defaults, single numbers and the do_ switches", () => {
    expect(normalizationFromPreprocessorConfig({}, 1)).toEqual(imageNetHalfNormalization(1));
    expect(normalizationFromPreprocessorConfig({ image_mean: 0.1307, image_std: 0.3081 }, 1)).toEqual(MNIST_NORMALIZATION);
    expect(normalizationFromPreprocessorConfig({ do_normalize: false, do_rescale: false, image_mean: [9] }, 2)).toEqual({
      mean: [0, 0], std: [1, 1], rescale: 1,
    });
  });

  it('rejects means for the wrong channel count, a zero std and a bad rescale factor', () => {
    expect(() => normalizationFromPreprocessorConfig({ image_mean: [0.5, 0.5, 0.5] }, 1)).toThrow(
      'preprocessor_config.json: "image_mean" is [0.5,0.5,0.5], expected a number or 1 numbers (one per channel)',
    );
    expect(() => normalizationFromPreprocessorConfig({ image_std: [0] }, 1)).toThrow('"image_std" [0] has a zero');
    expect(() => normalizationFromPreprocessorConfig({ rescale_factor: '1/255' }, 1)).toThrow(
      'preprocessor_config.json: "rescale_factor" is "1/255", expected a number',
    );
  });
});

describe('shuffling and splits', () => {
  it('permutation is a seeded permutation', () => {
    const a = permutation(100, seededRandom(1));
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(permutation(100, seededRandom(1)))).toEqual(Array.from(a));
    expect(Array.from(permutation(100, seededRandom(2)))).not.toEqual(Array.from(a));
  });

  it('shuffleInPlace draws every order of three equally often', () => {
    const random = seededRandom(3);
    const counts = new Map<string, number>();
    for (let t = 0; t < 6000; t++) {
      const key = shuffleInPlace([0, 1, 2], random).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(120);
  });

  it('trainValSplit holds out a seeded, disjoint share, each part in the original order', () => {
    const ds = toy();
    const { train, val } = trainValSplit(ds, 0.3, seededRandom(7));
    expect(val.count).toBe(3);
    expect(train.count).toBe(7);
    const ids = (d: ImageDataset) => Array.from({ length: d.count }, (_, k) => d.images[k * 4]!);
    const all = [...ids(train), ...ids(val)].sort((a, b) => a - b);
    expect(all).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids(val)).toEqual([...ids(val)].sort((a, b) => a - b));
    for (const d of [train, val]) {
      for (let k = 0; k < d.count; k++) expect(d.labels[k]).toBe(ids(d)[k]! % 3);
    }
    const again = trainValSplit(ds, 0.3, seededRandom(7));
    expect(ids(again.val)).toEqual(ids(val));
    expect(val.source).toBe('toy held-out 3');
    expect(trainValSplit(ds, 0, seededRandom(7)).train.count).toBe(10);
    expect(() => trainValSplit(ds, 1, seededRandom(7))).toThrow('trainValSplit: valFraction 1 is outside [0, 1)');
  });

  it('subset copies the chosen images and checks indices', () => {
    const s = subset(toy(), [9, 0], 'picked');
    expect(Array.from(s.images)).toEqual([9, 19, 29, 39, 0, 10, 20, 30]);
    expect(Array.from(s.labels)).toEqual([0, 0]);
    expect(() => subset(toy(), [10], 'x')).toThrow('subset: index 10 at position 0 is outside 0..9 (toy)');
  });
});
