// Position-embedding resizing against torch.nn.functional.interpolate(align_corners=False), on
// random [1, prefix + side^2, 8] embeddings (timm's resample_abs_pos_embed does exactly this).
import { describe, expect, it } from 'vitest';
import { Tensor, fromArray } from '@bitvit/tensor';
import { interpolatePositionEmbeddings, resizeGrid } from '../src/index.js';
import { ref } from './helpers.js';

describe('interpolatePositionEmbeddings', () => {
  it.each(ref.interpolation.map((c) => [`${c.mode} ${Math.sqrt((c.pos.shape[1]! - c.prefix))}x${Math.sqrt(c.pos.shape[1]! - c.prefix)} -> ${c.new_grid.join('x')}, prefix ${c.prefix}`, c] as const))(
    '%s matches F.interpolate',
    (_label, c) => {
      const pos = fromArray(c.pos.data, c.pos.shape);
      const out = interpolatePositionEmbeddings(pos, c.prefix, c.new_grid, c.mode);
      expect([...out.shape]).toEqual(c.out.shape);
      let worst = 0;
      for (let i = 0; i < c.out.data.length; i++) worst = Math.max(worst, Math.abs(out.data[i]! - c.out.data[i]!));
      expect(worst).toBeLessThan(1e-5);
      // The CLS (and distillation) rows are copied unchanged.
      expect(Array.from(out.data.subarray(0, c.prefix * 8))).toEqual(Array.from(pos.data.subarray(0, c.prefix * 8)));
    },
  );

  it('the cases cover both modes, both prefixes, up- and downscaling', () => {
    const modes = new Set(ref.interpolation.map((c) => c.mode));
    expect([...modes].sort()).toEqual(['bicubic', 'bilinear']);
    expect(new Set(ref.interpolation.map((c) => c.prefix)).size).toBe(2);
    expect(ref.interpolation.some((c) => c.new_grid[0] > Math.sqrt(c.pos.shape[1]! - c.prefix))).toBe(true);
    expect(ref.interpolation.some((c) => c.new_grid[0] < Math.sqrt(c.pos.shape[1]! - c.prefix))).toBe(true);
  });

  it('the same grid returns a copy, not the same storage', () => {
    const pos = fromArray([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 2]);
    const out = interpolatePositionEmbeddings(pos, 1, [2, 2]);
    expect(Array.from(out.data)).toEqual(Array.from(pos.data));
    out.data[0] = 42;
    expect(pos.data[0]).toBe(0);
  });

  it('a constant grid stays constant (both kernels sum to one)', () => {
    const grid = new Float32Array(5 * 5 * 3).fill(0.25);
    for (const mode of ['bicubic', 'bilinear'] as const) {
      for (const [nh, nw] of [[9, 9], [3, 2]] as const) {
        const out = resizeGrid(grid, 5, 5, 3, nh, nw, mode);
        for (const v of out) expect(v).toBeCloseTo(0.25, 6);
      }
    }
  });

  it('rejects embeddings whose grid part is not square, naming the shape', () => {
    const pos = new Tensor(new Float32Array(1 * 11 * 4), [1, 11, 4]);
    expect(() => interpolatePositionEmbeddings(pos, 1, [4, 4])).toThrow('interpolatePositionEmbeddings: [1,11,4] is not [1, 1 + a square grid, hidden]');
    // 11 - 2 = 9 is a 3x3 grid: with DeiT's two prefix tokens the same tensor is valid.
    expect([...interpolatePositionEmbeddings(pos, 2, [4, 4]).shape]).toEqual([1, 18, 4]);
  });
});
