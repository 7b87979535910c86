import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { convertChannels, convertDataset, convertImage, resizePlane } from '../src/data/index.js';
import type { ImageDataset } from '../src/data/index.js';

// Made by fixtures/make_data_ref.py with Pillow.
interface Ref {
  pillow: string;
  resize: { inHeight: number; inWidth: number; outHeight: number; outWidth: number; src: number[]; dst: number[] }[];
  luma: { height: number; width: number; chw: number[]; gray: number[] };
}
const ref = JSON.parse(readFileSync(new URL('./fixtures/data_ref.json', import.meta.url), 'utf8')) as Ref;

describe('resizePlane', () => {
  for (const c of ref.resize) {
    it(`matches Pillow's BILINEAR resize ${c.inHeight}x${c.inWidth} -> ${c.outHeight}x${c.outWidth} byte for byte`, () => {
      const dst = new Uint8Array(c.outHeight * c.outWidth);
      resizePlane(Uint8Array.from(c.src), c.inHeight, c.inWidth, dst, c.outHeight, c.outWidth);
      expect(Array.from(dst)).toEqual(c.dst);
    });
  }

  it('lets every input pixel count when shrinking (area-style), unlike point-sampled bilinear', () => {
    // A lone bright corner pixel of an 8x8 image shrunk to 2x2. Plain bilinear would sample
    // between pixels 1 and 2 of each axis and miss it; the widened tent gives it weight
    // 0.625 / 3.5 per axis: 255 -> 46 after the horizontal pass -> 8 after the vertical one.
    const src = new Uint8Array(64);
    src[0] = 255;
    const dst = new Uint8Array(4);
    resizePlane(src, 8, 8, dst, 2, 2);
    expect(Array.from(dst)).toEqual([8, 0, 0, 0]);
  });

  it('leaves a same-size plane unchanged and rejects short buffers', () => {
    const src = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const dst = new Uint8Array(6);
    resizePlane(src, 2, 3, dst, 2, 3);
    expect(Array.from(dst)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => resizePlane(src, 2, 3, new Uint8Array(3), 2, 2)).toThrow(
      'resizePlane: 2x3 -> 2x2 needs 6 source and 4 destination bytes, got 6 and 3',
    );
  });
});

describe('channel conversion', () => {
  it("matches Pillow's convert('L') for RGB to gray", () => {
    const plane = ref.luma.height * ref.luma.width;
    const gray = new Uint8Array(plane);
    convertChannels(Uint8Array.from(ref.luma.chw), 3, gray, 1, plane);
    expect(Array.from(gray)).toEqual(ref.luma.gray);
  });

  it('repeats gray into three planes', () => {
    const rgb = new Uint8Array(6);
    convertChannels(Uint8Array.from([7, 9]), 1, rgb, 3, 2);
    expect(Array.from(rgb)).toEqual([7, 9, 7, 9, 7, 9]);
    expect(() => convertChannels(new Uint8Array(4), 2, new Uint8Array(4), 1, 2)).toThrow('convertChannels: cannot convert 2 channels to 1');
  });

  it('converts an image\'s channels and size', () => {
    const src = Uint8Array.from([10, 10, 10, 10, 20, 20, 20, 20]); // 1 x 2 x 4
    const dst = new Uint8Array(3 * 2);
    convertImage(src, { channels: 1, height: 2, width: 4 }, dst, { channels: 3, height: 2, width: 1 });
    expect(Array.from(dst)).toEqual([10, 20, 10, 20, 10, 20]);
  });

  it('converts a whole dataset and says so in its source', () => {
    const ds: ImageDataset = {
      images: Uint8Array.from([1, 2, 3, 4, 50, 50, 50, 50]), labels: Int32Array.from([0, 1]),
      count: 2, channels: 1, height: 2, width: 2, numClasses: 2, classNames: ['a', 'b'], source: 'toy',
    };
    expect(convertDataset(ds, { channels: 1, height: 2, width: 2 })).toBe(ds);
    const rgb = convertDataset(ds, { channels: 3, height: 1, width: 1 });
    expect(rgb).toMatchObject({ count: 2, channels: 3, height: 1, width: 1, source: 'toy (1x2x2 -> 3x1x1)' });
    expect(Array.from(rgb.images)).toEqual([3, 3, 3, 50, 50, 50]);
    expect(rgb.labels).toBe(ds.labels);
  });
});
