// Shape ops: views (reshape, view, squeeze, unsqueeze), copies (transpose, permute, expand,
// narrow/slice, concat, stack, split, gather, indexSelect), their gradients and their errors.
import { describe, expect, it } from 'vitest';
import {
  Tensor, arange, broadcastShapes, concat, expand, gather, indexSelect, narrow, permute, reshape, slice, split,
  squeeze, stack, tensor, transpose, unsqueeze,
} from '../src/index.js';
import { expectClose, expectGradOk, normal } from './helpers.js';

const x = arange(24).reshape(2, 3, 4);

describe('views share storage and keep row-major order', () => {
  it('reshape and view, with -1', () => {
    const r = x.reshape(4, -1);
    expect(r.shape).toEqual([4, 6]);
    expect(r.data).toBe(x.data); // no copy: storage is contiguous
    expect(x.view([6, 4]).shape).toEqual([6, 4]);
    expect(reshape(x, [-1]).shape).toEqual([24]);
    expect(x.flatten(1).shape).toEqual([2, 12]);
    expect(x.flatten().shape).toEqual([24]);
  });

  it('squeeze and unsqueeze', () => {
    const t = arange(6).reshape(1, 2, 1, 3);
    expect(squeeze(t).shape).toEqual([2, 3]);
    expect(squeeze(t, 2).shape).toEqual([1, 2, 3]);
    expect(squeeze(t, 1).shape).toEqual([1, 2, 1, 3]); // not size 1: unchanged, as PyTorch
    expect(unsqueeze(x, 0).shape).toEqual([1, 2, 3, 4]);
    expect(unsqueeze(x, -1).shape).toEqual([2, 3, 4, 1]);
    expect(unsqueeze(x, 1).shape).toEqual([2, 1, 3, 4]);
  });

  it('reshape errors name the sizes', () => {
    expect(() => x.reshape(5, 5)).toThrow('reshape: cannot reshape [2,3,4] (24 elements) to [5,5] (25)');
    expect(() => x.reshape(5, -1)).toThrow('reshape: cannot reshape [2,3,4] (24 elements) to [5,-1]');
    expect(() => x.reshape(-1, -1)).toThrow(/reshape: only one dim can be -1/);
    expect(() => unsqueeze(x, 4)).toThrow(/unsqueeze: dim 4 is out of range for a tensor with 4 dims/);
  });
});

