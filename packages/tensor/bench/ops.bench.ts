// The CPU kernels besides matmul, at the shapes one training step of the MNIST ViT preset runs
// them (batch 128, 17 tokens, width 64, MLP 128, 4 heads), TypeScript reference against the
// WebAssembly SIMD kernels: microseconds per call and the ratio, medians of several rounds in
// this one process, the two taking turns so load from other processes hits both alike.
//
//   cd /work/main && node scripts/bench.mjs ops            (or: pnpm bench ops)
//   flags (no "--" before them): --rounds 15 timed rounds, --ms 20 time per round and kernel
//
// The machine is shared and noisy: compare numbers from one run, and read medians, not minima.
import { parseArgs } from 'node:util';
import { Generator, randn, Tensor } from '../src/index.js';
import type { Backend } from '../src/kernels/backend.js';
import { cpuReference } from '../src/kernels/cpu/index.js';
import * as simd from '../src/kernels/wasm/kernels.js';

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '15' }, ms: { type: 'string', default: '20' } },
  strict: false,
});
const ROUNDS = Number(flags.rounds);
const ROUND_MS = Number(flags.ms);

const gen = new Generator(0);
const B = 128, T = 17, D = 64, H = 4, MLP = 128;
const act = randn([B, T, D], { generator: gen });
const act2 = randn([B, T, D], { generator: gen });
const hidden = randn([B, T, MLP], { generator: gen });
const hidden2 = randn([B, T, MLP], { generator: gen });
const scores = randn([B, H, T, T], { generator: gen });
const bias = randn([D], { generator: gen });
const weight = randn([D], { generator: gen });
const weights = randn([MLP, D], { generator: gen, std: 0.05 });
const probs = cpuReference.softmax(scores);
const ln = cpuReference.layerNorm(act, weight, bias, 1e-12);
const logits = randn([B, 10], { generator: gen });
const logProbs = cpuReference.logSoftmax(logits);
const gamma = new Tensor(Float32Array.of(0.04), [1]);

type Pick = Pick<Backend, keyof typeof simd & keyof Backend>;
const cases: Array<[string, (k: Pick) => unknown]> = [
  ['gelu [128,17,128]', (k) => k.unary('gelu', hidden)],
  ['geluBackward [128,17,128]', (k) => k.geluBackward(hidden, hidden2)],
  ['exp [128,17,64]', (k) => k.unary('exp', act)],
  ['absmaxQuantize per token [128,17,64]', (k) => k.absmaxQuantize(act, D, 127, 1e-5)],
  ['absmaxQuantize per token [128,17,128]', (k) => k.absmaxQuantize(hidden, MLP, 127, 1e-5)],
  ['ternaryQuantize [128,64]', (k) => k.ternaryQuantize(weights, gamma, weights.size)],
  ['add [128,17,64] + same', (k) => k.binary('add', act, act2)],
  ['add [2176,64] + bias [64]', (k) => k.binary('add', act, bias)],
  ['mul [128,4,17,17] * scalar', (k) => k.binary('mul', scores, new Tensor(Float32Array.of(0.25), []))],
  ['sum over rows [2176,64] -> [64]', (k) => k.reduce('sum', act.reshape(B * T, D), [0], false)],
  ['sum over last dim [2176,64]', (k) => k.reduce('sum', act, [2], true)],
  ['softmax [128,4,17,17]', (k) => k.softmax(scores)],
  ['softmaxBackward [128,4,17,17]', (k) => k.softmaxBackward(probs, scores)],
  ['logSoftmax [128,10]', (k) => k.logSoftmax(logits)],
  ['logSoftmaxBackward [128,10]', (k) => k.logSoftmaxBackward(logProbs, logits)],
  ['layerNorm [128,17,64]', (k) => k.layerNorm(act, weight, bias, 1e-12)],
  ['layerNormBackward [128,17,64]', (k) => k.layerNormBackward(act, weight, ln.mean, ln.rstd, act2)],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Microseconds per call: as many calls as fit in ROUND_MS, once. */
function round(fn: () => unknown): number {
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ROUND_MS) {
    fn();
    calls++;
    t = performance.now();
  }
  return ((t - t0) * 1000) / calls;
}

console.log(`CPU kernels besides matmul, TypeScript reference vs WebAssembly SIMD; median us/call of ${ROUNDS} rounds (${ROUND_MS} ms each)\n`);
console.log('| kernel | TypeScript us | wasm SIMD us | speedup |');
console.log('|---|---:|---:|---:|');
const k = simd as unknown as Pick;
for (const [name, run] of cases) {
  for (let i = 0; i < 3; i++) { run(cpuReference); run(k); } // warm up both (JIT, memory growth)
  const ref: number[] = [];
  const fast: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ref.push(round(() => run(cpuReference)));
    fast.push(round(() => run(k)));
  }
  const [a, b] = [median(ref), median(fast)];
  console.log(`| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(1)}x |`);
}
