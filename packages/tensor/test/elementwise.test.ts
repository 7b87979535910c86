// Elementwise ops: forward values worked by hand, broadcasting, and a finite-difference
// gradient check of every op (inputs kept away from kinks, ties and jumps).
import { describe, expect, it } from 'vitest';
import {
  Tensor, abs, add, clamp, div, exp, gelu, log, maximum, minimum, mul, neg, pow, relu, round, rsqrt,
  sigmoid, sign, sqrt, sub, tanh, tensor, where,
} from '../src/index.js';
import { awayFromZero, distinct, expectClose, expectGradOk, normal, positive } from './helpers.js';

describe('binary ops: forward values and broadcasting', () => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  const row = tensor([10, 20, 30]);
  const col = tensor([[1], [-1]]);

  it('add, sub, mul, div on equal shapes', () => {
    const b = tensor([[2, 4, 8], [-1, 0.5, 3]]);
    expectClose(add(a, b), [3, 6, 11, 3, 5.5, 9]);
    expectClose(sub(a, b), [-1, -2, -5, 5, 4.5, 3]);
    expectClose(mul(a, b), [2, 8, 24, -4, 2.5, 18]);
    expectClose(div(a, b), [0.5, 0.5, 0.375, -4, 10, 2]);
  });

  it('broadcasts a row, a column and a scalar like NumPy', () => {
    const r = add(a, row);
    expect(r.shape).toEqual([2, 3]);
    expectClose(r, [11, 22, 33, 14, 25, 36]);
    expectClose(mul(a, col), [1, 2, 3, -4, -5, -6]);
    const outer = sub(col, row); // [2,1] - [3] -> [2,3]
    expect(outer.shape).toEqual([2, 3]);
    expectClose(outer, [-9, -19, -29, -11, -21, -31]);
    expectClose(a.mul(2).sub(1), [1, 3, 5, 7, 9, 11]);
    expectClose(div(1, tensor([2, 4, -8])), [0.5, 0.25, -0.125]);
    expect(add(tensor(3), tensor(4)).shape).toEqual([]);
  });

  it('broadcasts across leading dims of different rank', () => {
    const x = tensor([[[1, 2]], [[3, 4]]]); // [2,1,2]
    const y = tensor([[10, 20], [30, 40], [50, 60]]); // [3,2]
    const z = add(x, y);
    expect(z.shape).toEqual([2, 3, 2]);
    expectClose(z, [11, 22, 31, 42, 51, 62, 13, 24, 33, 44, 53, 64]);
  });

  it('pow with a scalar and a tensor exponent', () => {
    expectClose(pow(tensor([1, 2, 3, -2]), 2), [1, 4, 9, 4]);
    expectClose(pow(tensor([4, 9]), 0.5), [2, 3]);
    expectClose(pow(tensor([2, 3]), tensor([3, 2])), [8, 9]);
    expectClose(pow(2, tensor([0, 1, 10])), [1, 2, 1024]);
  });

  it('maximum and minimum', () => {
    expectClose(maximum(tensor([1, 5, -3]), tensor([2, 4, -3])), [2, 5, -3]);
    expectClose(minimum(tensor([1, 5, -3]), 0), [0, 0, -3]);
  });

  it('names the op and both shapes when shapes do not broadcast', () => {
    expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(/add: shapes \[3\] and \[2\] do not broadcast/);
    expect(() => mul(tensor([[1, 2, 3]]), tensor([[1], [2], [3], [4]]).reshape(2, 2))).toThrow(/mul: shapes \[1,3\] and \[2,2\]/);
    expect(() => where(tensor([1, 0]), tensor([1, 2, 3]), 0)).toThrow(/where: shapes \[2\] and \[3\]/);
  });
});

