// The WebAssembly SIMD kernels (src/kernels/wasm/) against the TypeScript reference (cpuReference)
// on random and odd shapes and on the awkward values (NaN, infinities, +-0, subnormals, ties).
// Tolerances, stated per test:
//   bit for bit   ops that are one correctly rounded f32 operation per value in both: neg, abs,
//                 sqrt, square, reciprocal, relu, sign, round, add/sub/mul/div, maximum/minimum,
//                 the comparisons, clamp, column sums (f64, the reference's order), both quantizers
//   rtol 2e-6     exp, log, tanh, sigmoid, rsqrt (polynomials good to ~1 ulp against Math.* in
//                 double; rsqrt rounds twice), row sums and max/min (f64 in another order)
//   atol 1e-6     erf, gelu, gelu backward (+ rtol 1e-6), the issue's bound for the fast erf
//   1e-6 + 1e-5   softmax, logSoftmax, the backwards of those and of layerNorm (f32 against f64 sums)
//   ~1 ulp        layerNorm forward (f64 like the reference, rounded once)
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, Tensor, cpuBackend, getBackend, tensor } from '../src/index.js';
import type { BinaryOp, UnaryOp } from '../src/kernels/backend.js';
import { cpuReference, cpuSimdEnabled, loadKernels, setCpuSimd } from '../src/kernels/cpu/index.js';
import * as simd from '../src/kernels/wasm/kernels.js';
import { hasWasmSimd, kernelRuntime, kernelThreads, setKernelThreads } from '../src/kernels/wasm/runtime.js';
import { hasRelaxedSimd } from '../src/kernels/gemm/wasm-gemm.js';

type Tolerance = { atol: number; rtol: number } | 'exact';

/**
 * Every value of `actual` equals `expected` bit for bit (Object.is: NaN equals NaN, -0 differs
 * from +0), or with a tolerance lies within atol + rtol*|expected| (NaN must meet NaN, and an
 * infinity the same infinity). The first value off is named with its index.
 */
function expectMatches(actual: Tensor, expected: Tensor, label: string, tol: Tolerance): void {
  expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  const a = actual.data, e = expected.data;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = e[i]!;
    if (Object.is(x, y)) continue;
    if (tol !== 'exact' && Number.isFinite(y) && Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y)) continue;
    expect.fail(`${label}: element ${i} is ${x}, the reference gives ${y} (${tol === 'exact' ? 'bit for bit' : `atol ${tol.atol}, rtol ${tol.rtol}`})`);
  }
}

function random(shape: number[], seed: number, std = 1): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = g.normal() * std;
  return new Tensor(d, shape);
}

/** Values that trip up vector math: zeros of both signs, infinities, NaN, subnormals, the largest floats, ties. */
const EDGES = [
  0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 1.17549435e-38, 3.4e38, -3.4e38, 0.5, -0.5, 1.5, -2.5, 1, -1,
  88.5, 89, -87.5, -103, -104, -200, 200, 1e-7, -1e-7, 5.5, -5.5, 9, -9, 20, -20, 0.625, -0.625, 0.6, 1e4, -1e4,
];

/** `n` values: the edge values first, then normals times `std`. */
function withEdges(n: number, seed: number, std = 3): Tensor {
  const t = random([n], seed, std);
  t.data.set(EDGES.slice(0, n));
  return t;
}

// Sizes below the SIMD threshold (the reference runs), one float past whole vectors, and big.
const SIZES = [1, 7, simd.MIN_SIZE - 1, simd.MIN_SIZE, 67, 1031, 20000];

it('runs the SIMD kernels by default where the engine has WebAssembly SIMD (Node 20 does)', () => {
  expect(hasWasmSimd()).toBe(true);
  expect(cpuSimdEnabled()).toBe(true);
  expect(getBackend()).toBe(cpuBackend);
  expect(cpuBackend.describe()).toMatch(/wasm-simd kernels/);
});

