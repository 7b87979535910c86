// matmul (2-D, batched, broadcast batch dims, 1-D operands, transposed operands) and linear:
// values against a plain double-precision triple loop, gradient checks, and shape errors.
import { describe, expect, it } from 'vitest';
import { Tensor, getBackend, linear, matmul, prepackLinearWeight, tensor } from '../src/index.js';
import { gemmInfo } from '../src/kernels/gemm/index.js';
import { expectClose, expectGradOk, normal } from './helpers.js';

/** op(a) @ op(b) for 2-D row-major arrays, in double precision. */
function naive(a: Tensor, b: Tensor, transA = false, transB = false): number[] {
  const [ar, ac] = a.shape as [number, number];
  const [br, bc] = b.shape as [number, number];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const N = transB ? br : bc;
  const out: number[] = [];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = transA ? a.data[k * ac + i]! : a.data[i * ac + k]!;
        const bv = transB ? b.data[j * bc + k]! : b.data[k * bc + j]!;
        s += av * bv;
      }
      out.push(s);
    }
  }
  return out;
}

/** The i-th matrix of a batch of matrices laid out contiguously. */
function mat(t: Tensor, i: number): Tensor {
  const [r, c] = t.shape.slice(-2) as [number, number];
  return new Tensor(t.data.slice(i * r * c, (i + 1) * r * c), [r, c]);
}

describe('forward values', () => {
  it('2-D by hand', () => {
    const c = matmul(tensor([[1, 2], [3, 4], [5, 6]]), tensor([[1, 0, -1], [2, 1, 0]]));
    expect(c.shape).toEqual([3, 3]);
    expectClose(c, [5, 2, -1, 11, 4, -3, 17, 6, -5]);
  });

  it('2-D against a triple loop, with every transpose combination', () => {
    const a = normal([7, 5], 1);
    const b = normal([5, 9], 2);
    const at = a.T;
    const bt = b.T;
    const want = naive(a, b);
    expectClose(matmul(a, b), want, { atol: 1e-5 });
    expectClose(matmul(at, b, { transA: true }), want, { atol: 1e-5 });
    expectClose(matmul(a, bt, { transB: true }), want, { atol: 1e-5 });
    expectClose(matmul(at, bt, { transA: true, transB: true }), want, { atol: 1e-5 });
  });

  it('batched, with broadcast batch dims', () => {
    const a = normal([2, 1, 3, 4], 3);
    const b = normal([3, 4, 5], 4);
    const c = matmul(a, b);
    expect(c.shape).toEqual([2, 3, 3, 5]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) expectClose(mat(c, i * 3 + j), naive(mat(a, i), mat(b, j)), { atol: 1e-5 });
    }
    // a batch against one matrix (the Linear case) and one matrix against a batch
    const w = normal([4, 6], 5);
    const cw = matmul(a, w);
    expect(cw.shape).toEqual([2, 1, 3, 6]);
    expectClose(mat(cw, 1), naive(mat(a, 1), w), { atol: 1e-5 });
    const left = normal([2, 4], 6);
    const cl = matmul(left, b);
    expect(cl.shape).toEqual([3, 2, 5]);
    expectClose(mat(cl, 2), naive(left, mat(b, 2)), { atol: 1e-5 });
  });

  it('batched attention shape q @ k^T with transB', () => {
    const q = normal([2, 3, 5, 4], 7);
    const k = normal([2, 3, 5, 4], 8);
    const s = matmul(q, k, { transB: true });
    expect(s.shape).toEqual([2, 3, 5, 5]);
    for (let i = 0; i < 6; i++) expectClose(mat(s, i), naive(mat(q, i), mat(k, i), false, true), { atol: 1e-5 });
  });

  it('1-D operands follow torch.matmul (dot, matrix-vector, vector-matrix, batched)', () => {
    const v = tensor([1, 2, 3]);
    const m = tensor([[1, 0, 1], [0, 1, 0]]);
    const dot = matmul(v, v);
    expect(dot.shape).toEqual([]);
    expect(dot.item()).toBe(14);
    const mv = matmul(m, v);
    expect(mv.shape).toEqual([2]);
    expectClose(mv, [4, 2]);
    const vm = matmul(tensor([1, -1]), m);
    expect(vm.shape).toEqual([3]);
    expectClose(vm, [1, -1, 1]);
    const bv = matmul(normal([4, 2, 3], 9), v);
    expect(bv.shape).toEqual([4, 2]);
  });

  it('linear is x @ w^T + b over any leading dims', () => {
    const x = tensor([[[1, 2, 3]], [[0, -1, 1]]]); // [2,1,3]
    const w = tensor([[1, 0, 0], [1, 1, 1]]); // [out=2, in=3]
    const b = tensor([0.5, -1]);
    const y = linear(x, w, b);
    expect(y.shape).toEqual([2, 1, 2]);
    expectClose(y, [1.5, 5, 0.5, -1]);
    expectClose(linear(tensor([1, 2, 3]), w), [1, 6]);
  });

  it("linear's bias goes in with the GEMM's store: the same floats as the product plus a separate add", () => {
    // K <= 256 is one K block, so acc + bias rounds exactly as add(matmul(x, w^T), b)
    const x = normal([3, 70, 64], 11), w = normal([40, 64], 12), b = normal([40], 13);
    const fused = linear(x, w, b);
    const separate = matmul(x, w, { transB: true }).add(b);
    expect(Array.from(fused.data)).toEqual(Array.from(separate.data));
    expect(() => getBackend().matmul(x, w, false, true, tensor([1, 2]))).toThrow(/matmul: bias \[2\] does not match the product's 40 columns/);
  });

  it('errors name the op, both shapes and the inner dims', () => {
    expect(() => matmul(normal([64, 192], 1), normal([768, 192], 2))).toThrow('matmul: [64,192] @ [768,192]: inner dims 192 and 768 differ');
    expect(() => matmul(normal([4, 3], 1), normal([3, 4], 2), { transA: true })).toThrow('matmul: [4,3]^T @ [3,4]: inner dims 4 and 3 differ');
    expect(() => matmul(normal([2, 3, 4], 1), normal([3, 4, 5], 2))).toThrow(/matmul: shapes \[2\] and \[3\] do not broadcast/);
    expect(() => matmul(tensor(2), tensor([1]))).toThrow(/matmul: scalar operands/);
    expect(() => linear(normal([2, 3], 1), normal([4, 5], 2))).toThrow('linear: input [2,3] does not match weight [4,5] (expected [out, 3])');
    expect(() => linear(normal([2, 3], 1), normal([4, 3], 2), normal([3], 3))).toThrow('linear: bias [3] does not match weight [4,3]');
  });
});

