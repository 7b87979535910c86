// The MNIST-sized ViT and DeiT on the CPU: one training step (forward + backward + AdamW update) and
// eval (forward only, no graph), on a batch of 64 random 28x28x1 images. Reports the median step
// time over several rounds in this one process, and images per second from it.
//
//   cd /work/main && node scripts/bench.mjs vit            (or: pnpm bench vit)
//   flags (no "--" before them): --rounds 11 timed rounds per row, --batch 64, --deit false to skip DeiT
//
// The machine is shared and noisy: compare numbers from one run, and read medians, not minima.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Generator, getBackend, noGrad, randint, randn, type Tensor } from '@bitvit/tensor';
import { AdamW, crossEntropy, paramGroupsWithDecay } from '@bitvit/nn';
import { DeiTForImageClassificationWithTeacher, createModel, presetConfig, type ImageClassifier } from '../src/index.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '11' },
    batch: { type: 'string', default: '64' },
    deit: { type: 'string', default: 'true' },
  },
  strict: false,
});
const ROUNDS = Number(flags.rounds);
const BATCH = Number(flags.batch);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Row {
  name: string;
  median: number;
  min: number;
  max: number;
}

function time(name: string, step: () => void, warmup: number): Row {
  for (let i = 0; i < warmup; i++) step();
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    step();
    ms.push(performance.now() - t0);
  }
  return { name, median: median(ms), min: Math.min(...ms), max: Math.max(...ms) };
}

/** The rows of one preset: a training step (as the Trainer runs it) and eval. */
function benchPreset(preset: string): Row[] {
  const config = presetConfig(preset);
  const gen = new Generator(0);
  const model: ImageClassifier = createModel(config, { generator: gen });
  // Weight decay on matrices only (biases, norms, tokens excluded), as the training recipes do.
  const optimizer = new AdamW(paramGroupsWithDecay(model, 0.05), { lr: 1e-3 });
  const x = randn([BATCH, config.numChannels, config.imageSize, config.imageSize], { generator: gen });
  const labels = randint(0, config.numLabels, [BATCH], { generator: gen });
  const teacherLabels = randint(0, config.numLabels, [BATCH], { generator: gen });

  // DeiT trains with hard distillation: the CLS head learns the labels, the distillation head the teacher's.
  const loss = (): Tensor => {
    if (model instanceof DeiTForImageClassificationWithTeacher) {
      const { clsLogits, distillationLogits } = model.forwardHeads(x);
      return crossEntropy(clsLogits, labels).add(crossEntropy(distillationLogits, teacherLabels)).mul(0.5);
    }
    return crossEntropy(model.forward(x), labels);
  };
  let lastLoss = NaN;
  const trainStep = (): void => {
    model.train();
    optimizer.zeroGrad();
    const l = loss();
    l.backward();
    optimizer.step();
    lastLoss = l.item();
  };
  const evalStep = (): void => {
    model.eval();
    noGrad(() => model.forward(x));
  };

  const rows = [
    time(`${preset} train step (fwd+bwd+AdamW)`, trainStep, 2),
    time(`${preset} eval (forward, no grad)`, evalStep, 2),
  ];
  if (!Number.isFinite(lastLoss)) throw new Error(`vit.bench: ${preset} training loss is ${lastLoss}`);
  console.log(
    `${preset}: ${model.numParameters().toLocaleString('en-US')} parameters, ${config.numPatches + (config.modelType === 'deit' ? 2 : 1)} tokens, ` +
      `loss after ${ROUNDS + 2} steps on one fixed batch ${lastLoss.toFixed(3)}`,
  );
  return rows;
}

console.log(
  `backend: ${getBackend().describe()}; node ${process.version}; ${os.cpus().length} CPUs; batch ${BATCH}; ` +
    `${ROUNDS} timed rounds each after 2 warmup, median in one process; load average ${os.loadavg()[0]!.toFixed(1)}`,
);
const rows = benchPreset('vit-mnist');
if (flags.deit !== 'false') rows.push(...benchPreset('deit-mnist'));
// On a loaded machine the median drifts with the other jobs; the best round is what the code can do.
const perSecond = (ms: number): string => ((BATCH * 1000) / ms).toFixed(0);
console.log('\n| step | median ms | min ms | max ms | images/s (median) | images/s (best) |\n|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.median.toFixed(1)} | ${r.min.toFixed(1)} | ${r.max.toFixed(1)} | ${perSecond(r.median)} | ${perSecond(r.min)} |`);
}
process.exit(0); // a GEMM worker pool would otherwise keep the process alive
