// float32 matmul GFLOP/s at ViT training shapes: our GEMM (the TypeScript reference kernel, the
// WebAssembly SIMD kernel on one and on two threads) against a naive triple loop,
// @tensorflow/tfjs-backend-cpu and @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD), in one process.
//
//   cd /work/main && node scripts/bench.mjs matmul          (or: pnpm bench matmul)
//   flags (no "--" before them): --rounds 7   timed rounds of the fast paths (slow ones run 3)
//   relaxed-SIMD FMA on Node 20:
//   node --experimental-wasm-relaxed-simd --conditions=source --import tsx packages/tensor/bench/matmul.bench.ts
//
// Each figure is the median over rounds (a round repeats a call until it has run ~50 ms); the
// paths of one shape take turns round by round, so load from other processes on this shared
// 2-core machine hits them alike. A last table gives the best round of the fast paths. The naive loop runs on the first rows of C only (its speed
// does not depend on M); tfjs-backend-cpu runs the full shapes, 3 rounds.
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { gemmInfo, gemmReference, type GemmArgs } from '../src/kernels/gemm/index.js';
import { resolveGemmArgs } from '../src/kernels/gemm/args.js';
import { WasmGemm, hasRelaxedSimd } from '../src/kernels/gemm/wasm-gemm.js';
import { theHeap } from '../src/kernels/wasm/heap.js';

const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '7' } }, strict: false });
const ROUNDS = Number(flags.rounds);
const SLOW_ROUNDS = 3; // the naive loop, tfjs-backend-cpu and gemmReference take seconds a call

interface Shape {
  name: string;
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** a "large shape", where the two-thread goal (1.6x) applies */
  large: boolean;
}
const shape = (name: string, batch: number, M: number, N: number, K: number, transA = false, transB = false, large = true): Shape => ({
  name, batch, M, N, K, transA, transB, large,
});
const SHAPES: Shape[] = [
  shape('(4096x192)@(192x768)', 1, 4096, 768, 192),
  shape('(4096x768)@(768x192)', 1, 4096, 192, 768),
  shape('(4096x192)@(192x576)', 1, 4096, 576, 192),
  shape('512x512x512', 1, 512, 512, 512),
  shape('64x(65x32)@(32x65)', 64, 65, 65, 32, false, false, false),
  // backward-style: a Linear y = x W^T (W stored out x in) and its weight gradient dW = dy^T x
  shape('x W^T (4096x192)@(768x192)^T', 1, 4096, 768, 192, false, true),
  shape('dW (4096x768)^T@(4096x192)', 1, 768, 192, 4096, true, false),
];

const flopsOf = (s: Shape, rows = s.M): number => 2 * s.batch * rows * s.N * s.K;

/** Times `run` in rounds of `repeat` calls; returns seconds per call for each round. */
function timeRounds(run: () => void, repeat: number): number {
  const start = performance.now();
  for (let i = 0; i < repeat; i++) run();
  return (performance.now() - start) / 1000 / repeat;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** The definition, rows [0, rows) of C only: three loops, k innermost. */
function naive(g: Required<GemmArgs>, rows: number): void {
  const { M, N, K, A, B, C } = g;
  for (let item = 0; item < g.batch; item++) {
    const a0 = item * g.strideA, b0 = item * g.strideB, c0 = item * g.strideC;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += A[a0 + (g.transA ? k * M + i : i * K + k)]! * B[b0 + (g.transB ? j * K + k : k * N + j)]!;
        C[c0 + i * N + j] = sum;
      }
    }
  }
}

interface Path {
  name: string;
  /** prepares the operands; returns one call, the flops it does, and the result to check */
  setup(s: Shape, A: Float32Array, B: Float32Array): { run: () => void; flops: number; result: () => Float32Array | null; dispose?: () => void };
  /** seconds a call: SLOW_ROUNDS rounds of one call, no separate warm-up */
  slow: boolean;
}