// vitest.config.ts runs this file twice: as is, and (project relaxed-simd) with Node 20's
// --experimental-wasm-relaxed-simd, where the polynomials use fused multiply-adds
it(`builds the kernels with fused multiply-adds exactly where relaxed SIMD validates (here: ${hasRelaxedSimd()})`, () => {
  expect(kernelRuntime()!.relaxedSimd).toBe(hasRelaxedSimd());
  expect(process.execArgv.includes('--experimental-wasm-relaxed-simd') || Number(process.versions.node.split('.')[0]) > 20).toBe(hasRelaxedSimd());
});

it('loadKernels (the asynchronous compile a browser main thread needs) resolves to true here', async () => {
  await expect(loadKernels()).resolves.toBe(true);
  expect(kernelRuntime()).not.toBeNull();
});

describe('setCpuSimd', () => {
  afterAll(() => setCpuSimd(true));
  it('switches the CPU backend to the TypeScript reference and back', () => {
    const x = random([4, 70], 1);
    expect(setCpuSimd(false)).toBe(false);
    expect(cpuBackend.unary).toBe(cpuReference.unary);
    expectMatches(cpuBackend.unary('gelu', x), cpuReference.unary('gelu', x), 'gelu, simd off', 'exact');
    expect(setCpuSimd(true)).toBe(true);
    expect(cpuBackend.unary).toBe(simd.unary);
    expectMatches(cpuBackend.unary('gelu', x), simd.unary('gelu', x), 'gelu, simd on', 'exact');
  });
});

