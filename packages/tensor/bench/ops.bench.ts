// The CPU kernels besides matmul, at the shapes one training step of the MNIST ViT preset runs
// them (batch 128, 17 tokens, width 64, MLP 128, 4 heads), TypeScript reference against the
// WebAssembly SIMD kernels: microseconds per call (CPU time, and wall time) and the ratio,
// medians of several rounds in this one process, the two taking turns so load from other
// processes hits both alike.
//
// Then one training step of a ViT with the preset's shapes built from tensor ops here (the vit
// package depends on this one, not the other way), float and with BitNet's quantizers, with the
// TypeScript kernels and with the SIMD kernels taking turns step by step in this process.
//
//   cd /work/main && node scripts/bench.mjs ops            (or: pnpm bench ops)
//   flags (no "--" before them): --rounds 15 timed rounds, --ms 20 time per round and kernel,
//   --steps 15 timed training steps per variant
//
// The machine is shared and noisy: compare numbers from one run, and read medians, not minima.
import { parseArgs } from 'node:util';
import {
  Generator, Tensor, absmaxQuantize, concat, layerNorm, linear, matmul, ones, randint, randn, straightThrough, ternaryQuantize, zeros,
} from '../src/index.js';
import type { Backend } from '../src/kernels/backend.js';
import { cpuBackend, cpuReference, setCpuSimd } from '../src/kernels/cpu/index.js';
import { gemmInfo } from '../src/kernels/gemm/index.js';
import * as simd from '../src/kernels/wasm/kernels.js';
import { kernelThreads, setKernelThreads } from '../src/kernels/wasm/runtime.js';

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '15' }, ms: { type: 'string', default: '20' }, steps: { type: 'string', default: '15' } },
  strict: false,
});
const ROUNDS = Number(flags.rounds);
const ROUND_MS = Number(flags.ms);
const STEPS = Number(flags.steps);

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

type Kernels = Pick<Backend, keyof typeof simd & keyof Backend>;
const cases: Array<[string, (k: Kernels) => unknown]> = [
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
const k = simd as unknown as Kernels;
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

// ---- a training step of the vit-mnist preset's shapes: 16 patches of 7x7 and a CLS token (17),
// width 64, 4 pre-norm encoder layers of 4 heads, MLP 128, 10 classes, batch 128, as
// packages/vit builds it (the patch embedding as a linear over cut patches). With `qat` every
// linear sees per-token 8-bit activations and per-tensor ternary weights through the
// straight-through estimator, as @bitvit/bitnet's BitLinear. No optimizer: gradients only.
const L = 4, P = 16, PATCH = 49, CLASSES = 10;
const param = (shape: number[], std: number): Tensor => randn(shape, { generator: gen, std, requiresGrad: true });
const lin = (inF: number, outF: number) => ({ w: param([outF, inF], 1 / Math.sqrt(inF)), b: zeros([outF], { requiresGrad: true }) });
const norm = () => ({ w: ones([D], { requiresGrad: true }), b: zeros([D], { requiresGrad: true }) });
const vit = {
  embed: lin(PATCH, D), cls: param([1, 1, D], 0.02), pos: param([1, T, D], 0.02),
  layers: Array.from({ length: L }, () => ({ ln1: norm(), q: lin(D, D), k: lin(D, D), v: lin(D, D), o: lin(D, D), ln2: norm(), fc1: lin(D, MLP), fc2: lin(MLP, D) })),
  lnf: norm(), head: lin(D, CLASSES),
};
const patches = randn([B, P, PATCH], { generator: gen });
const labels = randint(0, CLASSES, [B, 1], { generator: gen });

function dense(x: Tensor, l: { w: Tensor; b: Tensor }, qat: boolean): Tensor {
  if (!qat) return linear(x, l.w, l.b);
  const xq = straightThrough(x, absmaxQuantize(x, { bits: 8, per: 'token' }).q);
  const gamma = l.w.abs().mean().reshape(1).clamp(1e-5, null).detach();
  return linear(xq, straightThrough(l.w, ternaryQuantize(l.w, gamma)), l.b);
}

const params: Tensor[] = [vit.cls, vit.pos, ...[vit.embed, vit.lnf, vit.head, ...vit.layers.flatMap((l) => Object.values(l))].flatMap((l) => [l.w, l.b])];

function vitStep(qat: boolean): number {
  const tokens = dense(patches, vit.embed, qat); // [B, 16, D]
  let x = concat([vit.cls.expand([B, 1, D]), tokens], 1).add(vit.pos); // [B, 17, D]
  const heads = (t: Tensor): Tensor => t.reshape(B, T, H, D / H).permute(0, 2, 1, 3); // [B, H, T, D/H]
  for (const l of vit.layers) {
    const hn = layerNorm(x, l.ln1.w, l.ln1.b, 1e-12);
    const [q, k, v] = [heads(dense(hn, l.q, qat)), heads(dense(hn, l.k, qat)), heads(dense(hn, l.v, qat))];
    const probs = matmul(q, k, { transB: true }).mul(1 / Math.sqrt(D / H)).softmax(-1);
    x = dense(matmul(probs, v).permute(0, 2, 1, 3).reshape(B, T, D), l.o, qat).add(x);
    x = dense(dense(layerNorm(x, l.ln2.w, l.ln2.b, 1e-12), l.fc1, qat).gelu(), l.fc2, qat).add(x);
  }
  const cls = layerNorm(x, vit.lnf.w, vit.lnf.b, 1e-12).narrow(1, 0, 1).reshape(B, D);
  const loss = dense(cls, vit.head, qat).logSoftmax(-1).gather(1, labels).mean().neg();
  loss.backward();
  for (const p of params) p.zeroGrad();
  return loss.item();
}

const gi = gemmInfo();
console.log(`\nOne training step (forward + backward, no optimizer) of the vit-mnist shapes built from tensor ops,`);
console.log(`batch ${B}; TypeScript and SIMD kernels take turns step by step; gemm ${gi.path} on ${gi.threads} thread(s), kernels on ${threads}`);
console.log(`(${cpuBackend.describe()}); median of ${STEPS} steps each\n`);
console.log('| model | kernels | wall ms | CPU ms | images/s (wall) | speedup (wall) |');
console.log('|---|---|---:|---:|---:|---:|');
setKernelThreads(threads);
for (const qat of [false, true]) {
  const times = { ts: [] as Array<{ wall: number; cpu: number }>, simd: [] as Array<{ wall: number; cpu: number }> };
  for (let i = 0; i < 2; i++) for (const on of [false, true]) { setCpuSimd(on); vitStep(qat); }
  for (let r = 0; r < STEPS; r++) {
    for (const on of [false, true]) {
      setCpuSimd(on);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      vitStep(qat);
      const c = process.cpuUsage(c0);
      times[on ? 'simd' : 'ts'].push({ wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 });
    }
  }
  const ts = median(times.ts.map((t) => t.wall)), fast = median(times.simd.map((t) => t.wall));
  const name = qat ? 'BitNet QAT' : 'float';
  console.log(`| ${name} | TypeScript | ${ts.toFixed(1)} | ${median(times.ts.map((t) => t.cpu)).toFixed(1)} | ${((B * 1000) / ts).toFixed(0)} | |`);
  console.log(`| ${name} | wasm SIMD | ${fast.toFixed(1)} | ${median(times.simd.map((t) => t.cpu)).toFixed(1)} | ${((B * 1000) / fast).toFixed(0)} | ${(ts / fast).toFixed(2)}x |`);
}
setCpuSimd(true);
process.exit(0); // the worker pools would otherwise keep the process alive
