import { describe, expect, it } from 'vitest';
import {
  adjustBrightness, adjustContrast, cutout, horizontalFlip, randAugmentLite, randomCropWithPadding,
  randomHorizontalFlip, rotate, translate,
} from '../src/data/index.js';
import type { ImageShape } from '../src/data/index.js';
import { seededRandom } from './fixtures/data-files.js';

// A 2-channel 3x4 image: channel c, row y, column x holds 100c + 10y + x.
const shape: ImageShape = { channels: 2, height: 3, width: 4 };
const image = (): Uint8Array => Uint8Array.from({ length: 24 }, (_, k) => 100 * Math.floor(k / 12) + 10 * Math.floor((k % 12) / 4) + (k % 4));
const at = (img: Uint8Array, c: number, y: number, x: number): number => img[c * 12 + y * 4 + x]!;
const constant = (v: number) => () => v;

describe('geometric ops', () => {
  it('translate shifts right/down by (dx, dy) and fills with 0', () => {
    const dst = new Uint8Array(24);
    translate(image(), dst, shape, 1, -1);
    expect(Array.from(dst.subarray(0, 12))).toEqual([0, 10, 11, 12, 0, 20, 21, 22, 0, 0, 0, 0]);
    expect(Array.from(dst.subarray(12))).toEqual([0, 110, 111, 112, 0, 120, 121, 122, 0, 0, 0, 0]);
    translate(image(), dst, shape, 4, 0);
    expect(dst.every((v) => v === 0)).toBe(true);
  });

  it('randomCropWithPadding shifts by -pad..pad on each axis, uniformly', () => {
    const dst = new Uint8Array(24);
    randomCropWithPadding(image(), dst, shape, 2, constant(0)); // offset 0 in the padded image: shift (+2, +2)
    const expected = new Uint8Array(24);
    translate(image(), expected, shape, 2, 2);
    expect(Array.from(dst)).toEqual(Array.from(expected));
    randomCropWithPadding(image(), dst, shape, 2, constant(0.9999)); // offset 4: shift (-2, -2)
    translate(image(), expected, shape, -2, -2);
    expect(Array.from(dst)).toEqual(Array.from(expected));
    // Seeded draws reach every shift of the 5 x 5 possible, each about equally often.
    const random = seededRandom(11);
    const seen = new Map<number, number>();
    const big: ImageShape = { channels: 1, height: 9, width: 9 };
    const src = new Uint8Array(81);
    src[40] = 1; // the center pixel shows where the image went
    const out = new Uint8Array(81);
    for (let t = 0; t < 2500; t++) {
      randomCropWithPadding(src, out, big, 2, random);
      const k = out.indexOf(1);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    expect(seen.size).toBe(25);
    for (const n of seen.values()) expect(Math.abs(n - 100)).toBeLessThan(40);
  });

  it('horizontalFlip mirrors each row; randomHorizontalFlip flips with probability p', () => {
    const dst = new Uint8Array(24);
    horizontalFlip(image(), dst, shape);
    expect(Array.from(dst.subarray(0, 4))).toEqual([3, 2, 1, 0]);
    expect(Array.from(dst.subarray(20))).toEqual([123, 122, 121, 120]);
    randomHorizontalFlip(image(), dst, shape, constant(0.7));
    expect(Array.from(dst)).toEqual(Array.from(image()));
    randomHorizontalFlip(image(), dst, shape, constant(0.2));
    expect(dst[0]).toBe(3);
    randomHorizontalFlip(image(), dst, shape, constant(0.7), 0.8);
    expect(dst[0]).toBe(3);
  });

  it('rotate turns counterclockwise about the center, exactly for quarter turns', () => {
    const sq: ImageShape = { channels: 1, height: 4, width: 4 };
    const src = Uint8Array.from({ length: 16 }, (_, k) => k + 1);
    const dst = new Uint8Array(16);
    rotate(src, dst, sq, 0);
    expect(Array.from(dst)).toEqual(Array.from(src));
    rotate(src, dst, sq, 90);
    // Counterclockwise: the top-right pixel (4) comes to the top-left; dst[r][c] = src[c][3 - r].
    expect(Array.from(dst)).toEqual([4, 8, 12, 16, 3, 7, 11, 15, 2, 6, 10, 14, 1, 5, 9, 13]);
    rotate(src, dst, sq, 180);
    expect(Array.from(dst)).toEqual(Array.from(src).reverse());
  });

  it('rotate by 45 degrees keeps the center and blanks the corners', () => {
    // In a 9x9 image a corner's source lies 4 * sqrt(2) = 5.7 pixels from the center along an
    // axis, more than a pixel beyond the last pixel center (4): nothing to interpolate from.
    const sq: ImageShape = { channels: 1, height: 9, width: 9 };
    const src = new Uint8Array(81).fill(200);
    const dst = new Uint8Array(81);
    rotate(src, dst, sq, 45);
    expect(dst[40]).toBe(200);
    expect([dst[0], dst[8], dst[72], dst[80]]).toEqual([0, 0, 0, 0]);
    expect(dst[4]).toBe(200); // the middle of the top edge comes from inside the frame
  });

  it('refuses a dst that shares memory with src', () => {
    const img = image();
    expect(() => translate(img, img, shape, 1, 0)).toThrow('translate: src and dst share memory; give a separate dst');
    const buf = new Uint8Array(30);
    expect(() => rotate(buf.subarray(0, 24), buf.subarray(6, 30), shape, 10)).toThrow('rotate: src and dst share memory');
    expect(() => horizontalFlip(image(), new Uint8Array(23), shape)).toThrow(
      'horizontalFlip: image holds 23 bytes, a 2x3x4 image has 24',
    );
  });
});

describe('photometric ops', () => {
  it('adjustBrightness scales, rounds and clips', () => {
    const img = Uint8Array.from([0, 10, 100, 200]);
    adjustBrightness(img, 1.5);
    expect(Array.from(img)).toEqual([0, 15, 150, 255]);
    adjustBrightness(img, 0.1);
    expect(Array.from(img)).toEqual([0, 2, 15, 26]);
  });

  it('adjustContrast moves pixels away from or toward the mean gray', () => {
    const g: ImageShape = { channels: 1, height: 1, width: 4 };
    const img = Uint8Array.from([0, 100, 100, 200]); // mean 100
    adjustContrast(img, g, 2);
    expect(Array.from(img)).toEqual([0, 100, 100, 255]);
    const soft = Uint8Array.from([0, 100, 100, 200]);
    adjustContrast(soft, g, 0.5);
    expect(Array.from(soft)).toEqual([50, 100, 100, 150]);
    // RGB: the mean is the mean luma. Pure red everywhere has luma 0.299 * 255 = 76.
    const red = Uint8Array.from([255, 255, 0, 0, 0, 0]);
    adjustContrast(red, { channels: 3, height: 1, width: 2 }, 0);
    expect(Array.from(red)).toEqual([76, 76, 76, 76, 76, 76]);
  });

  it('cutout zeroes a square clipped to the frame, in every channel', () => {
    const img = image();
    cutout(img, shape, 0, 1, 2); // covers x -1..0, y 0..1
    expect([at(img, 0, 0, 0), at(img, 0, 1, 0), at(img, 1, 0, 0), at(img, 1, 1, 0)]).toEqual([0, 0, 0, 0]);
    expect([at(img, 0, 0, 1), at(img, 0, 2, 0), at(img, 1, 2, 0)]).toEqual([1, 20, 120]);
    expect(img.filter((v) => v === 0).length).toBe(4);
  });
});

describe('randAugmentLite', () => {
  const big: ImageShape = { channels: 1, height: 16, width: 16 };
  const src = Uint8Array.from({ length: 256 }, (_, k) => (k * 37) & 255);

  it('repeats with the same seed and differs with another', () => {
    const a = new Uint8Array(256);
    const b = new Uint8Array(256);
    const c = new Uint8Array(256);
    randAugmentLite(src, a, big, { magnitude: 9 }, seededRandom(5));
    randAugmentLite(src, b, big, { magnitude: 9 }, seededRandom(5), new Uint8Array(256));
    randAugmentLite(src, c, big, { magnitude: 9 }, seededRandom(6));
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(a)).not.toEqual(Array.from(src));
    expect(Array.from(c)).not.toEqual(Array.from(a));
  });

  it('is the identity at magnitude 0, whatever ops it draws', () => {
    const dst = new Uint8Array(256);
    const random = seededRandom(9);
    for (let t = 0; t < 50; t++) {
      randAugmentLite(src, dst, big, { magnitude: 0, numOps: 3 }, random);
      expect(Array.from(dst)).toEqual(Array.from(src));
    }
  });

  it('applies only the ops it is given, at the given strength', () => {
    const dst = new Uint8Array(256);
    const ones = new Uint8Array(256).fill(1);
    // cutout at magnitude 10: a square of side 0.4 * 16 = 6 (fully inside when centered at 8, 8).
    randAugmentLite(ones, dst, big, { magnitude: 10, numOps: 1, ops: ['cutout'] }, constant(0.5));
    expect(dst.filter((v) => v === 0).length).toBe(36);
    // translate at magnitude 10 by 0.25 * 16 = 4 pixels: 4 columns or rows are emptied.
    randAugmentLite(ones, dst, big, { magnitude: 10, numOps: 1, ops: ['translate'] }, seededRandom(1));
    expect(dst.filter((v) => v === 0).length).toBe(64);
  });

  it('rejects a magnitude outside 0..10 and an empty op list', () => {
    const dst = new Uint8Array(256);
    expect(() => randAugmentLite(src, dst, big, { magnitude: 11 }, Math.random)).toThrow('randAugmentLite: magnitude 11 is outside 0..10');
    expect(() => randAugmentLite(src, dst, big, { magnitude: 5, ops: [] }, Math.random)).toThrow('randAugmentLite: no ops to pick from');
  });
});