async function main(): Promise<void> {
  const one = new WasmGemm(hasRelaxedSimd());
  one.setThreads(1);
  const two = new WasmGemm(hasRelaxedSimd());
  two.setThreads(2);
  // inHeap: the operands as the framework's tensors hold them, in the WebAssembly heap (the storage
  // pool's arrays), so the GEMM reads and writes them in place; else plain arrays, copied in and out
  const ourPath = (name: string, run: (g: Required<GemmArgs>) => void, slow = false, inHeap = false): Path => ({
    name,
    slow,
    setup(s, A, B) {
      const heap = theHeap();
      const place = (a: Float32Array): Float32Array => {
        if (!inHeap) return a;
        const copy = heap.floats(heap.alloc(a.length * 4 + 64), a.length);
        copy.set(a);
        return copy;
      };
      const C = place(new Float32Array(s.batch * s.M * s.N));
      const g = resolveGemmArgs({ transA: s.transA, transB: s.transB, M: s.M, N: s.N, K: s.K, A: place(A), B: place(B), C, batch: s.batch });
      const dispose = inHeap ? () => [g.A, g.B, g.C].forEach((a) => heap.free(a.byteOffset, a.length * 4 + 64)) : undefined;
      return { run: () => run(g), flops: flopsOf(s), result: () => g.C, dispose };
    },
  });
  // run under the backend its group switches to (below), with tensors made under it, so no call
  // moves data between backends
  const tfPath = (name: string, slow: boolean): Path => ({
    name,
    slow,
    setup(s, A, B) {
      tf.engine().startScope();
      const shapeOf = (rows: number, cols: number): number[] => (s.batch > 1 ? [s.batch, rows, cols] : [rows, cols]);
      const a = tf.tensor(A, s.transA ? shapeOf(s.K, s.M) : shapeOf(s.M, s.K));
      const b = tf.tensor(B, s.transB ? shapeOf(s.N, s.K) : shapeOf(s.K, s.N));
      let last: Float32Array | null = null;
      const run = (): void => {
        const c = tf.matMul(a, b, s.transA, s.transB);
        last = c.dataSync() as Float32Array;
        c.dispose();
      };
      return { run, flops: flopsOf(s), result: () => last, dispose: () => tf.engine().endScope() };
    },
  });
  const paths: Path[] = [
    {
      name: 'naive loop',
      slow: true,
      setup(s, A, B) {
        const rows = Math.max(1, Math.min(s.M, Math.floor(1e8 / flopsOf(s, 1))));
        const g = resolveGemmArgs({ transA: s.transA, transB: s.transB, M: s.M, N: s.N, K: s.K, A, B, C: new Float32Array(s.batch * s.M * s.N), batch: s.batch });
        return { run: () => naive(g, rows), flops: flopsOf(s, rows), result: () => null };
      },
    },
    tfPath('tfjs-backend-cpu', true),
    tfPath('tfjs-backend-wasm', false),
    ourPath('gemmReference (TS)', (g) => gemmReference(g), true),
    ourPath('wasm 1 thread', (g) => one.run(g)),
    ourPath('wasm 2 threads', (g) => two.run(g)),
    ourPath('heap 1 thread', (g) => one.run(g), false, true),
    ourPath('heap 2 threads', (g) => two.run(g), false, true),
  ];

  await tf.setBackend('wasm');
  const tfWasmSimd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  console.log(`machine: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores, Node ${process.version}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`gemm: ${JSON.stringify(gemmInfo())}; tfjs-backend-wasm SIMD: ${tfWasmSimd}`);
  console.log(`GFLOP/s, median of ${ROUNDS} rounds (${SLOW_ROUNDS} for the naive loop, tfjs-backend-cpu and gemmReference); the naive loop on the first rows only\n`);

  const table: Record<string, number>[] = [];
  const bestTable: Record<string, number>[] = [];
  const started = performance.now();
  for (const s of SHAPES) {
    const A = randomArray(s.batch * s.M * s.K);
    const B = randomArray(s.batch * s.K * s.N);
    const perCall = new Map<string, number[]>();
    // paths of one backend kind run together, so tfjs switches backend twice per shape
    const groups: [string | null, Path[]][] = [
      ['cpu', paths.filter((p) => p.name === 'tfjs-backend-cpu')],
      ['wasm', paths.filter((p) => p.name === 'tfjs-backend-wasm')],
      [null, paths.filter((p) => !p.name.startsWith('tfjs'))],
    ];
    const results = new Map<string, Float32Array>();
    const flops = new Map<string, number>();
    for (const [backend, group] of groups) {
      if (backend) await tf.setBackend(backend);
      const runs = group.map((p) => ({ p, ...p.setup(s, A, B) }));
      // the fast paths: one warm-up call (JIT, wasm tier-up, worker start), then as many calls per
      // round as make ~50 ms; the slow ones (seconds a call) warm up in their first round
      const repeat = runs.map((r) => (r.p.slow ? 1 : Math.max(1, Math.round(0.05 / timeRounds(r.run, 1)))));
      const roundsOf = (p: Path): number => (p.slow ? SLOW_ROUNDS : ROUNDS);
      const maxRounds = Math.max(...runs.map((r) => roundsOf(r.p)));
      for (let round = 0; round < maxRounds; round++) {
        runs.forEach((r, i) => {
          if (round >= roundsOf(r.p)) return;
          const list = perCall.get(r.p.name) ?? [];
          list.push(timeRounds(r.run, repeat[i]!));
          perCall.set(r.p.name, list);
        });
      }
      for (const r of runs) {
        const out = r.result();
        if (out) results.set(r.p.name, out.slice());
        flops.set(r.p.name, r.flops);
        r.dispose?.();
      }
    }
    // every path must have computed the same product (the naive loop is checked by the tests)
    const want = results.get('tfjs-backend-wasm')!;
    for (const [name, got] of results) {
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
      if (!(worst < 1e-4)) throw new Error(`matmul bench: ${name} differs from tfjs-backend-wasm at ${s.name} by ${worst}`);
    }
    const row: Record<string, number> = {};
    const best: Record<string, number> = {};
    for (const [name, times] of perCall) {
      row[name] = flops.get(name)! / median(times) / 1e9;
      best[name] = flops.get(name)! / Math.min(...times) / 1e9;
    }
    table.push(row);
    bestTable.push(best);
    printRow(s, row);
  }
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`);
  printRatios(table);
  // On a loaded machine the medians move with the load; the best round shows what the code does
  // when it gets the cores.
  console.log('\nbest round, GFLOP/s'.padEnd(33) + BEST_COLUMNS.map((c) => c.padStart(19)).join('') + '2t / 1t'.padStart(10) + 'heap'.padStart(10));
  SHAPES.forEach((s, i) => {
    const b = bestTable[i]!;
    const cells = BEST_COLUMNS.map((c) => b[c]!.toFixed(2).padStart(19)).join('');
    console.log(s.name.padEnd(32) + cells + `${(b['wasm 2 threads']! / b['wasm 1 thread']!).toFixed(2)}x`.padStart(10) + `${(b['heap 2 threads']! / b['heap 1 thread']!).toFixed(2)}x`.padStart(10));
  });
  two.setThreads(1);
}

