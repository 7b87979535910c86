// Every GEMM path against a naive triple loop (in float64) on random and odd shapes.
import { afterAll, describe, expect, it } from 'vitest';
import { gemm, gemmInfo, gemmReference, type GemmArgs } from '../src/kernels/gemm/index.js';
import { resolveGemmArgs } from '../src/kernels/gemm/args.js';
import { WasmGemm, hasWasmSimd } from '../src/kernels/gemm/wasm-gemm.js';
import { theHeap } from '../src/kernels/wasm/heap.js';

/** mulberry32: a small seeded generator, so every run checks the same numbers. */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArray(n: number, random: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

/** The definition, item by item, in float64: C = op(A) op(B) (+ C). */
function naiveGemm(args: GemmArgs): void {
  const g = resolveGemmArgs(args);
  for (let item = 0; item < g.batch; item++) {
    const a0 = g.aOff + item * g.strideA, b0 = g.bOff + item * g.strideB, c0 = g.cOff + item * g.strideC;
    for (let i = 0; i < g.M; i++) {
      for (let j = 0; j < g.N; j++) {
        let sum = 0;
        for (let k = 0; k < g.K; k++) {
          const a = g.A[a0 + (g.transA ? k * g.M + i : i * g.K + k)]!;
          const b = g.B[b0 + (g.transB ? j * g.K + k : k * g.N + j)]!;
          sum += a * b;
        }
        g.C[c0 + i * g.N + j] = (g.accumulate ? g.C[c0 + i * g.N + j]! : 0) + sum + (g.bias ? g.bias[g.biasOff + j]! : 0);
      }
    }
  }
}

interface Case {
  M: number; N: number; K: number;
  transA?: boolean; transB?: boolean;
  batch?: number; strideA?: number; strideB?: number; strideC?: number;
  aOff?: number; bOff?: number; cOff?: number;
  accumulate?: boolean;
  /** a bias row (N floats from biasOff) added last */
  bias?: boolean;
  biasOff?: number;
}

function name(c: Case): string {
  const t = `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'}`;
  const extras = Object.entries(c).filter(([k]) => !['M', 'N', 'K', 'transA', 'transB'].includes(k));
  return `${c.M}x${c.N}x${c.K} ${t}${extras.length ? ' ' + extras.map(([k, v]) => `${k}=${v}`).join(' ') : ''}`;
}

/** Builds the arrays of a case (with room for offsets and strides, and sentinels around C). */
function makeArgs(c: Case, seed: number): GemmArgs {
  const random = generator(seed);
  const batch = c.batch ?? 1;
  const strideA = c.strideA ?? c.M * c.K, strideB = c.strideB ?? c.K * c.N, strideC = c.strideC ?? c.M * c.N;
  const span = (off: number, stride: number, size: number): number => off + Math.max(0, batch - 1) * stride + size + 3;
  const C = randomArray(span(c.cOff ?? 0, strideC, c.M * c.N), random);
  return {
    transA: c.transA ?? false, transB: c.transB ?? false, M: c.M, N: c.N, K: c.K, batch,
    A: randomArray(span(c.aOff ?? 0, strideA, c.M * c.K), random), aOff: c.aOff ?? 0, strideA,
    B: randomArray(span(c.bOff ?? 0, strideB, c.K * c.N), random), bOff: c.bOff ?? 0, strideB,
    C, cOff: c.cOff ?? 0, strideC, accumulate: c.accumulate ?? false,
    bias: c.bias ? randomArray((c.biasOff ?? 0) + c.N + 2, random) : null, biasOff: c.biasOff ?? 0,
  };
}

function expectClose(got: Float32Array, want: Float32Array, K: number, what: string): void {
  const tolerance = 1e-5 * Math.sqrt(Math.max(K, 1));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= tolerance * (1 + Math.abs(want[i]!)))) {
      throw new Error(`${what}: C[${i}] = ${got[i]}, want ${want[i]} (error ${err}, tolerance ${tolerance})`);
    }
  }
}

