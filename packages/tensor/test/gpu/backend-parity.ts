// The gpu backend against the real CPU backend, method by method, runnable anywhere the gpu
// backend opens: in Node (backend.test.ts, gpu.js webasm) and in headless Chromium
// (browser-backend.test.ts bundles this file for the page: WebGL2 and WebGL).
//
// Every Backend method runs on seeded random tensors of small, odd shapes on both backends;
// the gpu result must live on the device (a silent CPU fallback fails), have the CPU result's
// shape, and agree elementwise: |gpu - cpu| <= atol + rtol * |cpu|. Inputs are given both as
// CPU tensors (uploaded per call) and as device tensors, including reshaped views of them.
// Then a few graphs through autograd (forward and backward on both backends, and gradcheck on
// the gpu backend). The checks return plain data; the vitest files assert on it.
import {
  type Backend,
  type Tensor,
  Tensor as TensorClass,
  backendInfo,
  cpuBackend,
  gpuBackend,
  gradcheck,
  layerNorm,
  linear,
  matmul,
  setBackend,
} from '../../src/index.js';
import { compare, type ParityResult } from './parity.js';
import * as ref from './reference.js';

export interface BackendParityReport {
  /** backendInfo() while the checks ran */
  backend: { name: string; description: string; mode: string | null };
  results: ParityResult[];
  /** methods of the Backend interface the checks called on the gpu backend */
  methodsCovered: string[];
  liveArraysBefore: number;
  liveArraysAfter: number;
  totalMs: number;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

// Tolerances, stated once: |gpu - cpu| <= atol + rtol * |cpu|
export const TOLERANCE = {
  /** copies, comparisons, max/min, argmax, where, clamp, layout ops: bit-exact */
  exact: [0, 0],
  /** + - * / and other one-rounding ops */
  arithmetic: [1e-6, 2e-6],
  /** exp, log, tanh, erf, gelu, pow...: float32 transcendentals differ from V8's double ones in the last bits */
  transcendental: [2e-6, 1e-5],
  /** sums of n values: float32 accumulation (the CPU adds in double) */
  sum: (n: number): [number, number] => [2e-6 * Math.sqrt(n), 1e-5],
  /** dot products of length K */
  matmul: (K: number): [number, number] => [2e-6 * Math.sqrt(K), 1e-5],
  /** softmax, layerNorm and their backwards */
  normalization: [1e-5, 1e-4],
  /** quantizers: the codes are exact; scales and dequantized values to float32 rounding */
  quantizer: [0, 1e-6],
  /** losses and gradients of small graphs through autograd */
  graph: [2e-5, 1e-4],
} as const;

/**
 * Runs every check with the gpu backend selected (it must already be started in the mode to
 * test) and restores the CPU backend after. About 2 s on webasm, 20 s on SwiftShader WebGL2.
 */
export function runBackendParity(seed = 4321): BackendParityReport {
  const gpu: Backend = gpuBackend;
  const cpu: Backend = cpuBackend;
  const random = ref.seededRandom(seed);
  const results: ParityResult[] = [];
  const covered = new Set<string>();
  const start = now();
  const device = gpuBackend.device;
  if (device === null) throw new Error('runBackendParity: start the gpu backend first (setBackend("gpu", { mode }))');
  const liveArraysBefore = device.liveArrays;

  const randn = (shape: number[], scale = 1) => new TensorClass(ref.randn(random, ref.sizeOf(shape), scale), shape);
  const uniform = (shape: number[], low: number, high: number) => new TensorClass(ref.uniform(random, ref.sizeOf(shape), low, high), shape);
  // the same values as a device tensor (a copy kernel), so kernels see resident inputs too
  const onDevice = (t: Tensor) => gpu.expand(t, t.shape);

  /** Runs `method` on both backends and compares every output tensor. */
  const check = (name: string, method: keyof Backend, tolerance: readonly [number, number], run: (b: Backend) => Tensor | (Tensor | null)[], onHost = false) => {
    covered.add(method);
    const t0 = now();
    try {
      const expected = [run(cpu)].flat();
      const got = [run(gpu)].flat();
      got.forEach((g, i) => {
        const e = expected[i];
        const label = got.length > 1 ? `${name} #${i}` : name;
        if (g === null || e === null || e === undefined) {
          if (g !== e) results.push(fail(label, `gpu gave ${g === null ? 'null' : 'a tensor'}, cpu ${e === null ? 'null' : 'a tensor'}`));
          return;
        }
        if (g.shape.join(',') !== e.shape.join(',')) {
          results.push(fail(label, `shape [${g.shape}] vs cpu [${e.shape}]`));
          return;
        }
        // an empty result (or one from an empty input) is made on the CPU; everything else must come from the device
        if (g.size > 0 && !onHost && g.deviceStorage?.backend !== 'gpu') {
          results.push(fail(label, 'result is not on the device (a CPU fallback)'));
          return;
        }
        results.push({ ...compare(label, g.data, e.data, tolerance[0], tolerance[1]), ms: now() - t0 });
      });
    } catch (error) {
      results.push(fail(name, `threw: ${(error as Error).message}`));
    }
  };

  // ---- elementwise
  const unaryDomains: [Parameters<Backend['unary']>[0], number, number, readonly [number, number]][] = [
    ['neg', -3, 3, TOLERANCE.exact], ['abs', -3, 3, TOLERANCE.exact], ['sign', -3, 3, TOLERANCE.exact],
    ['relu', -3, 3, TOLERANCE.exact], ['square', -3, 3, TOLERANCE.arithmetic], ['reciprocal', 0.1, 5, TOLERANCE.arithmetic],
    ['sqrt', 0, 10, TOLERANCE.arithmetic], ['rsqrt', 0.01, 10, TOLERANCE.transcendental], ['exp', -5, 5, TOLERANCE.transcendental],
    ['log', 0.01, 10, TOLERANCE.transcendental], ['tanh', -9, 9, TOLERANCE.transcendental], ['sigmoid', -12, 12, TOLERANCE.transcendental],
    ['erf', -4, 4, TOLERANCE.transcendental], ['gelu', -6, 6, TOLERANCE.transcendental], ['round', -6, 6, TOLERANCE.exact],
  ];
  for (const [op, low, high, tolerance] of unaryDomains) {
    const x = uniform([3, 5, 7], low, high);
    if (op === 'round') x.data.set([0.5, -0.5, 1.5, -1.5, 2.5, -2.5]); // ties go to even
    if (op === 'sign') x.data[0] = 0;
    check(`unary ${op} [3,5,7]`, 'unary', tolerance, (b) => b.unary(op, x));
  }
  // a view: a device tensor reshaped shares its storage, and the kernel sees the view's shape
  const viewed = uniform([4, 6], -2, 2);
  const viewedStorage = onDevice(viewed).deviceStorage!;
  check('unary exp of a resident view [4,6] as [2,12]', 'unary', TOLERANCE.transcendental, (b) => b.unary('exp', new TensorClass(b === gpu ? viewedStorage : viewed.data, [2, 12])));

  const binaryOps: Parameters<Backend['binary']>[0][] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'gt', 'ge', 'lt', 'le', 'eq'];
  const broadcasts: [number[], number[]][] = [[[3, 5, 7], [3, 5, 7]], [[2, 3, 5], [5]], [[3, 1, 7], [1, 5, 1]], [[2, 3, 4, 5], [2, 1, 4, 1]], [[4, 3], []]];
  for (const [aShape, bShape] of broadcasts) {
    for (const op of binaryOps) {
      const a = op === 'pow' ? uniform(aShape, 0.1, 3) : randn(aShape);
      const b = op === 'div' || op === 'pow' ? uniform(bShape, 0.5, 2) : randn(bShape);
      if (op === 'eq' || op === 'ge' || op === 'le') a.data.set(b.data.subarray(0, Math.min(a.size, b.size)));
      const tolerance = op === 'pow' ? TOLERANCE.transcendental : op === 'div' ? TOLERANCE.arithmetic : TOLERANCE.exact;
      const resident = aShape.length === 3 ? onDevice(a) : a;
      check(`binary ${op} [${aShape}] with [${bShape}]`, 'binary', op === 'add' || op === 'sub' || op === 'mul' ? TOLERANCE.arithmetic : tolerance, (bk) => bk.binary(op, bk === gpu ? resident : a, b));
    }
  }
  // a negative base to integer exponents (what x.pow(2) and x.pow(3) need), and x^0 = 1 for x = 0
  const base = new TensorClass(Float32Array.from([-2, -1.5, -0.5, 0, 0.5, 2, -3, 0]), [8]);
  const exponent = new TensorClass(Float32Array.from([2, 3, 2, 0, 3, 2, 1, 2]), [8]);
  check('binary pow of negative bases, integer exponents', 'binary', TOLERANCE.transcendental, (b) => b.binary('pow', base, exponent));

