// The fused nn ops: softmax, logSoftmax (any dim) and layerNorm (with and without affine),
// checked by hand, by identities, and by finite differences. PyTorch values: torch-reference.test.ts.
import { describe, expect, it } from 'vitest';
import { Tensor, layerNorm, logSoftmax, softmax, tensor } from '../src/index.js';
import { expectClose, expectGradOk, normal } from './helpers.js';

describe('softmax and logSoftmax', () => {
  it('values by hand, and stable for large logits', () => {
    const e = Math.E;
    const z = 1 + e + e * e;
    expectClose(softmax(tensor([0, 1, 2])), [1 / z, e / z, (e * e) / z]);
    expectClose(logSoftmax(tensor([0, 1, 2])), [-Math.log(z), 1 - Math.log(z), 2 - Math.log(z)]);
    // exp(1000) overflows; subtracting the row max keeps it finite
    expectClose(softmax(tensor([1000, 1000])), [0.5, 0.5]);
    expectClose(logSoftmax(tensor([1000, 0])), [0, -1000]);
  });

  it('rows sum to 1 and logSoftmax is log(softmax), along any dim', () => {
    const x = normal([2, 3, 4], 1, 3);
    for (const dim of [0, 1, 2, -1]) {
      const s = softmax(x, dim);
      expect(s.shape).toEqual([2, 3, 4]);
      expectClose(s.sum(dim), new Array(s.size / x.shape[dim < 0 ? dim + 3 : dim]!).fill(1), { atol: 1e-6 });
      expectClose(logSoftmax(x, dim).exp(), s.data, { atol: 1e-7 });
    }
  });

  it('gradcheck along the last and a middle dim', () => {
    expectGradOk((t) => softmax(t), [normal([3, 5], 2)]);
    expectGradOk((t) => softmax(t, 1), [normal([2, 3, 4], 3)]);
    expectGradOk((t) => logSoftmax(t), [normal([3, 5], 4)]);
    expectGradOk((t) => logSoftmax(t, 0), [normal([4, 3], 5)]);
  });

  it('cross entropy written as logSoftmax + gather + mean has gradient softmax - onehot', () => {
    const logits = tensor([[1, 2, 0.5], [0, -1, 3]], undefined, { requiresGrad: true });
    const target = tensor([[1], [2]]);
    const loss = logSoftmax(logits).gather(1, target).mean().neg();
    loss.backward();
    const p = softmax(logits.detach());
    const onehot = [0, 1, 0, 0, 0, 1];
    expectClose(logits.grad!, Array.from(p.data, (v, i) => (v - onehot[i]!) / 2), { atol: 1e-7 });
  });

  it('errors name the dim', () => {
    expect(() => softmax(normal([2, 3], 1), 2)).toThrow('softmax: dim 2 is out of range for a tensor with 2 dims');
    expect(() => logSoftmax(normal([2, 3], 1), -3)).toThrow('logSoftmax: dim -3 is out of range for a tensor with 2 dims');
  });
});

describe('layerNorm', () => {
  it('values by hand: zero mean, unit (biased) variance, then scale and shift', () => {
    // row [1,2,3,4]: mean 2.5, biased var 1.25
    const y = layerNorm(tensor([[1, 2, 3, 4]]), null, null, 0);
    const s = 1 / Math.sqrt(1.25);
    expectClose(y, [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s]);
    const w = tensor([1, 2, 0, -1]);
    const b = tensor([0, 1, 5, 0]);
    expectClose(layerNorm(tensor([[1, 2, 3, 4]]), w, b, 0), [-1.5 * s, -1 * s + 1, 5, -1.5 * s]);
  });

  it('eps is inside the square root', () => {
    const y = layerNorm(tensor([[0, 2]]), null, null, 3); // var 1: (x - 1) / sqrt(1 + 3)
    expectClose(y, [-0.5, 0.5]);
  });

  it('gradcheck with weight and bias, without them, and with only a weight', () => {
    const x = (seed: number): Tensor => normal([3, 2, 6], seed);
    expectGradOk((t, w, b) => layerNorm(t, w, b), [x(1), normal([6], 2), normal([6], 3)]);
    expectGradOk((t) => layerNorm(t, null, null), [x(4)]);
    expectGradOk((t, w) => layerNorm(t, w, null), [x(5), normal([6], 6)]);
    expectGradOk((t, b) => layerNorm(t, null, b, 1e-12), [x(7), normal([6], 8)]);
  });

  it('names the parameter and shapes when they do not match', () => {
    expect(() => layerNorm(normal([2, 4], 1), normal([3], 2), null)).toThrow('layerNorm: weight [3] does not match the last dim of input [2,4]');
    expect(() => layerNorm(normal([2, 4], 1), null, normal([4, 1], 2))).toThrow('layerNorm: bias [4,1] does not match the last dim of input [2,4]');
  });
});