const cases: Case[] = [
  { M: 1, N: 1, K: 1 },
  { M: 1, N: 37, K: 1 },
  { M: 1, N: 300, K: 1, transB: true },
  { M: 7, N: 13, K: 5 },
  { M: 65, N: 33, K: 17 },
  { M: 3, N: 2, K: 1 },
  { M: 9, N: 17, K: 300 }, // K past one K block (256)
  { M: 130, N: 200, K: 513 }, // three row units, two B packing tasks, three K blocks
  { M: 64, N: 64, K: 1024 }, // a power-of-two row length
  { M: 1, N: 1, K: 3000 }, // a long dot product (split along K to fit the small memory below)
  { M: 0, N: 5, K: 3 },
  { M: 4, N: 5, K: 0 },
  { M: 1, N: 40, K: 24, batch: 5 }, // M = 1, batched
  { M: 65, N: 65, K: 32, batch: 6, transB: true }, // attention scores Q K^T
  { M: 65, N: 32, K: 65, batch: 3 }, // attention output P V
  { M: 12, N: 9, K: 10, batch: 4, strideB: 0 }, // one B for every item
  { M: 12, N: 9, K: 10, batch: 4, strideA: 0, transA: true }, // one A for every item
  { M: 5, N: 6, K: 7, batch: 3, strideC: 0 }, // items overwrite the same C in turn
  { M: 5, N: 6, K: 7, batch: 3, strideC: 0, accumulate: true }, // ... or sum into it
  { M: 11, N: 19, K: 23, accumulate: true },
  { M: 33, N: 21, K: 40, batch: 2, accumulate: true, transA: true, transB: true },
  { M: 10, N: 12, K: 14, aOff: 3, bOff: 5, cOff: 7 },
  { M: 10, N: 12, K: 14, batch: 3, aOff: 1, bOff: 2, cOff: 3, strideA: 150, strideB: 170, strideC: 130 },
  // a bias row added last: one K block, several (the last one adds it), split along N and K when
  // the memory is small, batched, accumulating, empty K, an offset into the bias array
  { M: 7, N: 13, K: 5, bias: true },
  { M: 130, N: 200, K: 513, bias: true, biasOff: 3 },
  { M: 1, N: 1, K: 3000, bias: true },
  { M: 2, N: 700, K: 40, bias: true },
  { M: 4, N: 5, K: 0, bias: true },
  { M: 11, N: 19, K: 300, accumulate: true, bias: true },
  { M: 65, N: 32, K: 65, batch: 3, bias: true, biasOff: 1 },
];
// all four transpose cases of every shape that does not fix them
const allCases: Case[] = cases.flatMap((c) =>
  c.transA !== undefined || c.transB !== undefined
    ? [c]
    : [false, true].flatMap((transA) => [false, true].map((transB) => ({ ...c, transA, transB }))),
);

type Path = (args: GemmArgs) => void;

function checkPath(path: Path, c: Case, seed: number): void {
  const args = makeArgs(c, seed);
  const want = args.C.slice();
  naiveGemm({ ...args, C: want });
  path(args);
  expectClose(args.C, want, c.K, name(c)); // also checks that nothing outside the C matrices moved
}

const simd = hasWasmSimd();
const oneThread = simd ? new WasmGemm(false) : null;
const twoThreads = simd ? new WasmGemm(false) : null;
const splitting = simd ? new WasmGemm(false) : null;
if (twoThreads) {
  twoThreads.setThreads(2);
  twoThreads.parallelMinFlops = 0; // split even the smallest call, to test the pool on odd shapes
}
if (splitting) splitting.splitBytes = 100_000; // the mid-sized cases get cut in pieces (the scratch alone is 64 KiB)
afterAll(() => twoThreads?.setThreads(1));

const paths: [string, Path | null][] = [
  ['gemmReference', gemmReference],
  ['wasm, 1 thread', oneThread && ((args) => oneThread.run(resolveGemmArgs(args)))],
  ['wasm, 2 threads', twoThreads && ((args) => twoThreads.run(resolveGemmArgs(args)))],
  ['wasm, split to fit a small memory', splitting && ((args) => splitting.run(resolveGemmArgs(args)))],
  ['gemm', gemm],
];