describe('unary', () => {
  const tolerance: Record<UnaryOp, Tolerance> = {
    neg: 'exact', abs: 'exact', sqrt: 'exact', square: 'exact', reciprocal: 'exact', relu: 'exact', sign: 'exact', round: 'exact',
    exp: { atol: 1e-44, rtol: 2e-6 }, log: { atol: 0, rtol: 2e-6 }, tanh: { atol: 1e-7, rtol: 2e-6 },
    sigmoid: { atol: 1e-44, rtol: 2e-6 }, rsqrt: { atol: 0, rtol: 2e-7 },
    erf: { atol: 1e-6, rtol: 1e-6 }, gelu: { atol: 1e-6, rtol: 1e-6 },
  };
  for (const op of Object.keys(tolerance) as UnaryOp[]) {
    it(`${op} matches the reference (${JSON.stringify(tolerance[op])}) on edge values and sizes ${SIZES.join(', ')}`, () => {
      for (const n of SIZES) {
        const x = withEdges(n, n, op === 'exp' || op === 'sigmoid' ? 30 : 3);
        expectMatches(simd.unary(op, x), cpuReference.unary(op, x), `${op} of ${n}`, tolerance[op]);
      }
      // log, sqrt, rsqrt over positives spanning the exponent range, subnormals included
      if (op === 'log' || op === 'sqrt' || op === 'rsqrt') {
        const g = new Generator(3);
        const x = new Tensor(Float32Array.from({ length: 4096 }, () => Math.exp((g.random() - 0.5) * 190)), [4096]);
        expectMatches(simd.unary(op, x), cpuReference.unary(op, x), `${op} of positives`, tolerance[op]);
      }
    });
  }

  it('round is half to even at every .5 (as torch.round)', () => {
    const x = tensor(Array.from({ length: 80 }, (_, i) => i / 2 - 20));
    expectMatches(simd.unary('round', x), cpuReference.unary('round', x), 'round of halves', 'exact');
    expect(Array.from(simd.unary('round', x).data.slice(38, 44))).toEqual([-1, -0, 0, 0, 1, 2]);
  });

  it("gelu's polynomial path (every lane |x| < 2.12) is within 3.2e-7 of float64 GELU, and its backward within 1e-6", () => {
    // erf in float64 by its Taylor series (converges to ~1e-16 for |w| <= 1.5 in 60 terms)
    const erf64 = (w: number): number => {
      let term = w, sum = w;
      for (let n = 1; n < 60; n++) {
        term *= (-w * w) / n;
        sum += term / (2 * n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * sum;
    };
    const x = new Tensor(Float32Array.from({ length: 42400 }, (_, i) => -2.12 + i * 1e-4), [42400]);
    const y = simd.unary('gelu', x).data;
    let worst = 0;
    for (let i = 0; i < x.size; i++) {
      const v = x.data[i]!;
      worst = Math.max(worst, Math.abs(y[i]! - 0.5 * v * (1 + erf64(v / Math.SQRT2))));
    }
    expect(worst).toBeGreaterThan(0); // the polynomial is not exact: this is its path
    expect(worst).toBeLessThan(3.2e-7);
    const g = new Tensor(new Float32Array(x.size).fill(1), [x.size]);
    expectMatches(simd.geluBackward(x, g), cpuReference.geluBackward(x, g), 'geluBackward on the polynomial range', { atol: 1e-6, rtol: 1e-6 });
  });

  it('gelu and erf stay within 1e-6 of the reference over [-10, 10] in steps of 1e-3', () => {
    const x = new Tensor(Float32Array.from({ length: 20001 }, (_, i) => -10 + i * 1e-3), [20001]);
    for (const op of ['gelu', 'erf'] as const) expectMatches(simd.unary(op, x), cpuReference.unary(op, x), op, { atol: 1e-6, rtol: 1e-6 });
  });
});

describe('binary', () => {
  const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'];
  // same shape, a bias row, a leading broadcast, a column, a scalar either side, a row broadcast
  // over the middle dim, an outer product (three dims left after merging: the reference runs)
  const shapes: Array<[number[], number[]]> = [
    [[5, 67], [5, 67]], [[33, 19], [19]], [[19], [33, 19]], [[33, 19], [33, 1]], [[33, 1], [33, 19]],
    [[70], []], [[], [70]], [[4, 17, 64], [1, 17, 64]], [[6, 1, 7], [1, 9, 7]], [[3, 5, 2, 7], [5, 1, 7]], [[2, 3], [2, 3]],
  ];
  for (const op of ops) {
    it(`${op} matches the reference bit for bit on ${shapes.length} broadcast shapes and edge values`, () => {
      shapes.forEach(([sa, sb], i) => {
        const a = random(sa, 10 + i, 3), b = random(sb, 20 + i, 3);
        // ties for the comparisons, and the edge values against each other
        if (b.size > 3 && a.size > 3) b.data[2] = a.data[2]!;
        if (a.size >= EDGES.length && b.size >= EDGES.length) {
          a.data.set(EDGES);
          b.data.set([...EDGES].reverse());
        }
        expectMatches(simd.binary(op, a, b), cpuReference.binary(op, a, b), `${op} [${sa}] [${sb}]`, 'exact');
      });
    });
  }

  it('pow (no SIMD kernel) still gives the reference', () => {
    const a = random([9, 70], 5).abs(), b = random([70], 6);
    expectMatches(simd.binary('pow', a, b), cpuReference.binary('pow', a, b), 'pow', 'exact');
  });

  it('names the shapes when they do not broadcast', () => {
    expect(() => simd.binary('add', random([3, 70], 1), random([4, 70], 2))).toThrow(/\[3,70\].*\[4,70\]/);
  });
});

describe('clamp and geluBackward', () => {
  it('clamp matches bit for bit with infinite, f32-inexact and NaN-holding inputs', () => {
    for (const n of SIZES) {
      const x = withEdges(n, n);
      for (const [lo, hi] of [[-1, 0.5], [1e-5, Infinity], [-Infinity, 0.1], [0, 0]]) {
        expectMatches(simd.clamp(x, lo!, hi!), cpuReference.clamp(x, lo!, hi!), `clamp ${n} [${lo}, ${hi}]`, 'exact');
      }
    }
  });

  it('geluBackward matches within 1e-6 (+ rtol 1e-6) on edge values and sizes', () => {
    for (const n of SIZES) {
      const x = withEdges(n, n), g = random([n], 100 + n);
      expectMatches(simd.geluBackward(x, g), cpuReference.geluBackward(x, g), `geluBackward ${n}`, { atol: 1e-6, rtol: 1e-6 });
      // with the forward's output given (Phi = y / x), as ops/gelu calls it
      expectMatches(simd.geluBackward(x, g, simd.unary('gelu', x)), cpuReference.geluBackward(x, g), `geluBackward from y ${n}`, { atol: 1e-6, rtol: 1e-6 });
    }
  });
});

describe('reduce', () => {
  const cases: Array<[number[], number[]]> = [
    [[37, 19], [0]], [[37, 19], [1]], [[37, 19], [0, 1]], [[5, 7, 9], [1]], [[5, 7, 9], [0, 2]], [[5, 7, 9], [0, 1]],
    [[5, 7, 9], [1, 2]], [[2176, 64], [0]], [[128, 17, 64], [0, 1]], [[1031], [0]], [[3, 4], [1]], [[64, 1, 3], [0]],
  ];
  for (const op of ['sum', 'max', 'min'] as const) {
    it(`${op} matches the reference on ${cases.length} shapes and dims (sums down columns bit for bit)`, () => {
      cases.forEach(([shape, dims], i) => {
        const x = random(shape, 30 + i, 2);
        for (const keepdim of [false, true]) {
          const got = simd.reduce(op, x, dims, keepdim), want = cpuReference.reduce(op, x, dims, keepdim);
          const lastReduced = dims.includes(shape.length - 1);
          expectMatches(got, want, `${op} [${shape}] dims [${dims}] keepdim ${keepdim}`, op === 'sum' && lastReduced ? { atol: 0, rtol: 2e-6 } : 'exact');
        }
      });
    });
  }

  it('max and min let NaN win, along rows and down columns', () => {
    const x = random([9, 70], 7);
    x.data[3 * 70 + 5] = NaN;
    for (const op of ['max', 'min'] as const) {
      for (const dims of [[0], [1], [0, 1]]) {
        expectMatches(simd.reduce(op, x, dims, false), cpuReference.reduce(op, x, dims, false), `${op} dims [${dims}] with NaN`, 'exact');
      }
    }
  });
});

describe('softmax and logSoftmax', () => {
  const tol = { atol: 1e-6, rtol: 1e-5 };
  const widths = [1, 2, 3, 4, 5, 7, 8, 9, 10, 17, 64, 65];
  for (const name of ['softmax', 'logSoftmax'] as const) {
    it(`${name} and its backward match on rows of ${widths.join(', ')}`, () => {
      for (const cols of widths) {
        const x = random([13, cols], cols, 4), g = random([13, cols], 50 + cols);
        expectMatches(simd[name](x), cpuReference[name](x), `${name} [13,${cols}]`, tol);
        const y = cpuReference[name](x);
        const back = name === 'softmax' ? 'softmaxBackward' : 'logSoftmaxBackward';
        expectMatches(simd[back](y, g), cpuReference[back](y, g), `${back} [13,${cols}]`, tol);
      }
    });

    it(`${name} handles masked (-Infinity), huge and NaN entries as the reference does`, () => {
      const x = random([6, 17], 9, 3);
      x.data.fill(-Infinity, 0, 9); // a row half masked
      x.data.fill(-Infinity, 17, 34); // a row masked entirely: NaN
      x.data[40] = 1e4;
      x.data[41] = -1e4; // huge values: max subtraction keeps exp in range
      x.data[60] = NaN;
      x.data[80] = Infinity;
      expectMatches(simd[name](x), cpuReference[name](x), `${name} with edges`, tol);
    });
  }
});

describe('layerNorm', () => {
  const tol = { atol: 1e-5, rtol: 1e-5 };
  for (const cols of [1, 2, 3, 5, 8, 17, 64, 67, 128]) {
    it(`forward and backward match on rows of ${cols}, with and without weight and bias`, () => {
      const x = random([11, cols], cols, 2), g = random([11, cols], 40 + cols);
      const w = random([cols], 60 + cols), b = random([cols], 70 + cols);
      for (const [weight, bias] of [[w, b], [null, null], [w, null], [null, b]] as const) {
        const label = `[11,${cols}] weight ${weight ? 'yes' : 'no'} bias ${bias ? 'yes' : 'no'}`;
        for (const eps of [1e-5, 1e-12]) {
          const got = simd.layerNorm(x, weight, bias, eps), want = cpuReference.layerNorm(x, weight, bias, eps);
          // computed in f64 as the reference is, rounded once: at most an ulp apart (summing order)
          expectMatches(got.y, want.y, `layerNorm y ${label}`, { atol: 1e-7, rtol: 2.5e-7 });
          expectMatches(got.mean, want.mean, `layerNorm mean ${label}`, { atol: 0, rtol: 1.2e-7 });
          expectMatches(got.rstd, want.rstd, `layerNorm rstd ${label}`, { atol: 0, rtol: 1.2e-7 });
        }
        const { mean, rstd } = cpuReference.layerNorm(x, weight, bias, 1e-5);
        const got = simd.layerNormBackward(x, weight, mean, rstd, g), want = cpuReference.layerNormBackward(x, weight, mean, rstd, g);
        expectMatches(got.dx, want.dx, `layerNormBackward dx ${label}`, tol);
        expectMatches(got.dbias, want.dbias, `layerNormBackward dbias ${label}`, tol);
        if (weight) expectMatches(got.dweight!, want.dweight!, `layerNormBackward dweight ${label}`, tol);
        else expect(got.dweight).toBeNull();
      }
    });
  }

  it('keeps x - mean accurate when the mean is large next to the spread', () => {
    const x = random([9, 64], 3, 0.01);
    for (let i = 0; i < x.size; i++) x.data[i]! += 1000;
    const got = simd.layerNorm(x, null, null, 1e-12), want = cpuReference.layerNorm(x, null, null, 1e-12);
    // x - mean is 1e5 times smaller than x: f32 arithmetic would lose 17 bits of it here
    expectMatches(got.y, want.y, 'layerNorm with mean 1000', { atol: 1e-7, rtol: 2.5e-7 });
  });
});

describe('layout copies', () => {
  it('permute matches the reference bit for bit for every permutation of 2 to 4 dims and for 5 and 6 dims', () => {
    const perms = (n: number): number[][] => (n === 1 ? [[0]] : perms(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])));
    const shapes = [[9, 70], [7, 5, 19], [128, 17, 4, 16], [3, 1, 5, 7], [2, 3, 4, 5, 6], [4, 1, 4, 7, 4, 7]];
    shapes.forEach((shape, i) => {
      const x = random(shape, 80 + i);
      const list = shape.length <= 4 ? perms(shape.length) : [[0, 2, 4, 1, 3], [4, 3, 2, 1, 0], [0, 2, 4, 1, 3, 5], [1, 0, 2, 3, 4, 5]].filter((p) => p.length === shape.length);
      for (const p of list) expectMatches(simd.permute(x, p), cpuReference.permute(x, p), `permute [${shape}] by [${p}]`, 'exact');
    });
  });

  it('expand matches the reference bit for bit (rows, columns, scalars, leading dims, a plain copy)', () => {
    const cases: Array<[number[], number[]]> = [
      [[1, 70], [9, 70]], [[9, 1], [9, 70]], [[], [5, 30]], [[70], [3, 4, 70]], [[4, 1, 16], [4, 17, 16]],
      [[128, 17, 1], [128, 17, 64]], [[2, 1, 3, 1, 5], [2, 4, 3, 6, 5]], [[9, 70], [9, 70]],
    ];
    cases.forEach(([from, to], i) => {
      const x = random(from, 90 + i);
      expectMatches(simd.expand(x, to), cpuReference.expand(x, to), `expand [${from}] to [${to}]`, 'exact');
    });
  });
});

