import { describe, expect, it } from 'vitest';
import { packBase3, packedBytes, packI2, unpackBase3, unpackI2 } from '../src/packing.js';
import { rng } from './helpers.js';

function randomCodes(n: number, seed: number): Int8Array {
  const next = rng(seed);
  const codes = new Int8Array(n);
  for (let i = 0; i < n; i++) codes[i] = Math.floor(next() * 3) - 1;
  return codes;
}

describe('packI2 / unpackI2', () => {
  it('packs the hand-worked example to exact bytes', () => {
    // row 0: [-1, 0, 1, 1, -1] -> codes 0,1,2,2 | 0,(pad 1,1,1) -> 0xA4, 0x54
    // row 1: [1, 1, 1, 1, 0]   -> codes 2,2,2,2 | 1,(pad 1,1,1) -> 0xAA, 0x55
    const codes = Int8Array.from([-1, 0, 1, 1, -1, 1, 1, 1, 1, 0]);
    const packed = packI2(codes, 2, 5);
    expect(Array.from(packed)).toEqual([0xa4, 0x54, 0xaa, 0x55]);
    expect(Array.from(unpackI2(packed, 2, 5))).toEqual(Array.from(codes));
  });

  it('puts the first weight in the low bits', () => {
    expect(Array.from(packI2(Int8Array.from([1]), 1, 1))).toEqual([0b01_01_01_10]);
    expect(Array.from(packI2(Int8Array.from([0, 0, 0, -1]), 1, 4))).toEqual([0b00_01_01_01]);
  });

  it('round-trips random codes for cols 1..13 and several row counts', () => {
    for (let cols = 1; cols <= 13; cols++) {
      for (const rows of [0, 1, 2, 7]) {
        const codes = randomCodes(rows * cols, cols * 31 + rows);
        const packed = packI2(codes, rows, cols);
        expect(packed.length).toBe(rows * Math.ceil(cols / 4));
        expect(packed.length).toBe(packedBytes('i2', rows, cols));
        expect(unpackI2(packed, rows, cols)).toEqual(codes);
      }
    }
  });

  it('round-trips all -1 and all +1, with padding codes of 1', () => {
    const minus = new Int8Array(3 * 6).fill(-1);
    const pm = packI2(minus, 3, 6);
    // 6 cols: byte 0 all code 0, byte 1 two codes 0 then two padding codes 1 = 0b0101_0000
    expect(Array.from(pm)).toEqual([0x00, 0x50, 0x00, 0x50, 0x00, 0x50]);
    expect(unpackI2(pm, 3, 6)).toEqual(minus);
    const plus = new Int8Array(2 * 7).fill(1);
    const pp = packI2(plus, 2, 7);
    expect(Array.from(pp)).toEqual([0xaa, 0x6a, 0xaa, 0x6a]);
    expect(unpackI2(pp, 2, 7)).toEqual(plus);
  });

  it('handles 0 rows and 0 cols', () => {
    expect(packI2(new Int8Array(0), 0, 5).length).toBe(0);
    expect(packI2(new Int8Array(0), 4, 0).length).toBe(0);
    expect(unpackI2(new Uint8Array(0), 4, 0).length).toBe(0);
  });

  it('names the function, index and value of a bad code', () => {
    expect(() => packI2(Int8Array.from([0, 1, 2, 0]), 2, 2)).toThrow(
      'packI2: code at index 2 (row 1, col 0) is 2, expected -1, 0 or 1',
    );
    expect(() => packI2(Int8Array.from([0, 1, 0]), 2, 2)).toThrow('packI2: expected 2 x 2 = 4 codes, got 3');
    expect(() => unpackI2(new Uint8Array(3), 2, 5)).toThrow('unpackI2: 2 x 5 packs into 2 rows of 2 bytes = 4 bytes, got 3');
    expect(() => unpackI2(Uint8Array.from([0x55, 0x5d]), 2, 4)).toThrow('unpackI2: byte 1 (row 1) = 0x5d holds code 3 at bits 2-3');
    expect(() => packI2(new Int8Array(0), -1, 2)).toThrow('packI2: rows and cols must be non-negative integers');
  });
});