describe.each(paths)('%s', (_, path) => {
  it.each(allCases.map((c, i) => [name(c), c, i] as const))('%s', (_, c, i) => {
    if (!path) throw new Error('WebAssembly SIMD is missing here, so this path cannot run');
    checkPath(path, c, 1000 + i);
  });
});

describe('operands that live in the heap (read and written in place)', () => {
  // the same cases with A, B and C copied into heap blocks of exactly their size, so the last
  // panel reads past the block's end into whatever follows (it must only reach padding)
  const inHeap = (a: Float32Array): Float32Array => {
    const heap = theHeap();
    const copy = heap.floats(heap.alloc(a.length * 4), a.length);
    copy.set(a);
    return copy;
  };
  // whole tiles (M a multiple of 4, N of 8): the micro-kernel writes C in place, also with
  // offsets, strides between items, and accumulating
  const wholeTiles: Case[] = [
    { M: 64, N: 32, K: 50 }, { M: 8, N: 16, K: 3, batch: 3 }, { M: 12, N: 24, K: 33, accumulate: true },
    { M: 4, N: 8, K: 7, batch: 2, cOff: 5, strideC: 40, accumulate: true }, { M: 16, N: 8, K: 9, batch: 3, cOff: 3, strideC: 200 },
    { M: 64, N: 32, K: 300, bias: true }, { M: 8, N: 16, K: 3, batch: 2, accumulate: true, bias: true, biasOff: 2 },
  ].flatMap((c) => [false, true].flatMap((transA) => [false, true].map((transB) => ({ ...c, transA, transB }))));
  for (const [label, engine] of [['1 thread', oneThread], ['2 threads', twoThreads]] as const) {
    it.each([...allCases, ...wholeTiles].map((c, i) => [name(c), c, i] as const))(`${label}: %s`, (_, c, i) => {
      const args = makeArgs(c, 5000 + i);
      const want = args.C.slice();
      naiveGemm({ ...args, C: want });
      const heapArgs = { ...args, A: inHeap(args.A), B: inHeap(args.B), C: inHeap(args.C) };
      expect(theHeap().address(heapArgs.C)).toBeGreaterThanOrEqual(0);
      engine!.run(resolveGemmArgs(heapArgs));
      expectClose(heapArgs.C, want, c.K, name(c));
    });
  }
});

describe('a B packed once (packedB)', () => {
  // every case with one B for the call, on each engine: the same floats as packing per call (the
  // small-memory engine cuts the call differently without B's copies, so there: the definition's)
  const oneB = allCases.filter((c) => (c.batch ?? 1) === 1 || c.strideB === 0);
  const engines = [['1 thread', oneThread], ['2 threads', twoThreads], ['split to fit a small memory', splitting]] as const;
  for (const [label, engine] of engines) {
    it.each(oneB.map((c, i) => [name(c), c, i] as const))(`${label}: %s`, (_, c, i) => {
      const args = makeArgs(c, 7000 + i);
      const want = args.C.slice();
      if (engine === splitting) naiveGemm({ ...args, C: want });
      else engine!.run(resolveGemmArgs({ ...args, C: want }));
      const packedB = engine!.packB(args.B.subarray(args.bOff ?? 0), args.transB, c.K, c.N);
      engine!.run(resolveGemmArgs({ ...args, packedB }));
      if (engine === splitting) expectClose(args.C, want, c.K, name(c));
      else expect(args.C).toEqual(want);
    });
  }

  it('is a copy: B changed after packing is not seen', () => {
    const args = makeArgs({ M: 9, N: 20, K: 30, transB: true }, 3);
    const packedB = oneThread!.packB(args.B, true, 30, 20);
    const want = args.C.slice();
    oneThread!.run(resolveGemmArgs({ ...args, C: want }));
    args.B.fill(0);
    oneThread!.run(resolveGemmArgs({ ...args, packedB }));
    expect(args.C).toEqual(want);
  });

  it('is checked against the call', () => {
    const packedB = oneThread!.packB(new Float32Array(12), false, 3, 4);
    const C = new Float32Array(8);
    expect(() => gemm({ transA: false, transB: false, M: 2, N: 4, K: 2, A: new Float32Array(4), B: new Float32Array(8), C, packedB })).toThrow(
      /packedB holds a 3x4 op\(B\)/,
    );
    expect(() =>
      gemm({ transA: false, transB: false, M: 1, N: 4, K: 3, A: new Float32Array(6), B: new Float32Array(24), C, batch: 2, strideB: 12, packedB }),
    ).toThrow(/the items have Bs of their own/);
    expect(() => oneThread!.packB(new Float32Array(11), false, 3, 4)).toThrow(/B has 11 values, a 3x4 op\(B\) needs 12/);
  });
});

