// Training throughput (issue 9): images/s of one training step - forward, backward and the
// optimizer update on a fixed random batch - for the vit-mnist preset (batch 128) and ViT-tiny's
// width and depth at 32x32, patch 4 (vit-tiny-32, batch 64), float and BitNet b1.58 QAT, in
//   ours        @bitvit/* (AdamW), on its default threads and, for vit-mnist, on one GEMM thread
//   tfjs-wasm   the same model in tfjs ops (tfjs-vit.ts), @tensorflow/tfjs-backend-wasm (SIMD; Node: 1 thread)
//   tfjs-cpu    the same, @tensorflow/tfjs-backend-cpu (plain JavaScript)
//               (both in a process of their own, tfjs-server.ts, as PyTorch: V8 collects one heap
//               per process, and in one process each framework's collections fell into the
//               other's steps)
//   pytorch     torch_train_bench.py, /usr/bin/python3 with torch (AdamW), 2 threads and 1
// and then ours' memory over N steps of vit-mnist QAT: peak RSS and heap growth.
//
//   cd /work/main && node scripts/bench.mjs train          (or: pnpm bench train)
//   flags (no "--" before them):
//     --quick        fewer rounds, 30 memory steps; no tfjs on vit-tiny-32 (that is the default too)
//     --full         also tfjs on vit-tiny-32 (1 step each: ~2 min on wasm, 8-10 min on cpu), more tfjs-cpu rounds
//     --only ours|tfjs|torch   one framework (a comma list works: --only ours,torch)
//     --models vit-mnist|vit-tiny-32   one model (default both)
//     --steps N      memory run length (default 100, 0 skips it); --long is --steps 1000, as issue 9 asks
//
// Timing: the frameworks of one model take turns round by round (warmup steps first), so load
// from other processes on this shared 2-core machine hits them alike; each row is the median of
// its rounds. A round is one step, except ours on vit-mnist: 4 steps and their mean, so that the
// full garbage collection our storage pool forces every second step is spread evenly. PyTorch runs in a child process that answers one step per request and times the
// step itself; it runs with OPENBLAS_NUM_THREADS=1 (torch's own pool uses the cores) and
// OMP_WAIT_POLICY=PASSIVE (unless set): with libgomp's default spin-waiting, two torch threads on
// a loaded 2-core machine took 3 s instead of 0.1 s a step. Ratios are "ours / this row" in
// images/s (> 1: ours is faster), thread for thread where ours ran on the row's thread count,
// else against ours on its default threads. figures and caveats: packages/train/docs/bench.md.
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Generator, getBackend, noGrad, randint, randn, recycleMemory, tidy, type Tensor } from '@bitvit/tensor';
import { AdamW, crossEntropy } from '@bitvit/nn';
import { createModel, presetConfig, type ViTConfig } from '@bitvit/vit';
import { convertToBitNet } from '@bitvit/bitnet';
import { TFJS_ANSWER_PREFIX, type TfModelConfig } from './tfjs-vit.js';


const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    only: { type: 'string' },
    models: { type: 'string' },
    steps: { type: 'string' },
    long: { type: 'boolean', default: false },
  },
  strict: false,
});
const QUICK = flags.quick === true;
const FULL = flags.full === true;
const ONLY = new Set(typeof flags.only === 'string' ? flags.only.split(',') : ['ours', 'tfjs', 'torch']);
for (const f of ONLY) if (!['ours', 'tfjs', 'torch'].includes(f)) throw new Error(`train.bench: --only ${f}: expected ours, tfjs or torch`);
const MODELS = typeof flags.models === 'string' ? flags.models.split(',') : ['vit-mnist', 'vit-tiny-32'];
for (const m of MODELS) if (!['vit-mnist', 'vit-tiny-32'].includes(m)) throw new Error(`train.bench: --models ${m}: expected vit-mnist or vit-tiny-32`);
const MEMORY_STEPS = typeof flags.steps === 'string' ? Number(flags.steps) : flags.long ? 1000 : QUICK ? 30 : 100;