describe('batched matmul', () => {
  // each output matrix against its own 2-D product: the batch dims merged into one GEMM call
  // (contiguous), or looped over (a broadcast operand in the middle), must pick the same items
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[128, 4, 17, 16], [128, 4, 17, 16], false, true], [[128, 4, 17, 17], [128, 4, 17, 16], false, false],
    [[6, 5, 3, 7], [6, 5, 3, 4], true, false], [[2, 1, 3, 5, 7], [1, 4, 3, 7, 2], false, false],
    [[3, 1, 5, 7], [4, 7, 2], false, false], [[5, 7], [6, 7, 3], false, false], [[6, 7, 5], [7, 3], true, false],
    [[2, 3, 4, 5], [2, 1, 5, 6], false, false], [[2, 3, 4, 5], [2, 3, 6, 5], false, true],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    it(`[${sa}]${ta ? '^T' : ''} @ [${sb}]${tb ? '^T' : ''} equals the product of each pair of matrices`, () => {
      const a = random(sa, sa.length * 7 + 1), b = random(sb, sb.length * 7 + 2);
      const out = cpuBackend.matmul(a, b, ta, tb);
      const [M, N] = out.shape.slice(-2) as [number, number];
      const batch = out.shape.slice(0, -2);
      const items = batch.reduce((x, y) => x * y, 1);
      const matrix = (t: Tensor, index: number[], trans: boolean): Tensor => {
        const lead = t.shape.length - 2, [r, c] = t.shape.slice(-2) as [number, number];
        let off = 0;
        for (let d = 0; d < lead; d++) off = off * t.shape[d]! + (t.shape[d] === 1 ? 0 : index[index.length - lead + d]!);
        const m = new Tensor(t.data.slice(off * r * c, (off + 1) * r * c), [r, c]);
        return trans ? cpuReference.permute(m, [1, 0]) : m;
      };
      for (let item = 0; item < items; item++) {
        const index = batch.map((_, d) => Math.floor(item / batch.slice(d + 1).reduce((x, y) => x * y, 1)) % batch[d]!);
        const want = cpuReference.matmul(matrix(a, index, ta), matrix(b, index, tb), false, false);
        const got = new Tensor(out.data.slice(item * M * N, (item + 1) * M * N), [M, N]);
        expectMatches(got, want, `item [${index}]`, { atol: 1e-5, rtol: 1e-5 });
      }
    });
  }
});

