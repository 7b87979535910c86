// Matmul through the backend interface at the matmul benchmark's ViT shapes (matmul.bench.ts),
// on the backend that --backend selects, beside the CPU backend in the same process:
//
//   pnpm bench gpu-matmul --backend gpu          (gpu.js 'auto': headless GL if built, else WebAssembly)
//   pnpm bench gpu-matmul --backend gpu:webasm   flags: --rounds 5
//
// Without --backend (or with --backend cpu) it prints one line and exits: `pnpm bench` on the
// CPU already has matmul.bench.ts. A gpu call is timed with its read back (.data): on GL the
// kernel runs asynchronously until then. Inputs are made device-resident first, so uploads
// are not timed. Medians of the rounds; the machine is shared, compare within one run.
import { parseArgs } from 'node:util';
import { requestedBackend } from './backend-flag.js';
import { type Backend, Generator, Tensor, backendInfo, cpuBackend, getBackend, randn } from '../src/index.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } }, strict: false });
const ROUNDS = Number(values.rounds);

if (requestedBackend === 'cpu') {
  console.log('gpu-matmul: nothing to do without --backend gpu (the CPU GEMM is in matmul.bench.ts)');
  process.exit(0);
}

interface Shape {
  name: string;
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}
const shape = (name: string, batch: number, M: number, N: number, K: number, transA = false, transB = false): Shape => ({ name, batch, M, N, K, transA, transB });
// the shapes of matmul.bench.ts
const SHAPES: Shape[] = [
  shape('(4096x192)@(192x768)', 1, 4096, 768, 192),
  shape('(4096x768)@(768x192)', 1, 4096, 192, 768),
  shape('(4096x192)@(192x576)', 1, 4096, 576, 192),
  shape('512x512x512', 1, 512, 512, 512),
  shape('64x(65x32)@(32x65)', 64, 65, 65, 32),
  shape('x W^T (4096x192)@(768x192)^T', 1, 4096, 768, 192, false, true),
  shape('dW (4096x768)^T@(4096x192)', 1, 768, 192, 4096, true, false),
];

const gen = new Generator(1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** ms per call of op(a) @ op(b) on `backend`, result read back; the first call (compile) apart. */
function timeMatmul(backend: Backend, s: Shape): { firstMs: number; medianMs: number } {
  const lead = s.batch > 1 ? [s.batch] : [];
  const aShape = [...lead, ...(s.transA ? [s.K, s.M] : [s.M, s.K])];
  const bShape = [...lead, ...(s.transB ? [s.N, s.K] : [s.K, s.N])];
  // resident inputs: a copy kernel on the backend (on the CPU backend, a plain copy)
  const a = backend.expand(randn(aShape, { generator: gen }), aShape);
  const b = backend.expand(randn(bShape, { generator: gen }), bShape);
  const run = (): number => {
    const t0 = performance.now();
    const c: Tensor = backend.matmul(a, b, s.transA, s.transB);
    void c.data;
    return performance.now() - t0;
  };
  const firstMs = run();
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) ms.push(run());
  return { firstMs, medianMs: median(ms) };
}

const gpu = getBackend();
console.log(`${backendInfo().description} against ${cpuBackend.describe()}; ${ROUNDS} rounds, median ms per call incl. reading the result back`);
console.log(`\n| shape | ${gpu.name} ms | ${gpu.name} GFLOP/s | ${gpu.name} first call ms (compile) | cpu ms | cpu GFLOP/s |\n|---|---:|---:|---:|---:|---:|`);
for (const s of SHAPES) {
  const flops = 2 * s.batch * s.M * s.N * s.K;
  const g = timeMatmul(gpu, s);
  const c = timeMatmul(cpuBackend, s);
  const gf = (ms: number) => (flops / ms / 1e6).toFixed(1);
  console.log(`| ${s.name} | ${g.medianMs.toFixed(1)} | ${gf(g.medianMs)} | ${g.firstMs.toFixed(0)} | ${c.medianMs.toFixed(1)} | ${gf(c.medianMs)} |`);
}
process.exit(0); // the CPU GEMM's worker pool would otherwise keep the process alive
