// The attention op (src/ops/attention.ts): the fused CPU kernel (kernels/wasm/attention.ts) against
// the unfused composite, bit for bit, on one and two threads; gradients against finite differences
// and against autograd through matmul and softmax; clear errors for shapes that do not fit.
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, Tensor, attention, attentionComposite, matmul, noGrad } from '../src/index.js';
import * as simd from '../src/kernels/wasm/kernels.js';
import { kernelThreads, setKernelThreads } from '../src/kernels/wasm/runtime.js';
import { expectClose, expectGradOk } from './helpers.js';

function random(shape: number[], seed: number, requiresGrad = false): Tensor {
  const g = new Generator(seed);
  const t = new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => g.normal()), shape);
  t.requiresGrad = requiresGrad;
  return t;
}

function expectSame(a: Tensor, b: Tensor, label: string): void {
  expect(a.shape, label).toEqual(b.shape);
  for (let i = 0; i < a.size; i++) {
    if (!Object.is(a.data[i], b.data[i])) expect.fail(`${label}: element ${i} is ${a.data[i]}, the composite gives ${b.data[i]}`);
  }
}

// [batch, query tokens, key tokens, heads, head dim, value head dim]
const CASES: Array<[number, number, number, number, number, number]> = [
  [1, 65, 65, 3, 64, 64], // vit-tiny-32 at batch 1
  [2, 17, 17, 4, 16, 16], // vit-mnist
  [4, 9, 11, 2, 12, 12], // a last half block of outputs (12 = 8 + 4), 11 keys
  [4, 13, 21, 2, 8, 4], // cross attention, another value width
  [3, 1, 300, 1, 12, 12], // one query
  [1, 33, 130, 2, 32, 20], // many keys, partial tiles everywhere
];