describe('quantizers', () => {
  it('absmaxQuantize matches bit for bit per token and per tensor, 8 and 4 bits', () => {
    for (const cols of [1, 3, 4, 7, 17, 64, 128]) {
      const x = random([19, cols], cols, 2);
      x.data.fill(0, 0, cols); // an all-zero token: the scale comes from eps
      if (cols > 2) x.data[cols + 1] = NaN; // NaN is passed over by the max, as in the reference
      for (const qmax of [127, 7]) {
        for (const group of [cols, x.size]) {
          const got = simd.absmaxQuantize(x, group, qmax, 1e-5), want = cpuReference.absmaxQuantize(x, group, qmax, 1e-5);
          expectMatches(got.q, want.q, `absmax q [19,${cols}] group ${group} qmax ${qmax}`, 'exact');
          expectMatches(got.scale, want.scale, `absmax scale [19,${cols}] group ${group} qmax ${qmax}`, 'exact');
        }
      }
    }
  });

  it('absmaxQuantize rounds ties to even (scale 1: the row max is 127)', () => {
    const row = [127, 2.5, -3.5, 0.5, -0.5, 1.5, 126.5, -126.5, 3.4, ...Array<number>(71).fill(1.25)];
    const x = tensor([row]);
    const got = simd.absmaxQuantize(x, row.length, 127, 1e-5);
    expect(got.scale.data[0]).toBe(1);
    expect(Array.from(got.q.data.slice(0, 9))).toEqual([127, 2, -4, 0, -0, 2, 126, -126, 3]);
    expectMatches(got.q, cpuReference.absmaxQuantize(x, row.length, 127, 1e-5).q, 'ties', 'exact');
  });

  it('ternaryQuantize matches bit for bit per tensor and per row, ties included', () => {
    for (const cols of [1, 5, 64, 67]) {
      const x = random([23, cols], cols, 0.1);
      x.data[0] = 0.05; // x / 0.1 = 0.5: a tie, rounds to 0
      x.data[x.size - 1] = -0.15; // -1.5 rounds to -2, clipped to -1
      const perTensor = new Tensor(Float32Array.of(0.1), [1]);
      expectMatches(simd.ternaryQuantize(x, perTensor, x.size), cpuReference.ternaryQuantize(x, perTensor, x.size), `ternary per tensor ${cols}`, 'exact');
      const perRow = random([23], 5).abs();
      expectMatches(simd.ternaryQuantize(x, perRow, cols), cpuReference.ternaryQuantize(x, perRow, cols), `ternary per row ${cols}`, 'exact');
    }
  });
});