describe('wasm engine', () => {
  it('is what gemm uses on this Node', () => {
    expect(simd).toBe(true);
    expect(gemmInfo().path).toBe('wasm-simd');
  });

  it('really runs units on the worker', () => {
    const before = twoThreads!.workerUnits;
    for (let i = 0; i < 10; i++) checkPath((args) => twoThreads!.run(resolveGemmArgs(args)), { M: 256, N: 96, K: 200 }, i);
    expect(twoThreads!.threads).toBe(2);
    expect(twoThreads!.workerUnits).toBeGreaterThan(before);
  });

  it('gives the same result on one and two threads, bit for bit', () => {
    const args = makeArgs({ M: 300, N: 200, K: 600, transA: true }, 7);
    const one = args.C.slice(), two = args.C.slice();
    oneThread!.run(resolveGemmArgs({ ...args, C: one }));
    twoThreads!.run(resolveGemmArgs({ ...args, C: two }));
    expect(two).toEqual(one);
  });

  it('keeps NaN and Infinity where they belong', () => {
    const A = new Float32Array([1, NaN, 0, 2, 0, 1]); // 2 x 3
    const B = new Float32Array([1, 1, 1, 1, 1, Infinity]); // 3 x 2
    const C = new Float32Array(4);
    oneThread!.run(resolveGemmArgs({ transA: false, transB: false, M: 2, N: 2, K: 3, A, B, C }));
    expect(Array.from(C)).toEqual([NaN, NaN, 3, Infinity]);
  });
});

describe('argument checks', () => {
  const A = new Float32Array(6), B = new Float32Array(6), C = new Float32Array(4);
  it('names the operand that is too short', () => {
    expect(() => gemm({ transA: false, transB: false, M: 2, N: 2, K: 3, A, B, C: new Float32Array(3) })).toThrow(
      /C needs elements up to 4 .* but has 3/,
    );
    expect(() => gemm({ transA: false, transB: false, M: 2, N: 2, K: 3, A, B, C, batch: 2, strideA: 6, strideB: 0, strideC: 4 })).toThrow(
      /A needs elements up to 12/,
    );
    expect(() => gemmReference({ transA: false, transB: false, M: 2, N: 2, K: 3, A, B, C, bOff: 1 })).toThrow(/B needs elements up to 7/);
    expect(() => gemm({ transA: false, transB: false, M: 2, N: 2, K: 3, A, B, C, bias: new Float32Array(2), biasOff: 1 })).toThrow(
      /bias needs 2 elements from offset 1 but has 2/,
    );
  });
  it('rejects bad sizes and overlapping outputs', () => {
    expect(() => gemm({ transA: false, transB: false, M: -1, N: 2, K: 3, A, B, C })).toThrow(/M must be a non-negative integer/);
    expect(() => gemm({ transA: false, transB: false, M: 2, N: 2.5, K: 3, A, B, C })).toThrow(/N must be/);
    expect(() => gemm({ transA: false, transB: false, M: 1, N: 2, K: 3, A, B, C, batch: 2, strideA: 0, strideB: 0, strideC: 1 })).toThrow(
      /strideC 1 makes the 1x2 outputs overlap/,
    );
  });
});