const COLUMNS = ['naive loop', 'tfjs-backend-cpu', 'tfjs-backend-wasm', 'gemmReference (TS)', 'wasm 1 thread', 'wasm 2 threads', 'heap 1 thread', 'heap 2 threads'];
const BEST_COLUMNS = ['tfjs-backend-wasm', 'wasm 1 thread', 'wasm 2 threads', 'heap 1 thread', 'heap 2 threads'];
let headerDone = false;
function printRow(s: Shape, row: Record<string, number>): void {
  const w = 32;
  if (!headerDone) {
    console.log('shape'.padEnd(w) + COLUMNS.map((c) => c.padStart(19)).join(''));
    headerDone = true;
  }
  console.log(s.name.padEnd(w) + COLUMNS.map((c) => (row[c] ?? NaN).toFixed(2).padStart(19)).join(''));
}

function printRatios(table: Record<string, number>[]): void {
  const w = 32;
  console.log('\nratios (goal)'.padEnd(w + 1) + ['1t / tfjs-cpu (4x)', '2t / tfjs-cpu (4x)', '1t / tfjs-wasm (1.3x)', '2t / tfjs-wasm', '2t / 1t (1.6x, large)', 'heap: 2t / 1t'].map((c) => c.padStart(24)).join(''));
  SHAPES.forEach((s, i) => {
    const r = table[i]!;
    const one = r['wasm 1 thread']!, two = r['wasm 2 threads']!;
    const cells = [one / r['tfjs-backend-cpu']!, two / r['tfjs-backend-cpu']!, one / r['tfjs-backend-wasm']!, two / r['tfjs-backend-wasm']!, two / one, r['heap 2 threads']! / r['heap 1 thread']!];
    console.log(s.name.padEnd(w) + cells.map((x) => `${x.toFixed(2)}x`.padStart(24)).join(''));
  });
}

await main();