  const clampInput = randn([5, 9], 2);
  check('clamp [5,9] to [-1, 0.5]', 'clamp', TOLERANCE.exact, (b) => b.clamp(clampInput, -1, 0.5));
  check('clamp [5,9] to [-inf, 0.5]', 'clamp', TOLERANCE.exact, (b) => b.clamp(clampInput, -Infinity, 0.5));
  check('clamp [5,9] to [-1, inf]', 'clamp', TOLERANCE.exact, (b) => b.clamp(clampInput, -1, Infinity));
  for (const [cShape, aShape, bShape] of [[[4, 5], [4, 5], [4, 5]], [[3, 1], [1, 6], []], [[2, 1, 5], [5], [3, 1]]] as number[][][]) {
    const cond = new TensorClass(Float32Array.from(ref.randn(random, ref.sizeOf(cShape)), (v) => (v > 0 ? 1 : 0)), cShape);
    const [a, b] = [randn(aShape), randn(bShape)];
    check(`where [${cShape}] ? [${aShape}] : [${bShape}]`, 'where', TOLERANCE.exact, (bk) => bk.where(cond, a, b));
  }
  const geluX = randn([6, 11], 3);
  const geluG = randn([6, 11]);
  check('geluBackward [6,11]', 'geluBackward', TOLERANCE.transcendental, (b) => b.geluBackward(geluX, geluG));