describe('attention', () => {
  const threads = kernelThreads();
  afterAll(() => setKernelThreads(threads));

  for (const [b, tq, tk, heads, d, dv] of CASES) {
    it(`fused equals the composite bit for bit: B ${b}, Tq ${tq}, Tk ${tk}, ${heads} heads of ${d} (values ${dv})`, () => {
      const q = random([b, tq, heads * d], 1), k = random([b, tk, heads * d], 2), v = random([b, tk, heads * dv], 3);
      const scale = 1 / Math.sqrt(d);
      const want = attentionComposite(q, k, v, heads, Math.fround(scale));
      for (const n of [1, 2]) {
        setKernelThreads(n);
        const got = simd.attention(q, k, v, heads, scale, true)!;
        expectSame(got.out, want.out, `out, ${n} threads`);
        expectSame(got.probs!, want.probs, `probs, ${n} threads`);
        expectSame(simd.attention(q, k, v, heads, scale, false)!.out, want.out, `out without probs, ${n} threads`);
      }
      expectSame(noGrad(() => attention(q, k, v, { heads })), want.out, 'the op');
    });
  }

  for (const [b, tq, tk, heads, d, dv] of CASES) {
    it(`fused backward matches the composite's: B ${b}, Tq ${tq}, Tk ${tk}, ${heads} heads of ${d} (values ${dv})`, () => {
      const q = random([b, tq, heads * d], 1), k = random([b, tk, heads * d], 2), v = random([b, tk, heads * dv], 3);
      const g = random([b, tq, heads * dv], 4);
      const scale = Math.fround(1 / Math.sqrt(d));
      const { probs } = attentionComposite(q, k, v, heads, scale);
      // the composite's backward: split heads, G V^T, softmaxBackward, the three products, scale, merge
      const split = (x: Tensor, h: number) => x.reshape(x.shape[0]!, x.shape[1]!, h, x.shape[2]! / h).permute(0, 2, 1, 3);
      const merge = (x: Tensor) => x.permute(0, 2, 1, 3).reshape(x.shape[0]!, x.shape[2]!, x.shape[1]! * x.shape[3]!);
      const dS = noGrad(() => simd.softmaxBackward(probs, matmul(split(g, heads), split(v, heads), { transB: true })));
      const want = noGrad(() => ({
        dq: merge(matmul(dS, split(k, heads)).mul(scale)),
        dk: merge(matmul(dS, split(q, heads), { transA: true }).mul(scale)),
        dv: merge(matmul(probs, split(g, heads), { transA: true })),
      }));
      for (const n of [1, 2]) {
        setKernelThreads(n);
        const got = simd.attentionBackward(q, k, v, probs, g, heads, scale)!;
        for (const name of ['dq', 'dk', 'dv'] as const) {
          expect(got[name].shape, name).toEqual(want[name].shape);
          expectClose(got[name], want[name].data, { atol: 1e-6, rtol: 1e-5, label: `${name}, ${n} threads` });
        }
      }
    });
  }

  it('has fused-backward gradients that match finite differences', () => {
    const q = random([2, 16, 16], 14, true), k = random([2, 16, 16], 15, true), v = random([2, 16, 16], 16, true);
    expect(simd.attentionBackward(q, k, v, attentionComposite(q, k, v, 2, 0.25).probs, random([2, 16, 16], 17), 2, 0.25)).not.toBeNull();
    expectGradOk((a, b, c) => attention(a!, b!, c!, { heads: 2 }), [q, k, v]);
  });

  it('runs the composite where the head dim is not a multiple of 4 or the products are tiny, with the same results', () => {
    const q = random([8, 30, 24], 4), k = random([8, 30, 24], 5), v = random([8, 30, 24], 6);
    expect(simd.attention(q, k, v, 4, 0.5, false)).toBeNull(); // d = 6
    expectSame(attention(q, k, v, { heads: 4, scale: 0.5 }), attentionComposite(q, k, v, 4, 0.5).out, 'd = 6');
    const [q2, k2, v2] = [random([1, 3, 8], 7), random([1, 5, 8], 8), random([1, 5, 8], 9)];
    expect(simd.attention(q2, k2, v2, 2, 0.5, false)).toBeNull(); // 3 x 5 x 4 per head: the GEMM runs in TypeScript
    expectSame(attention(q2, k2, v2, { heads: 2, scale: 0.5 }), attentionComposite(q2, k2, v2, 2, 0.5).out, 'tiny');
  });

  it('has gradients that match finite differences', () => {
    const q = random([2, 5, 8], 7, true), k = random([2, 4, 8], 8, true), v = random([2, 4, 12], 9, true);
    expectGradOk((a, b, c) => attention(a!, b!, c!, { heads: 2 }), [q, k, v]);
    expectGradOk((a, b, c) => attention(a!, b!, c!, { heads: 1, scale: 0.3 }), [q, k, v]);
  });

  it('has the gradients of the unfused ops (split heads, q k^T, scale, softmax, times v, merge)', () => {
    const [b, t, heads, d] = [3, 17, 4, 16];
    const inputs = () => [random([b, t, heads * d], 10, true), random([b, t, heads * d], 11, true), random([b, t, heads * d], 12, true)];
    const split = (x: Tensor) => x.reshape(b, t, heads, d).permute(0, 2, 1, 3);
    const [q1, k1, v1] = inputs() as [Tensor, Tensor, Tensor];
    const g = random([b, t, heads * d], 13);
    attention(q1, k1, v1, { heads }).mul(g).sum().backward();
    const [q2, k2, v2] = inputs() as [Tensor, Tensor, Tensor];
    const probs = matmul(split(q2), split(k2), { transB: true }).mul(1 / Math.sqrt(d)).softmax(-1);
    matmul(probs, split(v2)).permute(0, 2, 1, 3).reshape(b, t, heads * d).mul(g).sum().backward();
    for (const [x, y, name] of [[q1, q2, 'q'], [k1, k2, 'k'], [v1, v2, 'v']] as const) {
      expectClose(x.grad!, y.grad!.data, { atol: 1e-6, rtol: 1e-5, label: `grad of ${name}` });
    }
  });

  it('names the shapes that do not fit', () => {
    const x = random([2, 5, 8], 1);
    expect(() => attention(random([5, 8], 1), x, x, { heads: 2 })).toThrow(/attention: expected \[B, T, heads \* d\] inputs, got q \[5,8\]/);
    expect(() => attention(x, random([2, 5, 6], 1), x, { heads: 2 })).toThrow(/do not fit/);
    expect(() => attention(x, x, random([2, 4, 8], 1), { heads: 2 })).toThrow(/do not fit/);
    expect(() => attention(x, x, x, { heads: 3 })).toThrow(/do not split into 3 heads/);
    expect(() => attention(x, x, x, { heads: 0 })).toThrow(/heads must be a positive integer, got 0/);
  });
});