const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = fileURLToPath(new URL('./torch_train_bench.py', import.meta.url));
const TFJS_SCRIPT = fileURLToPath(new URL('./tfjs-server.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Statistics

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// The contestants: anything that can take one training step and say how long it took.

interface StepResult {
  ms: number;
  loss: number;
}

interface Contestant {
  framework: string;
  /** The model's parameter count, a check that every framework trains the same model. */
  params: number;
  threads: string;
  warmup: number;
  rounds: number;
  /** Untimed work before each step (switching tfjs backends, setting our thread count). */
  prepare(): Promise<void>;
  step(): Promise<StepResult>;
}

interface Row {
  model: string;
  variant: string;
  framework: string;
  threads: string;
  params: number;
  rounds: number;
  medianMs: number;
  minMs: number;
  imagesPerS: number;
  loss: number;
  note?: string;
}

/** Our model, AdamW and a fixed random batch; step() is what the Trainer does for one batch. */
function oursTrainer(config: ViTConfig, batch: number, qat: boolean): { step: () => number; params: number } {
  const gen = new Generator(0);
  const model = createModel(config, { generator: gen });
  if (qat) convertToBitNet(model); // every Linear -> BitLinear (a8, per-tensor absmean), classifier included
  model.train();
  const optimizer = new AdamW(model.parameters(), { lr: 1e-3 }); // weight decay 0.01, torch's default
  const x = randn([batch, config.numChannels, config.imageSize, config.imageSize], { generator: gen });
  const labels = randint(0, config.numLabels, [batch], { generator: gen });
  // inside tidy(), as the Trainer: the step's arrays go back to the storage pool when it ends
  const step = (): number =>
    tidy(() => {
      optimizer.zeroGrad();
      const loss: Tensor = crossEntropy(model.forward(x), labels);
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      return loss.item();
    });
  return { step, params: model.numParameters() };
}

/** setGemmThreads, where the tensor package has it (it is not part of its public API yet). */
async function gemmThreadControl(): Promise<{ set: (n: number) => void; info: () => { path: string; threads: number } } | null> {
  try {
    const gemm = (await import('../../tensor/src/kernels/gemm/index.js')) as {
      setGemmThreads?: (n: number) => void;
      gemmInfo?: () => { path: string; threads: number };
    };
    return gemm.setGemmThreads && gemm.gemmInfo ? { set: gemm.setGemmThreads, info: gemm.gemmInfo } : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// PyTorch in a child process, one JSON request and answer per line (torch_train_bench.py --serve).

/** A framework in a child process (PyTorch: torch_train_bench.py; tfjs: tfjs-server.ts) that
 *  answers one JSON request per line; answer lines start with `prefix` (others are skipped). */
class ChildServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  private constructor(readonly name: string, command: string, args: string[], env: NodeJS.ProcessEnv, private readonly prefix: string) {
    this.child = spawn(command, args, { env });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.on('error', (e) => (this.stderr += String(e)));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  /** A running server and its versions, or the reason there is none. */
  static async start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, prefix = ''): Promise<{ server: ChildServer; info: Record<string, unknown> } | { reason: string }> {
    const server = new ChildServer(name, command, args, env, prefix);
    try {
      return { server, info: await server.call({ op: 'info' }) };
    } catch (e) {
      server.close();
      return { reason: (e as Error).message };
    }
  }

  async call(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    for (;;) {
      const { value, done } = await this.lines.next();
      if (done) {
        const why = this.stderr.trim().split('\n').slice(-1)[0] || 'it exited';
        throw new Error(`${this.name}: no answer to ${request['op']}: ${why}`);
      }
      if (!value.startsWith(this.prefix)) continue; // a banner of the framework's own
      const answer = JSON.parse(value.slice(this.prefix.length)) as Record<string, unknown>;
      if (typeof answer['error'] === 'string') throw new Error(`${this.name}: ${request['op']}: ${answer['error']}`);
      return answer;
    }
  }

  close(): void {
    this.child.stdin.end();
  }
}

// ---------------------------------------------------------------------------------------------
// One model: every framework's contestant, warmups, then rounds taken in turn.

interface ModelPlan {
  preset: string;
  batch: number;
  /** [warmup, rounds] per framework; null leaves it out (with a note why). */
  ours: [number, number];
  ours1: [number, number] | null;
  /** Steps of ours in one round (their mean is the round's time): the storage pool's forced
   *  collection runs every second or third step (storage.ts), so one-step rounds would give it to
   *  every other round - or all of it to one of the two contestants taking turns. */
  oursStepsPerRound: number;
  tfjsWasm: [number, number] | null;
  tfjsCpu: [number, number] | null;
  torch: [number, number];
  /** tfjs sums the gradient over this many slices of the batch (see TfTrainer: wasm's 4 GiB heap). */
  tfjsMicroBatches: number;
  skipNote?: string;
}

interface Env {
  torch: ChildServer | null;
  tfjs: ChildServer | null;
  gemm: Awaited<ReturnType<typeof gemmThreadControl>>;
  /** Our GEMM's thread count as it starts (2 on this machine). */
  defaultThreads: number;
}

async function benchModel(plan: ModelPlan, qat: boolean, env: Env): Promise<Row[]> {
  const config = presetConfig(plan.preset);
  const variant = qat ? 'BitNet QAT' : 'float';
  const contestants: Contestant[] = [];
  const b = plan.batch;

  if (ONLY.has('ours')) {
    const { step, params } = oursTrainer(config, b, qat);
    const ours = (threads: number, [warmup, rounds]: [number, number]): Contestant => ({
      framework: 'ours',
      params,
      threads: `${threads} (gemm)`,
      warmup,
      rounds,
      prepare: async () => env.gemm?.set(threads),
      // the yield after the step lets the storage pool take back what the step left to the
      // collector, as the Trainer does each step (packages/tensor/src/storage.ts); timed
      step: async () => {
        const start = performance.now();
        let loss = NaN;
        for (let s = 0; s < plan.oursStepsPerRound; s++) {
          loss = step();
          await recycleMemory();
        }
        return { ms: (performance.now() - start) / plan.oursStepsPerRound, loss };
      },
    });
    contestants.push(ours(env.defaultThreads, plan.ours));
    if (plan.ours1 && env.gemm && env.defaultThreads > 1) contestants.push(ours(1, plan.ours1));
  }
  const tfjsConfig: TfModelConfig = config;
  const tfjs = env.tfjs;
  for (const [backend, counts] of [['wasm', plan.tfjsWasm], ['cpu', plan.tfjsCpu]] as const) {
    if (!tfjs || !counts) continue;
    const key = `${plan.preset}/${variant}/${backend}`;
    const built = await tfjs.call({ op: 'build', key, backend, config: tfjsConfig, batch: b, qat, microBatches: plan.tfjsMicroBatches });
    contestants.push({
      framework: `tfjs-${backend}${plan.tfjsMicroBatches > 1 ? ` (${plan.tfjsMicroBatches} x ${b / plan.tfjsMicroBatches} accumulated)` : ''}`,
      params: Number(built['params']),
      threads: '1',
      warmup: counts[0],
      rounds: counts[1],
      prepare: async () => {},
      step: async () => {
        const r = await tfjs.call({ op: 'step', key });
        return { ms: Number(r['ms']), loss: Number(r['loss']) };
      },
    });
  }
  const torchKey = `${plan.preset}/${variant}`;
  if (ONLY.has('torch') && env.torch) {
    const torch = env.torch;
    const torchConfig = Object.fromEntries(
      (['hiddenSize', 'numHiddenLayers', 'numAttentionHeads', 'intermediateSize', 'imageSize', 'patchSize', 'numChannels', 'numLabels', 'layerNormEps'] as const).map((k) => [k, config[k]]),
    );
    const built = await torch.call({ op: 'build', key: torchKey, config: torchConfig, batch: b, qat });
    for (const threads of [2, 1]) {
      contestants.push({
        framework: 'pytorch',
        params: Number(built['params']),
        threads: String(threads),
        warmup: plan.torch[0],
        rounds: plan.torch[1],
        prepare: async () => {},
        step: async () => {
          const r = await torch.call({ op: 'step', key: torchKey, threads });
          return { ms: Number(r['ms']), loss: Number(r['loss']) };
        },
      });
    }
  }

  const skipped: Row[] = plan.skipNote && ONLY.has('tfjs')
    ? [{ model: plan.preset, variant, framework: 'tfjs-wasm, tfjs-cpu', threads: '1', params: NaN, rounds: 0, medianMs: NaN, minMs: NaN, imagesPerS: NaN, loss: NaN, note: plan.skipNote }]
    : [];
  if (contestants.length === 0) return skipped;

  // Warmups (JIT, wasm compilation, first allocations), then the timed rounds in turn.
  const times = contestants.map(() => [] as number[]);
  const losses = contestants.map(() => NaN);
  for (const c of contestants) {
    for (let i = 0; i < c.warmup; i++) {
      await c.prepare();
      await c.step();
    }
  }
  const maxRounds = Math.max(0, ...contestants.map((c) => c.rounds));
  for (let r = 0; r < maxRounds; r++) {
    for (const [i, c] of contestants.entries()) {
      if (r >= c.rounds) continue;
      await c.prepare();
      const { ms, loss } = await c.step();
      times[i]!.push(ms);
      losses[i] = loss;
    }
    process.stderr.write(`  ${plan.preset} ${variant}: round ${r + 1}/${maxRounds}\r`);
  }
  process.stderr.write('\n');
  if (env.torch && ONLY.has('torch')) await env.torch.call({ op: 'free', key: torchKey });
  if (tfjs) for (const backend of ['wasm', 'cpu']) await tfjs.call({ op: 'free', key: `${plan.preset}/${variant}/${backend}` });
  env.gemm?.set(env.defaultThreads);

  const rows: Row[] = contestants.map((c, i) => {
    const med = median(times[i]!);
    if (!Number.isFinite(losses[i]!)) throw new Error(`train.bench: ${plan.preset} ${variant} ${c.framework}: training loss is ${losses[i]}`);
    return {
      model: plan.preset,
      variant,
      framework: c.framework,
      threads: c.threads,
      params: c.params,
      rounds: c.rounds,
      medianMs: med,
      minMs: Math.min(...times[i]!),
      imagesPerS: (b * 1000) / med,
      loss: losses[i]!,
    };
  });
  return [...rows, ...skipped];
}

// ---------------------------------------------------------------------------------------------
// Memory: ours over N steps of vit-mnist QAT (the main job's model and batch).

interface MemoryReport {
  steps: number;
  medianMs: number;
  peakRssMiB: number;
  heap: Array<{ step: number; heapMiB: number; externalMiB: number; rssMiB: number }>;
}

async function memoryRun(steps: number): Promise<MemoryReport> {
  // gc() between checkpoints, so heap figures are what is live, not what is waiting to be collected.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const { step } = oursTrainer(presetConfig('vit-mnist'), 128, true);
  const mib = (bytes: number): number => bytes / 2 ** 20;
  const heap: MemoryReport['heap'] = [];
  const checkpoint = (at: number): void => {
    gc();
    const m = process.memoryUsage();
    heap.push({ step: at, heapMiB: mib(m.heapUsed), externalMiB: mib(m.external), rssMiB: mib(m.rss) }); // external includes arrayBuffers
  };
  const warmup = Math.min(10, Math.max(1, Math.floor(steps / 10)));
  for (let i = 0; i < warmup; i++) {
    step();
    await recycleMemory();
  }
  checkpoint(warmup);
  let peakRss = process.memoryUsage.rss();
  const ms: number[] = [];
  for (let i = warmup + 1; i <= steps; i++) {
    const start = performance.now();
    step();
    await recycleMemory();
    ms.push(performance.now() - start);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    if (i === Math.floor((warmup + steps) / 2)) checkpoint(i);
    if (i % 10 === 0) process.stderr.write(`  memory: step ${i}/${steps}\r`);
  }
  process.stderr.write('\n');
  checkpoint(steps);
  return { steps, medianMs: median(ms), peakRssMiB: mib(Math.max(peakRss, process.resourceUsage().maxRSS * 1024)), heap };
}

// ---------------------------------------------------------------------------------------------

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-';
}

function printTable(rows: Row[]): void {
  console.log('\n| model | variant | framework/backend | threads | parameters | rounds | ms/step (median) | ms/step (min) | images/s | ours / this |');
  console.log('|---|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    // Compare with ours at the same thread count where we ran it (pytorch 1 thread vs ours 1 thread),
    // else with ours on its default threads.
    const oursRows = rows.filter((o) => o.model === r.model && o.variant === r.variant && o.framework === 'ours');
    const ours = oursRows.find((o) => o.threads.startsWith(`${r.threads} `)) ?? oursRows[0];
    const ratio = ours && r.framework !== 'ours' ? fmt(ours.imagesPerS / r.imagesPerS, 2) : '';
    const cells = r.note
      ? [r.model, r.variant, r.framework, r.threads, '', '-', r.note, '', '', '']
      : [r.model, r.variant, r.framework, r.threads, fmt(r.params), String(r.rounds), fmt(r.medianMs, 1), fmt(r.minMs, 1), fmt(r.imagesPerS, r.imagesPerS < 10 ? 2 : 1), ratio];
    console.log(`| ${cells.join(' | ')} |`);
  }
}

/** Issue 9's goals on vit-mnist: ours >= 10x tfjs-backend-wasm, and >= 0.5x PyTorch, both on two threads. */
function printGoals(rows: Row[]): void {
  for (const variant of ['float', 'BitNet QAT']) {
    const find = (framework: string, threads?: string): Row | undefined =>
      rows.find((r) => r.model === 'vit-mnist' && r.variant === variant && r.framework === framework && !r.note && (!threads || r.threads.startsWith(threads)));
    const ours = find('ours');
    if (!ours) continue;
    const wasm = rows.find((r) => r.model === 'vit-mnist' && r.variant === variant && r.framework.startsWith('tfjs-wasm') && !r.note);
    const torch = find('pytorch', '2');
    const parts: string[] = [];
    if (wasm) {
      const x = ours.imagesPerS / wasm.imagesPerS;
      parts.push(`${fmt(x, 2)}x tfjs-wasm (goal 10x: ${x >= 10 ? 'met' : 'not met'})`);
    }
    if (torch) {
      const x = ours.imagesPerS / torch.imagesPerS;
      parts.push(`${fmt(x, 2)}x PyTorch on 2 threads (goal 0.5x: ${x >= 0.5 ? 'met' : 'not met'})`);
    }
    if (parts.length) console.log(`goal, vit-mnist ${variant}: ours ${parts.join('; ')}`);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const load = (): string => os.loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`machine: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores, Node ${process.version}; load average at start ${load()}`);
  const gemm = ONLY.has('ours') ? await gemmThreadControl() : null;
  if (ONLY.has('ours')) {
    console.log(`ours: backend ${getBackend().describe()}; gemm ${gemm ? JSON.stringify(gemm.info()) : '(thread count not reachable)'}`);
  }
  let torch: ChildServer | null = null;
  if (ONLY.has('torch')) {
    const torchEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_WAIT_POLICY: process.env['OMP_WAIT_POLICY'] ?? 'PASSIVE' };
    const started = await ChildServer.start('torch_train_bench.py', PYTHON, [TORCH_SCRIPT, '--serve'], torchEnv);
    if ('server' in started) {
      torch = started.server;
      console.log(`PyTorch: ${JSON.stringify(started.info)}; OMP_WAIT_POLICY=${process.env['OMP_WAIT_POLICY'] ?? 'PASSIVE'}`);
    } else {
      console.log(`PyTorch: not available (${started.reason})`);
    }
  }

  // Memory first, so the process' peak RSS is ours alone (the big model comes after).
  const memory = ONLY.has('ours') && MEMORY_STEPS > 0 ? await memoryRun(MEMORY_STEPS) : null;

  let tfjs: ChildServer | null = null;
  if (ONLY.has('tfjs')) {
    // tfjs runs in a process of its own, as PyTorch (tfjs-server.ts); it checks there first that
    // tfjs-vit.ts with our weights gives our logits
    const started = await ChildServer.start('tfjs-server.ts', process.execPath, ['--conditions=source', '--import', 'tsx', TFJS_SCRIPT], process.env, TFJS_ANSWER_PREFIX);
    if (!('server' in started)) throw new Error(`train.bench: tfjs-server.ts did not start: ${started.reason}`);
    tfjs = started.server;
    const info = started.info;
    const diff = Number((await tfjs.call({ op: 'check' }))['diff']);
    console.log(
      `tfjs ${String(info['version'])} (own process): wasm SIMD ${String(info['wasmSimd'])}, wasm threads ${String(info['wasmThreads'])} (Node: none); ` +
        `tfjs-vit.ts with our weights gives our logits within ${diff.toExponential(1)} (vit-mnist, float and QAT)`,
    );
  }
  const env: Env = { torch, tfjs, gemm, defaultThreads: gemm?.info().threads ?? 1 };

  const plans: ModelPlan[] = [
    {
      preset: 'vit-mnist',
      batch: 128,
      ours: QUICK ? [1, 3] : [2, 7],
      ours1: QUICK ? null : [1, 5],
      oursStepsPerRound: 4,
      tfjsWasm: QUICK ? [1, 1] : [1, 7], // as many rounds as ours: its median moved with one slow round in three
      tfjsCpu: QUICK ? [0, 1] : FULL ? [1, 3] : [1, 1],
      torch: QUICK ? [2, 5] : [3, 9],
      tfjsMicroBatches: 1,
    },
    {
      preset: 'vit-tiny-32',
      batch: 64,
      ours: QUICK ? [0, 1] : [1, 2],
      ours1: null,
      oursStepsPerRound: 1,
      // ~120 s (wasm) and 450-600 s (cpu) per step here (docs/bench.md): one step each, only with --full
      tfjsWasm: FULL ? [0, 1] : null,
      tfjsCpu: FULL ? [0, 1] : null,
      torch: QUICK ? [1, 2] : [1, 3],
      // its taped activations at batch 64 (~6 GiB) overflow tfjs-backend-wasm's 4 GiB heap
      tfjsMicroBatches: 4,
      skipNote: FULL ? undefined : 'skipped: ~120 s/step (wasm), 450-600 s/step (cpu); run with --full',
    },
  ];
  const rows: Row[] = [];
  for (const plan of plans.filter((p) => MODELS.includes(p.preset))) {
    for (const qat of [false, true]) rows.push(...(await benchModel(plan, qat, env)));
  }
  torch?.close();
  tfjs?.close();

  console.log(`\nmedians of the rounds column after warmup; frameworks take turns step by step; load average at end ${load()}`);
  printTable(rows);
  console.log('');
  printGoals(rows);
  if (memory) {
    const first = memory.heap[0]!;
    const last = memory.heap[memory.heap.length - 1]!;
    console.log(`\nours, memory over ${memory.steps} steps of vit-mnist BitNet QAT (batch 128; ${fmt(memory.medianMs, 1)} ms/step median): peak RSS ${fmt(memory.peakRssMiB, 1)} MiB`);
    console.log('| after step | heap used MiB | external MiB (typed arrays) | RSS MiB |\n|---:|---:|---:|---:|');
    for (const h of memory.heap) console.log(`| ${h.step} | ${fmt(h.heapMiB, 1)} | ${fmt(h.externalMiB, 1)} | ${fmt(h.rssMiB, 1)} |`);
    console.log(`heap growth from step ${first.step} to ${last.step}: ${fmt(last.heapMiB - first.heapMiB, 2)} MiB heap, ${fmt(last.externalMiB - first.externalMiB, 2)} MiB external (after gc)`);
  }
  console.log(`\ntotal ${fmt((performance.now() - started) / 1000, 0)} s`);
}

try {
  await main();
} catch (e) {
  // tfjs-backend-wasm's runtime rethrows uncaught errors with its whole minified source: print ours first and leave
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
}
process.exit(0); // the GEMM worker pool and the wasm runtime would otherwise keep the process alive