describe('unary ops: forward values', () => {
  it('neg, exp, log, sqrt, rsqrt, abs, sign', () => {
    expectClose(neg(tensor([1, -2, 0])), [-1, 2, -0]);
    expectClose(exp(tensor([0, 1, -1])), [1, Math.E, 1 / Math.E]);
    expectClose(log(tensor([1, Math.E, 0.5])), [0, 1, Math.log(0.5)]);
    expectClose(sqrt(tensor([4, 2, 0])), [2, Math.SQRT2, 0]);
    expectClose(rsqrt(tensor([4, 0.25])), [0.5, 2]);
    expectClose(abs(tensor([-3, 0, 2.5])), [3, 0, 2.5]);
    expectClose(sign(tensor([-3, 0, 2.5])), [-1, 0, 1]);
  });

  it('tanh, sigmoid, relu', () => {
    expectClose(tanh(tensor([0, 1, -2])), [0, Math.tanh(1), Math.tanh(-2)]);
    expectClose(sigmoid(tensor([0, 2, -2])), [0.5, 1 / (1 + Math.exp(-2)), 1 / (1 + Math.exp(2))]);
    expectClose(relu(tensor([-1, 0, 3])), [0, 0, 3]);
  });

  it('gelu is the exact erf form (torch.nn.functional.gelu default)', () => {
    // gelu(x) = x * Phi(x); Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707, Phi(2) = 0.9772498680518208
    expectClose(gelu(tensor([0, 1, -1, 2, -3])), [0, 0.8413447460685429, -0.15865525393145707, 2 * 0.9772498680518208, -3 * 0.0013498980316301035], { rtol: 2e-6 });
  });

  it('round is half to even, as torch.round: +-0.5, +-1.5, +-2.5 give 0, 2, 2, -0, -2, -2', () => {
    const r = round(tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5]));
    expect(Array.from(r.data)).toEqual([0, 2, 2, -0, -2, -2]);
    expect(Object.is(r.data[3], -0)).toBe(true); // -0.5 rounds to -0, as in PyTorch
    expect(Array.from(round(tensor([0.49, 0.51, -3.7, 3.5, 4.5, 1e9 + 0.5])).data)).toEqual([0, 1, -4, 4, 4, 1e9]);
  });

  it('clamp with both bounds and with one side open', () => {
    expectClose(clamp(tensor([-2, -0.5, 0.3, 4]), -1, 1), [-1, -0.5, 0.3, 1]);
    expectClose(clamp(tensor([-2, 3]), null, 1), [-2, 1]);
    expectClose(clamp(tensor([-2, 3]), 0, null), [0, 3]);
  });

  it('where picks by a broadcast condition', () => {
    const cond = tensor([[1], [0]]);
    const r = where(cond, tensor([1, 2, 3]), tensor(-1));
    expect(r.shape).toEqual([2, 3]);
    expectClose(r, [1, 2, 3, -1, -1, -1]);
  });

  it('comparisons give 1 or 0 and carry no graph', () => {
    const x = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const m = x.gt(1.5);
    expectClose(m, [0, 1, 1]);
    expect(m.requiresGrad).toBe(false);
    expectClose(x.le(2), [1, 1, 0]);
    expectClose(x.eq(2), [0, 1, 0]);
  });
});