  // ---- reductions: every kind of dim set, size-1 dims, and long rows that take the two-pass path
  const reduceCases: [number[], number[], boolean][] = [
    [[3, 5, 7], [2], false], [[3, 5, 7], [0], true], [[3, 5, 7], [1], false], [[3, 5, 7], [0, 2], false],
    [[3, 5, 7], [0, 1, 2], false], [[3, 5, 7], [1, 2], true], [[2, 3, 4, 5], [0, 2], false], [[1, 4, 1, 6], [0, 2], false],
    [[9001], [0], false], [[3, 5000], [1], true], [[1100, 3], [0], false], [[], [], false],
  ];
  for (const [shape, dims, keepdim] of reduceCases) {
    const x = randn(shape);
    const n = dims.reduce((p, d) => p * shape[d]!, 1);
    for (const op of ['sum', 'max', 'min'] as const) {
      check(`reduce ${op} [${shape}] dims [${dims}]${keepdim ? ' keepdim' : ''}`, 'reduce', op === 'sum' ? TOLERANCE.sum(n) : TOLERANCE.exact, (b) => b.reduce(op, x, dims, keepdim));
    }
  }
  const ties = new TensorClass(Float32Array.from([1, 3, 3, 0, -2, -2, 5, 5, 5, 1, 7, 7]), [3, 4]);
  for (const op of ['max', 'min'] as const) {
    check(`argReduce ${op} with ties [3,4] dim 1`, 'argReduce', TOLERANCE.exact, (b) => b.argReduce(op, ties, 1, false));
    for (const dim of [0, 1, 2]) {
      const x = randn([3, 5, 7]);
      check(`argReduce ${op} [3,5,7] dim ${dim}`, 'argReduce', TOLERANCE.exact, (b) => b.argReduce(op, x, dim, dim === 1));
    }
  }