describe('on two threads', () => {
  const before = kernelThreads();
  afterAll(() => setKernelThreads(before));

  it('splits the heavy kernels over a worker and gives the one-thread results bit for bit', () => {
    const x = random([3000, 17], 1, 3), big = random([2000, 128], 2, 2), g = random([2000, 128], 3);
    const w = random([128], 4), b = random([128], 5);
    const runs: Array<[string, () => Tensor[]]> = [
      ['gelu', () => [simd.unary('gelu', big)]],
      ['exp', () => [simd.unary('exp', big)]],
      ['geluBackward', () => [simd.geluBackward(big, g)]],
      ['softmax', () => [simd.softmax(x)]],
      ['logSoftmax', () => [simd.logSoftmax(x)]],
      ['layerNorm', () => { const r = simd.layerNorm(big, w, b, 1e-5); return [r.y, r.mean, r.rstd]; }],
      ['absmaxQuantize', () => { const r = simd.absmaxQuantize(big, 128, 127, 1e-5); return [r.q, r.scale]; }],
    ];
    setKernelThreads(1);
    const one = runs.map(([, run]) => run());
    setKernelThreads(2);
    expect(kernelThreads()).toBe(2);
    const unitsBefore = kernelRuntime()!.workerUnits;
    for (let rep = 0; rep < 5; rep++) {
      runs.forEach(([name, run], i) => run().forEach((t, j) => expectMatches(t, one[i]![j]!, `${name} output ${j}, two threads`, 'exact')));
    }
    // the worker took part (under heavy load it may take few units, but not none in 35 calls)
    expect(kernelRuntime()!.workerUnits).toBeGreaterThan(unitsBefore);
    expectMatches(one[0]![0]!, cpuReference.unary('gelu', big), 'gelu against the reference', { atol: 1e-6, rtol: 1e-6 });
  });

  it('stays exact through 200 quick jobs while the thread count changes between 1 and 4 (more than cores)', () => {
    const x = random([700, 64], 8, 2);
    setKernelThreads(1);
    const want = [simd.unary('gelu', x), simd.softmax(x), simd.absmaxQuantize(x, 64, 127, 1e-5).q];
    for (let i = 0; i < 200; i++) {
      if (i % 25 === 0) setKernelThreads(1 + ((i / 25) % 4));
      const got = [simd.unary('gelu', x), simd.softmax(x), simd.absmaxQuantize(x, 64, 127, 1e-5).q][i % 3]!;
      expectMatches(got, want[i % 3]!, `job ${i} on ${kernelThreads()} threads`, 'exact');
    }
  });
});