describe('gradcheck: every elementwise op', () => {
  const binary: Array<[string, (a: Tensor, b: Tensor) => Tensor]> = [
    ['add', add], ['sub', sub], ['mul', mul], ['div', div],
  ];
  for (const [name, fn] of binary) {
    it(`${name}, same shape and broadcast ([2,3] with [3], [2,1,3] with [4,1], scalar)`, () => {
      const b = (s: number[], seed: number): Tensor => (name === 'div' ? positive(s, seed) : normal(s, seed));
      expectGradOk(fn, [normal([2, 3], 1), b([2, 3], 2)]);
      expectGradOk(fn, [normal([2, 3], 3), b([3], 4)]);
      expectGradOk(fn, [normal([2, 1, 3], 5), b([4, 1], 6)]);
      expectGradOk(fn, [normal([3], 7), b([], 8)]);
      expectGradOk(fn, [b([1], 9), b([2, 2], 10)]);
    });
  }

  it('pow: tensor exponent (both inputs) and scalar exponents', () => {
    expectGradOk(pow, [positive([2, 3], 1), normal([2, 3], 2)]);
    expectGradOk(pow, [positive([2, 3], 3), normal([3], 4)]); // broadcast exponent
    expectGradOk((x) => pow(x, 3), [normal([5], 5)]);
    expectGradOk((x) => pow(x, 2), [normal([2, 2], 6)]);
    expectGradOk((x) => pow(x, -1.5), [positive([4], 7)]);
    expectGradOk((x) => pow(2, x), [normal([4], 8)]);
  });

  it('maximum and minimum (no ties), broadcasting', () => {
    const both = distinct([2, 4], 1);
    const x = both.narrow(0, 0, 1).reshape(4);
    const y = both.narrow(0, 1, 1).reshape(4);
    expectGradOk(maximum, [x, y]);
    expectGradOk(minimum, [x, y]);
    expectGradOk(maximum, [distinct([3, 4], 2), distinct([4], 3, 0.05)]);
    expectGradOk(minimum, [distinct([3, 1], 4), distinct([1, 4], 5, 0.05)]);
  });

  it('maximum and minimum split the gradient evenly on ties, as PyTorch', () => {
    const x = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const y = tensor([1, 5, 0], undefined, { requiresGrad: true });
    maximum(x, y).sum().backward();
    expectClose(x.grad!, [0.5, 0, 1]);
    expectClose(y.grad!, [0.5, 1, 0]);
  });

  const unary: Array<[string, (a: Tensor) => Tensor, () => Tensor]> = [
    ['neg', neg, () => normal([2, 3], 11)],
    ['exp', exp, () => normal([2, 3], 12)],
    ['log', log, () => positive([2, 3], 13)],
    ['sqrt', sqrt, () => positive([2, 3], 14)],
    ['rsqrt', rsqrt, () => positive([2, 3], 15)],
    ['abs', abs, () => awayFromZero([2, 3], 16)],
    ['sign', sign, () => awayFromZero([2, 3], 17)],
    ['tanh', tanh, () => normal([2, 3], 18)],
    ['sigmoid', sigmoid, () => normal([2, 3], 19, 2)],
    ['relu', relu, () => awayFromZero([2, 3], 20)],
    ['gelu', gelu, () => normal([3, 4], 21, 2)],
    // away from the half-integers where round jumps: k + 0.1..0.4 or k + 0.6..0.9
    ['round', round, () => tensor([-2.3, -1.7, -0.2, 0.3, 1.6, 2.8])],
  ];
  for (const [name, fn, input] of unary) {
    it(name, () => expectGradOk(fn, [input()]));
  }

  it('sign and round have zero gradient (piecewise constant)', () => {
    const x = tensor([-1.2, 0.7], undefined, { requiresGrad: true });
    x.round().add(x.sign()).add(x).sum().backward();
    expectClose(x.grad!, [1, 1]);
  });

  it('clamp, away from the bounds, with both and one-sided bounds', () => {
    const x = tensor([-2, -0.7, -0.2, 0.3, 0.8, 1.9]);
    expectGradOk((t) => clamp(t, -1, 1), [x]);
    expectGradOk((t) => clamp(t, null, 0), [x]);
    expectGradOk((t) => clamp(t, 0, null), [x]);
  });

  it('where: gradient to the chosen side, broadcast condition and operands', () => {
    const cond = tensor([[1, 0, 1], [0, 0, 1]]);
    expectGradOk((a, b) => where(cond, a, b), [normal([2, 3], 1), normal([2, 3], 2)]);
    const colCond = tensor([[1], [0]]);
    expectGradOk((a, b) => where(colCond, a, b), [normal([3], 3), normal([2, 1], 4)]);
    expectGradOk((a) => where(cond, a, 0), [normal([1, 3], 5)]);
  });

  it('a composite of several ops (tanh(x*y + x/y) - exp(y)^2)', () => {
    expectGradOk((x, y) => tanh(x.mul(y).add(x.div(y))).sub(exp(y).pow(2)), [normal([3, 2], 1), positive([2], 2)]);
  });
});
