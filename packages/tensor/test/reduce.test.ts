// Reductions: sum, mean, max, min, var along dims with keepdim, and argmax; forward values by
// hand, gradient checks, and PyTorch's conventions (ties split the gradient, Bessel's correction).
import { describe, expect, it } from 'vitest';
import { argmax, argmin, max, mean, min, sum, tensor, variance } from '../src/index.js';
import { distinct, expectClose, expectGradOk, normal } from './helpers.js';

const x = tensor([[[1, 2, 3], [4, 5, 6]], [[-1, 0, 7], [2, 2, -3]]]); // [2,2,3]

describe('forward values', () => {
  it('sum over all, one dim, several dims, negative dims, keepdim', () => {
    expect(sum(x).shape).toEqual([]);
    expect(sum(x).item()).toBe(28);
    const s0 = sum(x, 0);
    expect(s0.shape).toEqual([2, 3]);
    expectClose(s0, [0, 2, 10, 6, 7, 3]);
    const s2 = sum(x, -1, true);
    expect(s2.shape).toEqual([2, 2, 1]);
    expectClose(s2, [6, 15, 6, 1]);
    const s02 = sum(x, [0, 2]);
    expect(s02.shape).toEqual([2]);
    expectClose(s02, [12, 16]);
    expect(sum(x, [2, 0], true).shape).toEqual([1, 2, 1]);
  });

  it('mean', () => {
    expectClose(mean(x, 1), [2.5, 3.5, 4.5, 0.5, 1, 2]);
    expectClose(mean(x), [28 / 12]);
    expect(x.mean([0, 1], true).shape).toEqual([1, 1, 3]);
  });

  it('max and min', () => {
    expectClose(max(x, 2), [3, 6, 7, 2]);
    expectClose(min(x, 2), [1, 4, -1, -3]);
    expectClose(max(x, [0, 1]), [4, 5, 7]);
    expect(max(x).item()).toBe(7);
    expect(min(x).item()).toBe(-3);
    expect(max(x, 0, true).shape).toEqual([1, 2, 3]);
  });

  it('var uses Bessel\'s correction by default (torch.var), or the one given', () => {
    const v = tensor([[1, 2, 3, 4], [2, 2, 2, 2]]);
    expectClose(variance(v, 1), [5 / 3, 0]);
    expectClose(v.var(1, true, 0), [1.25, 0]);
    expect(v.var(1, true).shape).toEqual([2, 1]);
    expectClose(v.var(), [5.5 / 7]); // mean 2.25; squared deviations 1.5625 + 0.0625 + 0.5625 + 3.0625 + 4 * 0.0625
  });

  it('argmax and argmin: first occurrence wins, flattened without a dim', () => {
    const a = tensor([[1, 9, 9], [4, 4, 0]]);
    expectClose(argmax(a, 1), [1, 0]);
    expectClose(argmin(a, 1), [0, 2]);
    expectClose(argmax(a, 0), [1, 0, 0]);
    expect(argmax(a, 1, true).shape).toEqual([2, 1]);
    expect(argmax(a).item()).toBe(1);
    expect(argmax(a).shape).toEqual([]);
  });

  it('argmax and max propagate NaN, as PyTorch', () => {
    const a = tensor([1, NaN, 5]);
    expect(argmax(a).item()).toBe(1);
    expect(Number.isNaN(max(a).item())).toBe(true);
  });

  it('names the op and the dim when it is out of range', () => {
    expect(() => sum(x, 3)).toThrow(/sum: dim 3 is out of range for a tensor with 3 dims/);
    expect(() => max(x, -4)).toThrow(/max: dim -4 is out of range/);
    expect(() => argmax(x, 5)).toThrow(/argmax: dim 5/);
    expect(() => sum(x, [1, -2])).toThrow(/sum: repeated dim/);
  });
});

describe('gradcheck', () => {
  const cases: Array<[string, number | number[] | undefined, boolean]> = [
    ['all', undefined, false], ['dim 0', 0, false], ['dim -1 keepdim', -1, true], ['dims [0,2]', [0, 2], false], ['dims [1,2] keepdim', [1, 2], true],
  ];
  for (const [label, dim, keepdim] of cases) {
    it(`sum, mean, var over ${label}`, () => {
      expectGradOk((t) => sum(t, dim, keepdim), [normal([2, 3, 4], 1)]);
      expectGradOk((t) => mean(t, dim, keepdim), [normal([2, 3, 4], 2)]);
      expectGradOk((t) => variance(t, dim, keepdim), [normal([2, 3, 4], 3)]);
      expectGradOk((t) => variance(t, dim, keepdim, 0), [normal([2, 3, 4], 4)]);
    });
    it(`max, min over ${label} (distinct values)`, () => {
      expectGradOk((t) => max(t, dim, keepdim), [distinct([2, 3, 4], 5)]);
      expectGradOk((t) => min(t, dim, keepdim), [distinct([2, 3, 4], 6)]);
    });
  }

  it('max splits the gradient evenly among tied maxima (torch.amax)', () => {
    const t = tensor([[3, 1, 3], [0, 2, 1]], undefined, { requiresGrad: true });
    max(t, 1).sum().backward();
    expectClose(t.grad!, [0.5, 0, 0.5, 0, 1, 0]);
  });

  it('argmax has no gradient and does not join the graph', () => {
    const t = tensor([1, 3, 2], undefined, { requiresGrad: true });
    expect(argmax(t).requiresGrad).toBe(false);
  });
});
