// Autograd behaviour: accumulation for reused tensors and across backward() calls, seed
// gradients, noGrad, detach and the straight-through estimator, deep graphs, freed graphs,
// and the gradient checker itself.
import { describe, expect, it } from 'vitest';
import { Tensor, gradcheck, isGradEnabled, noGrad, record, round, tensor } from '../src/index.js';
import { expectClose, normal } from './helpers.js';

const leaf = (values: number[]): Tensor => tensor(values, undefined, { requiresGrad: true });

describe('gradient accumulation', () => {
  it('a tensor used twice (x*x) gets both contributions: 2x', () => {
    const x = leaf([1, -2, 3]);
    x.mul(x).sum().backward();
    expectClose(x.grad!, [2, -4, 6]);
  });

  it('a diamond graph sums the gradients of both paths', () => {
    // a = 2x; out = exp(a) + tanh(a); d out/dx = 2 (exp(a) + 1 - tanh(a)^2)
    const x = leaf([0.1, -0.3]);
    const a = x.mul(2);
    a.exp().add(a.tanh()).sum().backward();
    const want = [0.1, -0.3].map((v) => 2 * (Math.exp(2 * v) + 1 - Math.tanh(2 * v) ** 2));
    expectClose(x.grad!, want);
  });

  it('leaves accumulate across two backward() calls until zeroGrad()', () => {
    const x = leaf([1, 2]);
    x.mul(3).sum().backward();
    x.mul(x).sum().backward();
    expectClose(x.grad!, [3 + 2, 3 + 4]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.mul(3).sum().backward();
    expectClose(x.grad!, [3, 3]);
  });

  it('only leaves keep .grad; inputs without requiresGrad get none', () => {
    const x = leaf([1, 2]);
    const c = tensor([5, 6]);
    const h = x.mul(c);
    h.sum().backward();
    expect(h.grad).toBeNull();
    expect(c.grad).toBeNull();
    expectClose(x.grad!, [5, 6]);
  });

  it('leaves never share a gradient tensor or its storage (in-place optimizer updates stay local)', () => {
    const x = leaf([1, 2]);
    const y = leaf([3, 4]);
    x.add(y).sum().backward(); // add hands the same gradient to both inputs
    expect(x.grad!.data).not.toBe(y.grad!.data);
    x.grad!.data[0] = 100;
    expectClose(y.grad!, [1, 1]);
    const w = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
    const v = leaf([1, 2, 3, 4]);
    w.reshape(4).add(v).sum().backward(); // reshape's backward is a view of the same gradient
    expect(w.grad!.data).not.toBe(v.grad!.data);
    const seed = tensor([1, 1]);
    const r = leaf([0, 0]);
    r.reshape(2).backward(seed);
    expect(r.grad!.data).not.toBe(seed.data); // nor the caller's seed
  });
});

describe('seed gradients', () => {
  it('a non-scalar output takes a seed of its shape', () => {
    const x = leaf([1, 2, 3]);
    x.mul(x).backward(tensor([1, 0, -1]));
    expectClose(x.grad!, [2, 0, -6]);
  });

  it('a missing or misshapen seed is an error that names the shapes', () => {
    const y = leaf([1, 2, 3]).mul(2);
    expect(() => y.backward()).toThrow('backward: a seed gradient is needed for a non-scalar tensor of shape [3]');
    expect(() => y.backward(tensor([1, 1]))).toThrow('backward: seed shape [2] differs from tensor shape [3]');
    expect(() => tensor([1]).backward()).toThrow(/backward: tensor does not require grad/);
  });
});

describe('noGrad, detach and the straight-through estimator', () => {
  it('noGrad records nothing and restores recording, even after a throw', () => {
    const x = leaf([1, 2]);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return x.mul(x).exp();
    });
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad(() => { throw new Error('inside'); })).toThrow('inside');
    expect(isGradEnabled()).toBe(true);
    expect(noGrad(() => noGrad(() => 1) + Number(isGradEnabled()))).toBe(1); // nested: still off inside
  });

  it('detach cuts the graph but shares the values', () => {
    const x = leaf([2, 3]);
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.data).toBe(x.data);
    x.mul(d).sum().backward(); // d is a constant: grad is d, not 2x
    expectClose(x.grad!, [2, 3]);
  });

  it('the STE x + (q - x).detach() is q forward and the identity backward', () => {
    const x = leaf([0.4, -1.6, 2.5, 0.7]);
    const q = round(x);
    const ste = x.add(q.sub(x).detach());
    expectClose(ste, [0, -2, 2, 1]);
    ste.mul(tensor([1, 2, 3, 4])).sum().backward();
    expectClose(x.grad!, [1, 2, 3, 4]);
    const plain = leaf([0.4, -1.6]);
    round(plain).sum().backward(); // without the STE, round passes no gradient (null, where PyTorch fills zeros)
    expect(plain.grad).toBeNull();
  });
});