describe('packBase3 / unpackBase3', () => {
  it('packs the hand-worked example to exact bytes', () => {
    // [-1, 0, 1, 1, -1] -> 0 + 1*3 + 2*9 + 2*27 + 0*81 = 75
    // [1, pad, pad, pad, pad] -> 2 + 1*3 + 1*9 + 1*27 + 1*81 = 122
    const codes = Int8Array.from([-1, 0, 1, 1, -1, 1]);
    const packed = packBase3(codes, 1, 6);
    expect(Array.from(packed)).toEqual([75, 122]);
    expect(Array.from(unpackBase3(packed, 1, 6))).toEqual(Array.from(codes));
  });

  it('maps all -1 to 0, all +1 to 242 and all 0 to 121', () => {
    expect(Array.from(packBase3(new Int8Array(10).fill(-1), 2, 5))).toEqual([0, 0]);
    expect(Array.from(packBase3(new Int8Array(10).fill(1), 2, 5))).toEqual([242, 242]);
    expect(Array.from(packBase3(new Int8Array(10), 1, 10))).toEqual([121, 121]);
    // 3 cols of +1: 2 + 2*3 + 2*9 + padding 27 + 81 = 134
    const plus = new Int8Array(4 * 3).fill(1);
    const pp = packBase3(plus, 4, 3);
    expect(Array.from(pp)).toEqual([134, 134, 134, 134]);
    expect(unpackBase3(pp, 4, 3)).toEqual(plus);
    const minus = new Int8Array(2 * 8).fill(-1);
    expect(unpackBase3(packBase3(minus, 2, 8), 2, 8)).toEqual(minus);
  });

  it('round-trips random codes for cols 1..13 and several row counts', () => {
    for (let cols = 1; cols <= 13; cols++) {
      for (const rows of [0, 1, 3, 8]) {
        const codes = randomCodes(rows * cols, 1000 + cols * 17 + rows);
        const packed = packBase3(codes, rows, cols);
        expect(packed.length).toBe(rows * Math.ceil(cols / 5));
        expect(packed.length).toBe(packedBytes('t3', rows, cols));
        for (const byte of packed) expect(byte).toBeLessThanOrEqual(242);
        expect(unpackBase3(packed, rows, cols)).toEqual(codes);
      }
    }
  });

  it('decodes every byte 0..242 to the trits of its base-3 digits', () => {
    const all = Uint8Array.from({ length: 243 }, (_, i) => i);
    const codes = unpackBase3(all, 243, 5);
    for (let v = 0; v < 243; v++) {
      let value = 0;
      for (let j = 4; j >= 0; j--) value = value * 3 + codes[v * 5 + j]! + 1;
      expect(value).toBe(v);
    }
    expect(packBase3(codes, 243, 5)).toEqual(all);
  });

  it('names the function, index and value of bad input', () => {
    expect(() => packBase3(Int8Array.from([0, -2]), 1, 2)).toThrow(
      'packBase3: code at index 1 (row 0, col 1) is -2, expected -1, 0 or 1',
    );
    expect(() => unpackBase3(Uint8Array.from([121, 243]), 2, 3)).toThrow(
      'unpackBase3: byte 1 (row 1) = 243 is above 242 = 3^5 - 1',
    );
    expect(() => unpackBase3(new Uint8Array(5), 2, 6)).toThrow('unpackBase3: 2 x 6 packs into 2 rows of 2 bytes = 4 bytes, got 5');
  });
});

describe('packedBytes', () => {
  it('counts whole bytes per row for each scheme', () => {
    expect(packedBytes('i2', 192, 768)).toBe(192 * 192);
    expect(packedBytes('t3', 192, 768)).toBe(192 * 154);
    expect(packedBytes('i2', 3, 1)).toBe(3);
    expect(packedBytes('t3', 3, 6)).toBe(6);
    expect(packedBytes('i2', 0, 10)).toBe(0);
    expect(() => packedBytes('i4' as 'i2', 1, 1)).toThrow('packedBytes: unknown scheme "i4"');
  });
});