describe('copies: values by hand', () => {
  it('transpose and permute', () => {
    const m = tensor([[1, 2, 3], [4, 5, 6]]);
    const t = transpose(m);
    expect(t.shape).toEqual([3, 2]);
    expectClose(t, [1, 4, 2, 5, 3, 6]);
    expectClose(m.T, [1, 4, 2, 5, 3, 6]);
    const p = permute(x, [2, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    // p[i][j][k] = x[j][k][i] = 12j + 4k + i
    expect(p.toArray()).toEqual([0, 1, 2, 3].map((i) => [0, 1].map((j) => [0, 1, 2].map((k) => 12 * j + 4 * k + i))));
    expectClose(x.transpose(0, 2), permute(x, [2, 1, 0]).data);
    expect(() => permute(x, [0, 1])).toThrow(/permute: 2 dims given for a tensor of shape \[2,3,4\]/);
    expect(() => permute(x, [0, 1, 1])).toThrow(/permute: \[0,1,1\] is not a permutation/);
  });

  it('expand repeats size-1 dims and adds leading ones', () => {
    const c = tensor([[1], [2]]);
    const e = expand(c, [3, 2, 4]);
    expect(e.shape).toEqual([3, 2, 4]);
    expectClose(e.narrow(0, 2, 1), [1, 1, 1, 1, 2, 2, 2, 2]);
    expect(c.expand(-1, 3).shape).toEqual([2, 3]);
    expect(() => expand(c, [3, 4])).toThrow(/expand: \[2,1\] cannot expand to \[3,4\] \(dim 0: 2 vs 3\)/);
    expect(() => expand(c, [-1, 2, 3])).toThrow('expand: [2,1] cannot expand to [-1,2,3] (dim 0: -1 is only allowed for an existing dim)');
  });

  it('narrow and slice (python-style ends, negatives)', () => {
    const n = narrow(x, 2, 1, 2);
    expect(n.shape).toEqual([2, 3, 2]);
    expectClose(n.narrow(0, 0, 1).narrow(1, 0, 1), [1, 2]);
    expectClose(slice(arange(10), 0, 2, 5), [2, 3, 4]);
    expectClose(slice(arange(10), 0, -3), [7, 8, 9]);
    expectClose(arange(10).slice(0, 1, -7), [1, 2]);
    expectClose(arange(10).slice(0, 8, 100), [8, 9]);
    expect(() => narrow(x, 1, 2, 2)).toThrow('narrow: [2, 4) is outside dim 1 of size 3 (shape [2,3,4])');
  });

  it('concat and stack', () => {
    const a = tensor([[1, 2], [3, 4]]);
    const b = tensor([[5, 6]]);
    const c0 = concat([a, b], 0);
    expect(c0.shape).toEqual([3, 2]);
    expectClose(c0, [1, 2, 3, 4, 5, 6]);
    const c1 = concat([a, tensor([[7], [8]])], 1);
    expectClose(c1, [1, 2, 7, 3, 4, 8]);
    const s = stack([tensor([1, 2]), tensor([3, 4]), tensor([5, 6])], 1);
    expect(s.shape).toEqual([2, 3]);
    expectClose(s, [1, 3, 5, 2, 4, 6]);
    expect(stack([a, a]).shape).toEqual([2, 2, 2]);
    expect(() => concat([a, b], 1)).toThrow('concat: shapes [2,2], [1,2] differ outside dim 1');
  });

  it('split by a size and by a list of sizes', () => {
    const parts = split(arange(7), 3);
    expect(parts.map((p) => p.shape[0])).toEqual([3, 3, 1]);
    expectClose(parts[2]!, [6]);
    const [q, k, v] = split(x, [1, 1, 2], 2);
    expect(q!.shape).toEqual([2, 3, 1]);
    expectClose(v!.narrow(0, 0, 1).narrow(1, 0, 1), [2, 3]);
    expect(k!.shape).toEqual([2, 3, 1]);
    expect(() => split(x, [1, 1], 2)).toThrow('split: sizes [1,1] do not add up to dim 2 of size 4');
    expect(() => split(x, 0, 2)).toThrow('split: size 0 must be a positive integer'); // not an endless loop
    expect(() => split(x, [2, -1, 3], 2)).toThrow('split: sizes [2,-1,3] must be integers >= 0');
  });

  it('indexSelect is an embedding lookup; repeated rows are allowed', () => {
    const table = tensor([[0, 0.5], [1, 1.5], [2, 2.5]]);
    const e = indexSelect(table, 0, [2, 0, 2]);
    expect(e.shape).toEqual([3, 2]);
    expectClose(e, [2, 2.5, 0, 0.5, 2, 2.5]);
    expectClose(table.indexSelect(1, tensor([1])), [0.5, 1.5, 2.5]);
    expectClose(indexSelect(table, 0, [-1]), [2, 2.5]);
    expect(() => indexSelect(table, 0, [3])).toThrow('indexSelect: index 3 at position 0 is out of range for size 3');
  });

  it('gather picks along a dim (the cross-entropy target lookup)', () => {
    const logits = tensor([[0.1, 0.2, 0.3], [1, 2, 3]]);
    const g = gather(logits, 1, tensor([[2], [0]]));
    expect(g.shape).toEqual([2, 1]);
    expectClose(g, [0.3, 1]);
    const g0 = gather(logits, 0, tensor([[1, 0, 1]]));
    expectClose(g0, [1, 0.2, 3]);
    expect(() => gather(logits, 1, tensor([2, 0]))).toThrow(/gather: index shape \[2\] does not fit input shape \[2,3\]/);
  });

  it('broadcastShapes names the op, the shapes and the dim', () => {
    expect(broadcastShapes('add', [2, 1], [4, 1, 3])).toEqual([4, 2, 3]);
    expect(() => broadcastShapes('add', [2, 3], [4, 2, 2])).toThrow('add: shapes [2,3] and [4,2,2] do not broadcast (dim 2: 3 vs 2)');
  });
});

describe('gradcheck', () => {
  const t = (seed: number, shape = [2, 3, 4]): Tensor => normal(shape, seed);
  it('reshape, view, flatten, squeeze, unsqueeze', () => {
    expectGradOk((a) => a.reshape(4, 6).mul(a.reshape(4, 6)), [t(1)]);
    expectGradOk((a) => a.view(-1, 2), [t(2)]);
    expectGradOk((a) => a.flatten(0, 1), [t(3)]);
    expectGradOk((a) => squeeze(a).mul(tensor([1, 2, 3])), [t(4, [1, 3, 1])]);
    expectGradOk((a) => unsqueeze(a, 1).mul(t(5, [3, 1])), [t(6, [2, 4])]);
  });
  it('transpose and permute', () => {
    expectGradOk((a) => transpose(a, 0, 2), [t(7)]);
    expectGradOk((a) => a.T, [t(8, [3, 5])]);
    expectGradOk((a) => permute(a, [1, 2, 0]), [t(9)]);
  });
  it('expand (leading dims and size-1 dims)', () => {
    expectGradOk((a) => expand(a, [2, 3, 4]), [t(10, [3, 1])]);
    expectGradOk((a) => expand(a, [5, 4]), [t(11, [4])]);
  });
  it('narrow and slice', () => {
    expectGradOk((a) => narrow(a, 1, 1, 2), [t(12)]);
    expectGradOk((a) => slice(a, -1, 1, -1), [t(13)]);
  });
  it('concat and stack (several inputs, middle dim)', () => {
    expectGradOk((a, b, c) => concat([a, b, c], 1), [t(14, [2, 1, 3]), t(15, [2, 2, 3]), t(16, [2, 3, 3])]);
    expectGradOk((a, b) => stack([a, b], 1), [t(17, [2, 3]), t(18, [2, 3])]);
    expectGradOk((a) => concat([a, a], 0), [t(19, [2, 2])]); // the same input twice accumulates
  });
  it('split (parts used unequally)', () => {
    expectGradOk((a) => {
      const [p, q] = split(a, [1, 3], 2);
      return p!.mul(q!.sum(-1, true)).add(q!.narrow(2, 0, 1));
    }, [t(20)]);
  });
  it('gather and indexSelect with repeated indices (gradients accumulate)', () => {
    const idx = tensor([[2, 0, 2], [1, 1, 0]]);
    expectGradOk((a) => gather(a, 1, idx), [t(21, [2, 4])]);
    expectGradOk((a) => gather(a, 0, tensor([[1, 0, 1, 1]])), [t(22, [2, 4])]);
    expectGradOk((a) => indexSelect(a, 0, [3, 1, 3, 0]), [t(23, [4, 2])]);
    expectGradOk((a) => indexSelect(a, 1, tensor([2, 2])), [t(24)]);
  });
  it('indexSelect adds repeated rows in the backward (embedding gradient)', () => {
    const table = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
    indexSelect(table, 0, [1, 1, 0]).sum().backward();
    expectClose(table.grad!, [1, 1, 2, 2]);
  });
});