// The CPU GEMM switches from its TypeScript kernel to WebAssembly SIMD above 4096 multiply-adds
// and onto worker threads above 2 MFLOP: the small cases above never reach those paths.
describe('at sizes that take the SIMD GEMM and its threads (odd sizes: partial tiles)', () => {
  const add = (acc: number[], xs: number[]): number[] => acc.map((v, i) => v + xs[i]!);
  const tol = { atol: 2e-4, rtol: 1e-4 };

  it('reports which path runs', () => {
    expect(['wasm-simd', 'typescript']).toContain(gemmInfo().path);
  });

  it('2-D, every transpose combination (67x129 @ 129x71, one thread)', () => {
    const a = normal([67, 129], 40);
    const b = normal([129, 71], 41);
    const want = naive(a, b);
    expectClose(matmul(a, b), want, tol);
    expectClose(matmul(a.T, b, { transA: true }), want, tol);
    expectClose(matmul(a, b.T, { transB: true }), want, tol);
    expectClose(matmul(a.T, b.T, { transA: true, transB: true }), want, tol);
  });

  it('2-D on threads (150x200 @ 200x170), forward and both gradients', () => {
    const a = normal([150, 200], 42).requiresGrad_();
    const b = normal([200, 170], 43).requiresGrad_();
    const g = normal([150, 170], 44);
    const c = matmul(a, b);
    expectClose(c, naive(a, b), tol);
    c.backward(g);
    expectClose(a.grad!, naive(g, b, false, true), tol); // dA = G B^T
    expectClose(b.grad!, naive(a, g, true, false), tol); // dB = A^T G
  });

  it('batched with broadcast batch dims ([2,1,67,129] @ [3,129,71]), forward and both gradients', () => {
    const a = normal([2, 1, 67, 129], 45).requiresGrad_();
    const b = normal([3, 129, 71], 46).requiresGrad_();
    const g = normal([2, 3, 67, 71], 47);
    const c = matmul(a, b);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expectClose(mat(c, i * 3 + j), naive(mat(a, i), mat(b, j)), tol);
    c.backward(g);
    for (let i = 0; i < 2; i++) {
      let want = new Array<number>(67 * 129).fill(0);
      for (let j = 0; j < 3; j++) want = add(want, naive(mat(g, i * 3 + j), mat(b, j), false, true));
      expectClose(mat(a.grad!, i), want, { ...tol, label: `dA[${i}]` });
    }
    for (let j = 0; j < 3; j++) {
      let want = new Array<number>(129 * 71).fill(0);
      for (let i = 0; i < 2; i++) want = add(want, naive(mat(a, i), mat(g, i * 3 + j), true, false));
      expectClose(mat(b.grad!, j), want, { ...tol, label: `dB[${j}]` });
    }
  });

  it('attention scores q @ k^T at ViT-Tiny shape (64 x 3 heads, 65 tokens, head width 64)', () => {
    const q = normal([64, 3, 65, 64], 48);
    const k = normal([64, 3, 65, 64], 49);
    const s = matmul(q, k, { transB: true });
    for (const i of [0, 97, 191]) expectClose(mat(s, i), naive(mat(q, i), mat(k, i), false, true), tol);
  });

  it('linear over a [4,33,100] input, forward and all gradients', () => {
    const x = normal([4, 33, 100], 50).requiresGrad_();
    const w = normal([90, 100], 51).requiresGrad_();
    const bias = normal([90], 52).requiresGrad_();
    const g = normal([4, 33, 90], 53);
    const y = linear(x, w, bias);
    const x2 = x.detach().reshape(132, 100);
    const g2 = g.reshape(132, 90);
    expectClose(y, naive(x2, w, false, true).map((v, i) => v + bias.data[i % 90]!), tol);
    y.backward(g);
    expectClose(x.grad!, naive(g2, w), tol);
    expectClose(w.grad!, naive(g2, x2, true, false), tol);
    expectClose(bias.grad!, Array.from({ length: 90 }, (_, j) => {
      let sum = 0;
      for (let r = 0; r < 132; r++) sum += g2.data[r * 90 + j]!;
      return sum;
    }), tol);
  });
});

