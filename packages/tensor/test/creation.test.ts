// Making tensors and reading them back: tensor(), fromArray, constants, ranges, item, toArray.
import { describe, expect, it } from 'vitest';
import { Tensor, arange, eye, fromArray, full, linspace, ones, scalar, tensor, zeros, zerosLike } from '../src/index.js';

describe('tensor() and fromArray', () => {
  it('infers the shape of nested arrays and stores float32 row-major', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.ndim).toBe(2);
    expect(t.size).toBe(6);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensor(0.1).data[0]).toBe(Math.fround(0.1));
  });

  it('takes flat values with a shape, and numbers as 0-d scalars', () => {
    expect(tensor([1, 2, 3, 4], [2, 2]).toArray()).toEqual([[1, 2], [3, 4]]);
    const s = tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(s.item()).toBe(3.5);
    expect(scalar(2).shape).toEqual([]);
    expect(fromArray(new Float64Array([1, 2]), [2, 1]).shape).toEqual([2, 1]);
  });

  it('copies its input: later edits of the source do not leak in', () => {
    const src = [1, 2];
    const t = fromArray(src, [2]);
    src[0] = 9;
    expect(t.data[0]).toBe(1);
  });

  it('says what is wrong with ragged arrays and miscounted values', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/tensor: nested arrays are ragged or hold non-numbers \(expected shape \[2,2\]\)/);
    expect(() => fromArray([1, 2, 3], [2, 2])).toThrow('fromArray: 3 values do not fill shape [2,2] (4)');
    expect(() => new Tensor(new Float32Array(3), [2])).toThrow('Tensor: 3 values do not fill shape [2] (2)');
    expect(() => zeros([2, -1])).toThrow('full: invalid shape [2,-1]');
  });

  it('requiresGrad option marks a leaf', () => {
    const t = tensor([1, 2], undefined, { requiresGrad: true });
    expect(t.requiresGrad).toBe(true);
    expect(t.isLeaf).toBe(true);
    expect(zeros([2], { requiresGrad: true }).requiresGrad).toBe(true);
  });
});

describe('constants and ranges', () => {
  it('zeros, ones, full, zerosLike, eye', () => {
    expect(Array.from(zeros([2, 2]).data)).toEqual([0, 0, 0, 0]);
    expect(Array.from(ones([3]).data)).toEqual([1, 1, 1]);
    expect(full([2], 7.5).toArray()).toEqual([7.5, 7.5]);
    expect(zerosLike(ones([1, 4])).shape).toEqual([1, 4]);
    expect(eye(3).toArray()).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    expect(zeros([0, 3]).size).toBe(0);
  });

  it('arange(n), arange(start, end, step) with negative steps, linspace', () => {
    expect(Array.from(arange(4).data)).toEqual([0, 1, 2, 3]);
    expect(Array.from(arange(2, 8, 2).data)).toEqual([2, 4, 6]);
    expect(Array.from(arange(3, 0, -1).data)).toEqual([3, 2, 1]);
    expect(Array.from(arange(0, 1, 0.25).data)).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(5, 2).size).toBe(0);
    expect(() => arange(0, 3, 0)).toThrow('arange: step must not be 0');
    expect(Array.from(linspace(0, 1, 5).data)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

describe('reading values', () => {
  it('item() needs exactly one value and says how many there are', () => {
    expect(tensor([[4]]).item()).toBe(4);
    expect(() => tensor([1, 2]).item()).toThrow('item: tensor of shape [2] has 2 values, not 1');
  });

  it('toArray() nests like torch.tolist()', () => {
    expect(arange(8).reshape(2, 2, 2).toArray()).toEqual([[[0, 1], [2, 3]], [[4, 5], [6, 7]]]);
    expect(tensor(5).toArray()).toBe(5);
  });
});
