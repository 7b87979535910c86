// The tensor core end to end: one forward+backward pass of a 2-layer MLP and of a softmax-attention
// block, in ms (median of several rounds in this one process), and the heap over 1000 MLP steps.
//
//   cd /work/main && node scripts/bench.mjs core            (or: pnpm bench core)
//   flags (no "--" before them): --rounds 9 timed rounds per model, --iters 1000 MLP steps of the heap check
//
// The machine is shared and noisy: compare numbers from one run, and read medians, not minima.
import './backend-flag.js'; // --backend gpu[:mode]: run every step on that backend
import v8 from 'node:v8';
import vm from 'node:vm';
import { parseArgs } from 'node:util';
import {
  type Tensor, Generator, getBackend, linear, matmul, randint, randn, zeros,
} from '../src/index.js';
import { gemmInfo } from '../src/kernels/gemm/index.js';

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '9' }, iters: { type: 'string', default: '1000' } },
  strict: false,
});
const ROUNDS = Number(flags.rounds);
const ITERS = Number(flags.iters);

// gc() without --expose-gc on the command line (scripts/bench.mjs does not pass it): switch the
// flag on at run time and fetch the function from a fresh context, where V8 then defines it.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const gen = new Generator(0);
const param = (shape: number[], std: number): Tensor => randn(shape, { generator: gen, std, requiresGrad: true });

// ---- 2-layer MLP: batch 128, 784 -> 256 -> 10, cross entropy as -mean(gather(logSoftmax(logits), target))
const mlp = {
  w1: param([256, 784], 1 / 28), b1: zeros([256], { requiresGrad: true }),
  w2: param([10, 256], 1 / 16), b2: zeros([10], { requiresGrad: true }),
};
const mlpX = randn([128, 784], { generator: gen });
const mlpTarget = randint(0, 10, [128, 1], { generator: gen });

// Matmul FLOPs per step (2 per multiply-add): forward and weight gradient of layer 1 (its input
// needs no gradient), forward and both gradients of layer 2.
const MLP_FLOPS = 2 * 128 * 784 * 256 * 2 + 2 * 128 * 256 * 10 * 3;

function mlpStep(): number {
  const h = linear(mlpX, mlp.w1, mlp.b1).relu();
  const logits = linear(h, mlp.w2, mlp.b2);
  const loss = logits.logSoftmax(-1).gather(1, mlpTarget).mean().neg();
  loss.backward();
  for (const p of Object.values(mlp)) p.zeroGrad();
  return loss.item();
}

// ---- attention block: batch 64, 65 tokens (64 patches + CLS), width 192, 3 heads of 64
const B = 64, T = 65, D = 192, H = 3, HD = D / H;
const attn = {
  wq: param([D, D], 0.07), bq: zeros([D], { requiresGrad: true }),
  wk: param([D, D], 0.07), bk: zeros([D], { requiresGrad: true }),
  wv: param([D, D], 0.07), bv: zeros([D], { requiresGrad: true }),
  wo: param([D, D], 0.07), bo: zeros([D], { requiresGrad: true }),
};
const attnX = randn([B, T, D], { generator: gen, requiresGrad: true });

// Four linears and the two attention matmuls, each forward plus two gradients (x needs one too).
const ATTN_FLOPS = 4 * 3 * 2 * B * T * D * D + 2 * 3 * 2 * B * H * T * T * HD;

function heads(t: Tensor): Tensor {
  return t.reshape(B, T, H, HD).permute(0, 2, 1, 3); // [B, H, T, HD]
}

function attentionStep(): number {
  const q = heads(linear(attnX, attn.wq, attn.bq));
  const k = heads(linear(attnX, attn.wk, attn.bk));
  const v = heads(linear(attnX, attn.wv, attn.bv));
  const scores = matmul(q, k, { transB: true }).mul(1 / Math.sqrt(HD)); // [B, H, T, T]
  const ctx = matmul(scores.softmax(-1), v).permute(0, 2, 1, 3).reshape(B, T, D);
  const y = linear(ctx, attn.wo, attn.bo);
  const loss = y.mul(y).mean();
  loss.backward();
  for (const p of [...Object.values(attn), attnX]) p.zeroGrad();
  return loss.item();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** ms per step: each round runs `perRound` steps (a short step alone is mostly timer and scheduler noise). */
function time(name: string, step: () => number, warmup: number, rounds: number, perRound: number, flops: number) {
  for (let i = 0; i < warmup; i++) step();
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    for (let j = 0; j < perRound; j++) step();
    ms.push((performance.now() - t0) / perRound);
  }
  return { name, median: median(ms), min: Math.min(...ms), max: Math.max(...ms), gflops: flops / median(ms) / 1e6 };
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const signedMb = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${mb(bytes)}`;

const gi = gemmInfo();
console.log(`backend: ${getBackend().describe()}; gemm: ${gi.path}, ${gi.threads} thread(s)${gi.relaxedSimd ? ', relaxed SIMD' : ''}; node ${process.version}`);
console.log(`${ROUNDS} timed rounds per step (MLP: 20 steps per round), ms per step, median of the rounds, one process`);
const rows = [
  time('MLP 128x784->256->10, forward+backward', mlpStep, 5, ROUNDS, 20, MLP_FLOPS),
  time('attention B64 T65 D192 H3, forward+backward', attentionStep, 1, ROUNDS, 1, ATTN_FLOPS),
];
console.log('\n| step | median ms | min ms | max ms | matmul GFLOP/s at the median |\n|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.median.toFixed(1)} | ${r.min.toFixed(1)} | ${r.max.toFixed(1)} | ${r.gflops.toFixed(1)} |`);
}

// ---- heap over ITERS MLP steps: typed-array storage is counted under arrayBuffers, not heapUsed.
const sample = (): NodeJS.MemoryUsage => {
  gc();
  gc(); // a second pass collects what the first one's finalizers released
  return process.memoryUsage();
};
for (let i = 0; i < 20; i++) mlpStep(); // let the JIT and the GEMM's buffers settle first
const start = sample();
const checkpoints: Array<[number, NodeJS.MemoryUsage]> = [[0, start]];
const t0 = performance.now();
for (let i = 1; i <= ITERS; i++) {
  mlpStep();
  if (i % Math.max(1, Math.floor(ITERS / 4)) === 0 || i === ITERS) checkpoints.push([i, sample()]);
}
const seconds = (performance.now() - t0) / 1000;
console.log(`\nmemory over ${ITERS} MLP steps (${seconds.toFixed(1)} s, after gc() at each checkpoint):`);
console.log('\n| after step | heapUsed | arrayBuffers | rss |\n|---:|---:|---:|---:|');
for (const [i, m] of checkpoints) console.log(`| ${i} | ${mb(m.heapUsed)} | ${mb(m.arrayBuffers)} | ${mb(m.rss)} |`);
const end = checkpoints[checkpoints.length - 1]![1];
console.log(
  `\ngrowth: heapUsed ${signedMb(end.heapUsed - start.heapUsed)}, arrayBuffers ${signedMb(end.arrayBuffers - start.arrayBuffers)}, ` +
  `rss ${signedMb(end.rss - start.rss)}`,
);
process.exit(0); // the GEMM's worker pool would otherwise keep the process alive