describe('linear with a prepacked weight', () => {
  it('gives the same floats and gradients as packing per call', () => {
    const x = normal([2, 33, 100], 60).requiresGrad_();
    const w = normal([70, 100], 61).requiresGrad_();
    const bias = normal([70], 62);
    const packed = prepackLinearWeight(w);
    expect(packed).not.toBeNull();
    expect(packed!.holds(w)).toBe(true);
    const g = normal([2, 33, 70], 63);
    const y = linear(x, w, bias, packed);
    y.backward(g);
    const [gx, gw] = [x.grad!.data.slice(), w.grad!.data.slice()];
    x.grad = null;
    w.grad = null;
    const want = linear(x, w, bias);
    want.backward(g);
    expect(y.data).toEqual(want.data);
    expect(gx).toEqual(x.grad!.data);
    expect(gw).toEqual(w.grad!.data);
  });

  it('is ignored once the weight has changed (markChanged) or for another weight', () => {
    const x = normal([9, 40], 64);
    const w = normal([30, 40], 65);
    const packed = prepackLinearWeight(w)!;
    w.data.fill(0.5);
    w.markChanged();
    expect(packed.holds(w)).toBe(false);
    expect(linear(x, w, null, packed).data).toEqual(linear(x, w).data); // the new values
    const other = normal([30, 40], 66);
    expect(linear(x, other, null, packed).data).toEqual(linear(x, other).data);
  });

  it('rejects a weight that is not [out, in]', () => {
    expect(() => prepackLinearWeight(normal([4], 1))).toThrow(/prepackLinearWeight: weight \[4\] is not \[out, in\]/);
  });
});

describe('gradcheck', () => {
  it('2-D', () => expectGradOk((a, b) => matmul(a, b), [normal([3, 4], 1), normal([4, 2], 2)]));
  it('transA, transB and both', () => {
    expectGradOk((a, b) => matmul(a, b, { transA: true }), [normal([4, 3], 3), normal([4, 2], 4)]);
    expectGradOk((a, b) => matmul(a, b, { transB: true }), [normal([3, 4], 5), normal([2, 4], 6)]);
    expectGradOk((a, b) => matmul(a, b, { transA: true, transB: true }), [normal([4, 3], 7), normal([2, 4], 8)]);
  });
  it('batched and broadcast batch dims (gradients summed over the broadcast)', () => {
    expectGradOk((a, b) => matmul(a, b), [normal([2, 3, 4], 9), normal([2, 4, 2], 10)]);
    expectGradOk((a, b) => matmul(a, b), [normal([2, 1, 3, 4], 11), normal([3, 4, 2], 12)]);
    expectGradOk((a, b) => matmul(a, b), [normal([2, 3, 4], 13), normal([4, 2], 14)]);
    expectGradOk((a, b) => matmul(a, b), [normal([3, 4], 15), normal([2, 4, 2], 16)]);
    expectGradOk((a, b) => matmul(a, b, { transB: true }), [normal([2, 3, 4], 17), normal([2, 5, 4], 18)]);
    expectGradOk((a, b) => matmul(a, b, { transA: true }), [normal([2, 4, 3], 19), normal([4, 2], 20)]);
  });
  it('1-D operands', () => {
    expectGradOk((a, b) => matmul(a, b), [normal([4], 21), normal([4], 22)]);
    expectGradOk((a, b) => matmul(a, b), [normal([3, 4], 23), normal([4], 24)]);
    expectGradOk((a, b) => matmul(a, b), [normal([4], 25), normal([2, 4, 3], 26)]);
  });
  it('linear with and without bias, 1-D and 3-D input', () => {
    expectGradOk((x, w, b) => linear(x, w, b), [normal([2, 3, 4], 27), normal([5, 4], 28), normal([5], 29)]);
    expectGradOk((x, w) => linear(x, w), [normal([4], 30), normal([3, 4], 31)]);
  });
  it('a chain (A@B).relu()@C', () => {
    expectGradOk((a, b, c) => matmul(matmul(a, b).relu(), c), [normal([3, 4], 32), normal([4, 5], 33), normal([5, 2], 34)], { atol: 2e-3 });
  });
});