describe('graphs', () => {
  it('a chain of 10000 ops backpropagates without overflowing the stack', () => {
    const x = leaf([1]);
    let y = x;
    for (let i = 0; i < 10000; i++) y = i % 2 === 0 ? y.mul(1.0001) : y.add(0.5);
    y.sum().backward();
    expectClose(x.grad!, [1.0001 ** 5000], { rtol: 1e-4 });
  });

  it('a wide fan-in of 5000 reused tensors is also fine', () => {
    const x = leaf([2]);
    let acc = x.mul(0);
    for (let i = 0; i < 5000; i++) acc = acc.add(x.mul(x));
    acc.sum().backward();
    expectClose(x.grad!, [5000 * 4], { rtol: 1e-5 });
  });

  it('backward twice through a freed graph is a clear error naming the op', () => {
    const x = leaf([1, 2]);
    const h = x.exp();
    h.sum().backward();
    expect(() => h.sum().backward()).toThrow('backward: the graph through exp was already freed by an earlier backward() call');
  });

  it('record() attaches a node only when an input needs a gradient', () => {
    const a = leaf([1]);
    const b = tensor([2]);
    const out = record('double', new Tensor(Float32Array.of(2), [1]), [a], (g) => [g.mul(2)]);
    expect(out.node?.op).toBe('double');
    expect(out.requiresGrad).toBe(true);
    expect(record('double', new Tensor(Float32Array.of(4), [1]), [b], (g) => [g]).node).toBeNull();
    out.sum().backward();
    expectClose(a.grad!, [2]);
  });

  it('requiresGrad_ chains on leaves and refuses to switch off a non-leaf', () => {
    const x = normal([2], 1).requiresGrad_();
    expect(x.requiresGrad).toBe(true);
    expect(() => x.mul(2).requiresGrad_(false)).toThrow(/requiresGrad_: cannot turn off gradients of a non-leaf/);
  });
});

describe('the gradient checker', () => {
  it('passes a correct backward and fails a wrong one, naming the input and element', () => {
    const square = (t: Tensor): Tensor => record('square', t.detach().mul(t.detach()), [t], (g) => [g.mul(t.detach()).mul(2)]);
    const wrong = (t: Tensor): Tensor => record('square', t.detach().mul(t.detach()), [t], (g) => [g.mul(t.detach()).mul(1.9)]);
    const x = normal([3], 7);
    const good = gradcheck(square, [x]);
    expect(good.ok).toBe(true);
    expect(good.maxAbsError).toBeLessThan(1e-3);
    const bad = gradcheck(wrong, [x]);
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/^input 0 \[3\] element 0: analytic .* vs numeric/);
  });

  it('does not modify its inputs', () => {
    const x = normal([4], 8);
    const before = Array.from(x.data);
    gradcheck((t) => t.exp(), [x]);
    expect(Array.from(x.data)).toEqual(before);
    expect(x.grad).toBeNull();
  });
});
