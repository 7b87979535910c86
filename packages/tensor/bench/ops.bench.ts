// The CPU kernels besides matmul, at the shapes one training step of the MNIST ViT preset runs
// them (batch 128, 17 tokens, width 64, MLP 128, 4 heads), TypeScript reference against the
// WebAssembly SIMD kernels: microseconds per call (CPU time, and wall time) and the ratio,
// medians of several rounds in this one process, the two taking turns so load from other
// processes hits both alike.
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
import { kernelThreads, setKernelThreads } from '../src/kernels/wasm/runtime.js';

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
const heads = randn([B, T, H, D / H], { generator: gen });

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
  ['permute heads [128,17,4,16] -> [128,4,17,16]', (k) => k.permute(heads, [0, 2, 1, 3])],
  ['expand [64] -> [2176,64]', (k) => k.expand(bias, [B * T, D])],
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

/**
 * One round of as many calls as fit in ROUND_MS: microseconds per call of wall time and of this
 * process's CPU time (user + system). The kernels run on this thread alone, so CPU time is their
 * work; on a shared, loaded machine it moves much less than wall time, which also counts the time
 * other processes hold the core.
 */
function round(fn: () => unknown): { wall: number; cpu: number } {
  let calls = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ROUND_MS) {
    fn();
    calls++;
    t = performance.now();
  }
  const c = process.cpuUsage(c0);
  return { wall: ((t - t0) * 1000) / calls, cpu: (c.user + c.system) / calls };
}

console.log(`CPU kernels besides matmul, TypeScript reference vs WebAssembly SIMD: median us/call of ${ROUNDS} rounds (${ROUND_MS} ms each), CPU time and wall time\n`);
console.log('| kernel | TypeScript CPU us | SIMD CPU us | speedup (CPU) | TypeScript wall us | SIMD wall us |');
console.log('|---|---:|---:|---:|---:|---:|');
const k = simd as unknown as Pick;
const threads = kernelThreads();
setKernelThreads(1); // the first table compares single-threaded kernels
for (const [name, run] of cases) {
  for (let i = 0; i < 3; i++) { run(cpuReference); run(k); } // warm up both (JIT, memory growth)
  const ref: Array<{ wall: number; cpu: number }> = [];
  const fast: Array<{ wall: number; cpu: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    ref.push(round(() => run(cpuReference)));
    fast.push(round(() => run(k)));
  }
  const [a, b] = [median(ref.map((x) => x.cpu)), median(fast.map((x) => x.cpu))];
  const [aw, bw] = [median(ref.map((x) => x.wall)), median(fast.map((x) => x.wall))];
  console.log(`| ${name} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(1)}x | ${aw.toFixed(0)} | ${bw.toFixed(0)} |`);
}

// The kernels that split over threads (a polynomial or more per value), one thread against all:
// wall time, since the point is finishing sooner; CPU time only grows with the waking.
if (threads > 1) {
  const heavy = new Set(['gelu', 'geluBackward', 'exp [', 'absmaxQuantize', 'softmax [', 'layerNorm [']);
  console.log(`\nWebAssembly SIMD kernels on 1 and ${threads} threads: median wall us/call\n`);
  console.log(`| kernel | 1 thread wall us | ${threads} threads wall us | speedup |`);
  console.log('|---|---:|---:|---:|');
  setKernelThreads(threads); // starts the workers now
  for (const [name, run] of cases.filter(([n]) => [...heavy].some((h) => n.startsWith(h)))) {
    const one: number[] = [];
    const all: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      setKernelThreads(1);
      run(k);
      one.push(round(() => run(k)).wall);
      setKernelThreads(threads);
      run(k);
      all.push(round(() => run(k)).wall);
    }
    const [a, b] = [median(one), median(all)];
    console.log(`| ${name} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(2)}x |`);
  }
}