  // ---- layout
  for (const [shape, perm] of [[[2, 3, 4, 5], [0, 2, 1, 3]], [[3, 1, 2, 5], [3, 1, 2, 0]], [[2, 1, 2, 3, 2, 3], [0, 2, 4, 1, 3, 5]], [[7, 9], [1, 0]]] as number[][][]) {
    const x = randn(shape);
    check(`permute [${shape}] by [${perm}]`, 'permute', TOLERANCE.exact, (b) => b.permute(b === gpu ? onDevice(x) : x, perm));
  }
  for (const [from, to] of [[[3, 1, 5], [2, 3, 4, 5]], [[1], [7]], [[4, 1], [4, 6]]] as number[][][]) {
    const x = randn(from);
    check(`expand [${from}] to [${to}]`, 'expand', TOLERANCE.exact, (b) => b.expand(x, to));
  }
  const sliced = randn([4, 6, 5]);
  for (const [dim, begin, length] of [[1, 2, 3], [0, 3, 1], [2, 0, 5], [2, 1, 0]]) {
    check(`slice [4,6,5] dim ${dim} from ${begin} length ${length}`, 'slice', TOLERANCE.exact, (b) => b.slice(sliced, dim!, begin!, length!));
  }
  const parts = [randn([2, 3, 4]), randn([2, 1, 4]), randn([2, 5, 4])];
  check('concat [2,3,4] [2,1,4] [2,5,4] dim 1', 'concat', TOLERANCE.exact, (b) => b.concat(b === gpu ? [onDevice(parts[0]!), parts[1]!, parts[2]!] : parts, 1));
  const rows = [randn([3, 7]), randn([2, 7])];
  check('concat [3,7] [2,7] dim 0', 'concat', TOLERANCE.exact, (b) => b.concat(rows, 0));
  const lanes = [randn([2, 3, 1]), randn([2, 3, 4])];
  check('concat [2,3,1] [2,3,4] dim 2', 'concat', TOLERANCE.exact, (b) => b.concat(lanes, 2));
  const table = randn([5, 7, 3]);
  const picks = Int32Array.from([6, 0, 0, 3]);
  check('indexSelect [5,7,3] dim 1 [6,0,0,3]', 'indexSelect', TOLERANCE.exact, (b) => b.indexSelect(table, 1, picks));
  check('indexSelect [5,7,3] dim 0 [4,1]', 'indexSelect', TOLERANCE.exact, (b) => b.indexSelect(table, 0, Int32Array.from([4, 1])));
  const picked = randn([5, 4, 3]);
  check('indexAdd [5,7,3] dim 1 [6,0,0,3] (repeats add up)', 'indexAdd', TOLERANCE.arithmetic, (b) => b.indexAdd([5, 7, 3], 1, picks, picked));
  const band = randn([5, 3, 3]);
  check('indexAdd [5,7,3] dim 1 [2,3,4] (a range: zero padding)', 'indexAdd', TOLERANCE.exact, (b) => b.indexAdd([5, 7, 3], 1, Int32Array.from([2, 3, 4]), band));
  const gatherCases: [number[], number, number[]][] = [[[4, 6], 1, [4, 2]], [[3, 4, 5], 0, [2, 4, 5]], [[3, 4, 5], 1, [2, 3, 5]], [[6, 10], 1, [6, 1]]];
  for (const [shape, dim, indexShape] of gatherCases) {
    const x = randn(shape);
    const index = Int32Array.from({ length: ref.sizeOf(indexShape) }, () => Math.floor(random() * shape[dim]!));
    const src = randn(indexShape);
    check(`gather [${shape}] dim ${dim} index [${indexShape}]`, 'gather', TOLERANCE.exact, (b) => b.gather(x, dim, index, indexShape));
    check(`scatterAdd [${shape}] dim ${dim} index [${indexShape}]`, 'scatterAdd', TOLERANCE.arithmetic, (b) => b.scatterAdd(shape, dim, index, b === gpu ? onDevice(src) : src));
  }

  // ---- matmul: every transpose, odd sizes, shared 2-D operands, general broadcast of leading dims
  const matmulCases: [number[], number[], boolean, boolean][] = [
    [[7, 13], [13, 5], false, false], [[13, 7], [13, 5], true, false], [[7, 13], [5, 13], false, true], [[13, 7], [5, 13], true, true],
    [[3, 5, 6], [3, 6, 7], false, false], [[2, 9, 17], [11, 17], false, true], [[9, 17], [2, 9, 5], true, false],
    [[2, 1, 4, 5], [1, 3, 5, 6], false, false], [[2, 3, 4, 5], [3, 6, 5], false, true], [[1, 1], [1, 1], false, false],
  ];
  for (const [aShape, bShape, transA, transB] of matmulCases) {
    const a = randn(aShape);
    const b = randn(bShape);
    const K = transA ? aShape.at(-2)! : aShape.at(-1)!;
    check(`matmul [${aShape}]${transA ? '^T' : ''} @ [${bShape}]${transB ? '^T' : ''}`, 'matmul', TOLERANCE.matmul(K), (bk) => bk.matmul(bk === gpu ? onDevice(a) : a, b, transA, transB));
  }

  // ---- normalisations
  for (const [shape, scale] of [[[3, 4, 13], 1], [[2, 17], 30], [[], 1]] as [number[], number][]) {
    const x = randn(shape, scale);
    const g = randn(shape);
    check(`softmax [${shape}] x${scale}`, 'softmax', TOLERANCE.normalization, (b) => b.softmax(x));
    check(`logSoftmax [${shape}] x${scale}`, 'logSoftmax', TOLERANCE.normalization, (b) => b.logSoftmax(x));
    const y = cpu.softmax(x);
    const logY = cpu.logSoftmax(x);
    check(`softmaxBackward [${shape}]`, 'softmaxBackward', TOLERANCE.normalization, (b) => b.softmaxBackward(y, g));
    check(`logSoftmaxBackward [${shape}]`, 'logSoftmaxBackward', TOLERANCE.normalization, (b) => b.logSoftmaxBackward(logY, g));
  }
  for (const [shape, eps, affine] of [[[2, 5, 24], 1e-12, true], [[3, 7], 1e-5, false]] as [number[], number, boolean][]) {
    const D = shape.at(-1)!;
    const x = randn(shape, 2);
    const w = affine ? uniform([D], 0.5, 1.5) : null;
    const bias = affine ? randn([D], 0.1) : null;
    const g = randn(shape);
    check(`layerNorm [${shape}] eps ${eps}${affine ? '' : ' no affine'}`, 'layerNorm', TOLERANCE.normalization, (b) => {
      const { y, mean, rstd } = b.layerNorm(x, w, bias, eps);
      return [y, mean, rstd];
    });
    const { mean, rstd } = cpu.layerNorm(x, w, bias, eps);
    check(`layerNormBackward [${shape}]${affine ? '' : ' no affine'}`, 'layerNormBackward', TOLERANCE.normalization, (b) => {
      const { dx, dweight, dbias } = b.layerNormBackward(x, w, mean, rstd, g);
      return [dx, dweight, dbias];
    });
  }

  // ---- quantizers (BitLinear): per token, per tensor, 4-bit, ternary per tensor and per row
  const acts = randn([3, 5, 17], 2);
  check('absmaxQuantize per token (int8) [3,5,17]', 'absmaxQuantize', TOLERANCE.quantizer, (b) => Object.values(b.absmaxQuantize(acts, 17, 127, 1e-5)));
  check('absmaxQuantize per tensor (4-bit) [3,5,17]', 'absmaxQuantize', TOLERANCE.quantizer, (b) => Object.values(b.absmaxQuantize(acts, acts.size, 7, 1e-5)));
  const weights = randn([13, 29], 0.02);
  const gamma = cpu.reduce('sum', cpu.unary('abs', weights), [0, 1], false);
  const perTensor = new TensorClass(Float32Array.of(Math.max(gamma.data[0]! / weights.size, 1e-5)), [1]);
  check('ternaryQuantize per tensor [13,29]', 'ternaryQuantize', TOLERANCE.quantizer, (b) => b.ternaryQuantize(weights, perTensor, weights.size));
  const perRow = uniform([13, 1], 0.005, 0.03);
  check('ternaryQuantize per row [13,29]', 'ternaryQuantize', TOLERANCE.quantizer, (b) => b.ternaryQuantize(weights, perRow, 29));

  // ---- empty tensors: made on the CPU, never sent to gpu.js
  const none = new TensorClass(new Float32Array(0), [0, 3]);
  check('unary on an empty tensor', 'unary', TOLERANCE.exact, (b) => b.unary('exp', none));
  check('reduce sum over an empty dim', 'reduce', TOLERANCE.exact, (b) => b.reduce('sum', none, [0], false), true);
  const right = randn([3, 2]);
  check('matmul [0,3] @ [3,2]', 'matmul', TOLERANCE.exact, (b) => b.matmul(none, right, false, false));

  // ---- through autograd: the same small graphs, forward and backward, on both backends
  results.push(...graphParity(random));

  return {
    backend: backendInfo(),
    results,
    methodsCovered: [...covered].sort(),
    liveArraysBefore,
    liveArraysAfter: device.liveArrays,
    totalMs: now() - start,
  };
}

function fail(name: string, message: string): ParityResult {
  return { name, maxAbsError: Infinity, worstRatio: Infinity, worst: message, tolerance: '-', pass: false, ms: 0 };
}

/**
 * Small graphs through the public ops: each is run with the CPU backend and with the gpu backend
 * selected, from the same leaf values; the output and every leaf gradient are compared. Then
 * gradcheck on the gpu backend (finite differences through uploads of the perturbed leaves).
 */
function graphParity(random: () => number): ParityResult[] {
  const results: ParityResult[] = [];
  const leaf = (shape: number[], scale = 1) => ref.randn(random, ref.sizeOf(shape), scale);
  const graphs: { name: string; shapes: number[][]; fn: (...xs: Tensor[]) => Tensor }[] = [
    {
      name: 'linear + gelu + layerNorm + cross entropy',
      shapes: [[6, 10], [8, 10], [8], [8], [8]],
      fn: (x, w, b, lnw, lnb) => {
        const h = layerNorm(linear(x!, w!, b!).gelu(), lnw!, lnb!, 1e-5);
        const logp = h.logSoftmax(-1);
        const target = new TensorClass(Float32Array.from([1, 0, 7, 3, 3, 5]), [6, 1]);
        return logp.gather(1, target).mean().neg();
      },
    },
    {
      name: 'attention: heads, q k^T, softmax, @ v, merge',
      shapes: [[2, 5, 12], [12, 12]],
      fn: (x, w) => {
        const qkv = matmul(x!, w!, { transB: true }).reshape(2, 5, 3, 4).permute(0, 2, 1, 3);
        const scores = matmul(qkv, qkv, { transB: true }).mul(0.5).softmax(-1);
        const out = matmul(scores, qkv).permute(0, 2, 1, 3).reshape(2, 5, 12);
        return out.mul(out).mean();
      },
    },
    {
      name: 'slices, concat, expand, max, sum over dims, pow, sqrt, where',
      shapes: [[3, 4, 5], [1, 4, 1]],
      fn: (x, s) => {
        const joined = x!.slice(1, 1, 3).add(s!.expand(3, 4, 1).slice(1, 1, 3));
        const y = joined.max(2, true).mul(joined.pow(2).sum([0, 2], true).add(1).sqrt());
        return y.sum().add(joined.abs().clamp(0.2, 1).sum());
      },
    },
  ];
  for (const graph of graphs) {
    const values = graph.shapes.map((shape) => leaf(shape));
    const runOn = (name: 'cpu' | 'gpu') => {
      setBackend(name);
      const leaves = values.map((v, i) => new TensorClass(Float32Array.from(v), graph.shapes[i]!).requiresGrad_());
      const out = graph.fn(...leaves);
      out.backward();
      const grads = leaves.map((l) => l.grad);
      return { out, grads };
    };
    try {
      const cpuRun = runOn('cpu');
      const gpuRun = runOn('gpu');
      const onDevice = gpuRun.out.deviceStorage?.backend === 'gpu';
      results.push(onDevice ? compare(`graph ${graph.name}: output`, gpuRun.out.data, cpuRun.out.data, ...TOLERANCE.graph) : fail(`graph ${graph.name}: output`, 'not computed on the device'));
      gpuRun.grads.forEach((g, i) => {
        const name = `graph ${graph.name}: grad of input ${i}`;
        const e = cpuRun.grads[i];
        results.push(g && e ? compare(name, g.data, e.data, ...TOLERANCE.graph) : fail(name, 'missing gradient'));
      });
    } catch (error) {
      results.push(fail(`graph ${graph.name}`, `threw: ${(error as Error).message}`));
    } finally {
      setBackend('gpu');
    }
  }
  // finite differences on the gpu backend itself: every perturbed leaf is uploaded afresh
  const checks: [string, (...xs: Tensor[]) => Tensor, number[][]][] = [
    ['gradcheck tanh(x @ w) * softmax', (x, w) => matmul(x!, w!).tanh().mul(matmul(x!, w!).softmax(-1)), [[3, 4], [4, 5]]],
    ['gradcheck layerNorm', (x, w, b) => layerNorm(x!, w!, b!, 1e-5), [[2, 6], [6], [6]]],
  ];
  for (const [name, fn, shapes] of checks) {
    setBackend('gpu');
    const inputs = shapes.map((shape) => new TensorClass(leaf(shape), shape));
    const r = gradcheck(fn, inputs, { eps: 1e-2, atol: 2e-3, rtol: 2e-2 });
    results.push({ name, maxAbsError: r.maxAbsError, worstRatio: r.ok ? 0 : Infinity, worst: r.message || 'none', tolerance: 'eps 1e-2, atol 2e-3, rtol 2e-2', pass: r.ok, ms: 0 });
  }
  return results;
}
