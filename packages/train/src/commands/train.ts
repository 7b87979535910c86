// `train`: float or BitNet QAT training from the command line (pnpm train:qat / train:fp).
import { join } from 'node:path';
import { PRESET_NAMES } from '@bitvit/vit';
import { bool, formatHelp, num, parseFlags, str, UsageError, type FlagTable } from '../args.js';
import { Trainer, TrainingDiverged, readRunOptions, type TrainOptions } from '../trainer.js';

// Defaults are tuned so `pnpm train:qat` reaches >= 97% MNIST test accuracy in under 10 minutes
// on a 2-core machine (measured figures in the root README).
export const TRAIN_FLAGS: FlagTable = {
  qat: { type: 'boolean', default: false, help: 'BitNet b1.58 QAT: every encoder and classifier Linear becomes a BitLinear' },
  model: { type: 'string', default: 'vit-mnist', help: `vit preset (${PRESET_NAMES.join(', ')})` },
  init: { type: 'string', help: 'start from a model folder (config.json + model.safetensors) instead of a preset' },
  data: { type: 'string', default: 'mnist', help: 'mnist | idx:<dir> | cifar10:<dir> | folder:<dir>' },
  epochs: { type: 'int', default: 5, min: 1, help: 'passes over the training set' },
  steps: { type: 'int', min: 1, help: 'total optimizer steps (overrides --epochs)' },
  'batch-size': { type: 'int', default: 128, min: 1, help: 'training batch size' },
  'eval-batch-size': { type: 'int', default: 500, min: 1, help: 'evaluation batch size' },
  optimizer: { type: 'string', default: 'adamw', choices: ['adamw', 'sgd'], help: 'optimizer' },
  lr: { type: 'number', default: 3e-3, min: 0, help: 'peak learning rate' },
  'min-lr': { type: 'number', default: 1e-5, min: 0, help: 'learning rate at the end of the decay' },
  'weight-decay': { type: 'number', default: 0.05, min: 0, help: 'decoupled weight decay (not on biases, norms, tokens, position embeddings)' },
  beta1: { type: 'number', default: 0.9, min: 0, help: 'AdamW beta1' },
  beta2: { type: 'number', default: 0.98, min: 0, help: 'AdamW beta2' },
  momentum: { type: 'number', default: 0.9, min: 0, help: 'SGD momentum (Nesterov)' },
  warmup: { type: 'int', default: 100, min: 0, help: 'linear warmup steps' },
  schedule: { type: 'string', default: 'cosine', choices: ['cosine', 'linear', 'bitnet', 'constant'], help: 'LR schedule after warmup (bitnet: two-stage, weight decay off in the second half)' },
  'label-smoothing': { type: 'number', default: 0.0, min: 0, help: 'label smoothing of the cross entropy' },
  'clip-grad': { type: 'number', default: 1.0, min: 0, help: 'clip gradients to this global norm (0: off)' },
  teacher: { type: 'string', help: 'teacher model folder for DeiT distillation' },
  distillation: { type: 'string', default: 'hard', choices: ['hard', 'soft'], help: 'DeiT distillation type' },
  temperature: { type: 'number', default: 3, min: 0, help: 'soft distillation temperature' },
  'distill-alpha': { type: 'number', default: 0.5, min: 0, help: 'weight of the distillation loss' },
  augment: { type: 'string', default: 'none', choices: ['none', 'crop', 'randaugment'], help: 'augmentation: random crop with padding, or RandAugment-lite (both slow early progress on MNIST: measured)' },
  'crop-padding': { type: 'int', min: 0, help: 'padding of the random crop (default image size / 8)' },
  flip: { type: 'boolean', default: false, help: 'random horizontal flips (not for digits)' },
  'input-norm': { type: 'string', default: 'none', choices: ['none', 'rmsnorm', 'layernorm'], help: 'QAT: norm inside each BitLinear' },
  'weight-scale': { type: 'string', default: 'tensor', choices: ['tensor', 'channel'], help: 'QAT: absmean scale per tensor or per output channel' },
  'activation-bits': { type: 'int', default: 8, min: 0, help: 'QAT: activation bits (0: weights-only ternary)' },
  'float-head': { type: 'boolean', default: false, help: 'QAT: keep the classifier head float' },
  'val-split': { type: 'number', default: 0.05, min: 0, help: 'fraction of the training set held out for validation' },
  seed: { type: 'int', default: 42, help: 'seed of every random choice (init, order, augmentation, dropout)' },
  out: { type: 'string', help: 'output folder (default runs/<qat|fp>-<model>-<time>)' },
  resume: { type: 'string', help: 'continue the run in this output folder from its checkpoint' },
  'checkpoint-every': { type: 'int', default: 200, min: 0, help: 'also checkpoint every N steps (0: only at epoch ends)' },
  'log-every': { type: 'int', default: 20, min: 1, help: 'steps between metrics.jsonl lines' },
  'limit-train': { type: 'int', min: 1, help: 'use only the first N training images (quick runs)' },
  'limit-test': { type: 'int', min: 1, help: 'evaluate only the first N test images' },
  'stop-after': { type: 'int', min: 1, help: 'stop with a checkpoint after N steps of this process (as Ctrl-C does)' },
  quiet: { type: 'boolean', default: false, help: 'no progress output' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export function trainOptionsFromFlags(argv: readonly string[]): TrainOptions | 'help' | { resume: string } {
  const f = parseFlags(argv, TRAIN_FLAGS, 'train');
  if (bool(f, 'help')) return 'help';
  const resume = str(f, 'resume');
  if (resume) return { resume };
  const qat = bool(f, 'qat');
  const model = str(f, 'model')!;
  const bits = num(f, 'activationBits')!;
  return {
    model,
    init: str(f, 'init'),
    qat,
    inputNorm: str(f, 'inputNorm') as TrainOptions['inputNorm'],
    weightScale: str(f, 'weightScale') as TrainOptions['weightScale'],
    activationBits: bits === 0 ? null : bits,
    floatHead: bool(f, 'floatHead'),
    data: str(f, 'data')!,
    epochs: num(f, 'epochs')!,
    steps: num(f, 'steps'),
    batchSize: num(f, 'batchSize')!,
    evalBatchSize: num(f, 'evalBatchSize')!,
    optimizer: str(f, 'optimizer') as TrainOptions['optimizer'],
    lr: num(f, 'lr')!,
    minLr: num(f, 'minLr')!,
    weightDecay: num(f, 'weightDecay')!,
    beta1: num(f, 'beta1')!,
    beta2: num(f, 'beta2')!,
    momentum: num(f, 'momentum')!,
    warmup: num(f, 'warmup')!,
    schedule: str(f, 'schedule') as TrainOptions['schedule'],
    labelSmoothing: num(f, 'labelSmoothing')!,
    clipGrad: num(f, 'clipGrad')!,
    teacher: str(f, 'teacher'),
    distillation: str(f, 'distillation') as TrainOptions['distillation'],
    temperature: num(f, 'temperature')!,
    distillAlpha: num(f, 'distillAlpha')!,
    augment: str(f, 'augment') as TrainOptions['augment'],
    cropPadding: num(f, 'cropPadding'),
    flip: bool(f, 'flip'),
    valSplit: num(f, 'valSplit')!,
    seed: num(f, 'seed')!,
    out: str(f, 'out') ?? join('runs', `${qat ? 'qat' : 'fp'}-${(str(f, 'init') ? 'init' : model)}-${timestamp()}`),
    checkpointEvery: num(f, 'checkpointEvery')!,
    logEvery: num(f, 'logEvery')!,
    limitTrain: num(f, 'limitTrain'),
    limitTest: num(f, 'limitTest'),
    stopAfter: num(f, 'stopAfter'),
    quiet: bool(f, 'quiet'),
  };
}

/** The flags in `argv` (besides --resume and the per-process ones) whose value differs from the saved run's. */
function changedRunFlags(argv: readonly string[], saved: TrainOptions): string[] {
  const rest: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--resume') i++;
    else if (!arg.startsWith('--resume=')) rest.push(arg);
  }
  for (const arg of rest) {
    if (!arg.startsWith('--') || arg === '--') continue;
    const name = arg.slice(2).split('=')[0]!;
    names.push(TRAIN_FLAGS[name] ? name : name.replace(/^no-/, ''));
  }
  const given = trainOptionsFromFlags(rest);
  if (given === 'help' || 'resume' in given) return [];
  const perProcess = new Set(['quiet', 'stop-after', 'help']);
  const key = (name: string): keyof TrainOptions => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof TrainOptions;
  return names.filter((n) => !perProcess.has(n) && JSON.stringify(given[key(n)]) !== JSON.stringify(saved[key(n)])).map((n) => `--${n}`);
}

export async function trainCommand(argv: readonly string[]): Promise<number> {
  const parsed = trainOptionsFromFlags(argv);
  if (parsed === 'help') {
    console.log(formatHelp('train', 'train a ViT/DeiT (float, or BitNet b1.58 QAT with --qat) and write a model folder, metrics.jsonl and summary.json', TRAIN_FLAGS));
    return 0;
  }
  let options: TrainOptions;
  let resumeFrom: string | undefined;
  if ('resume' in parsed && !('model' in parsed)) {
    resumeFrom = parsed.resume;
    const saved = await readRunOptions(resumeFrom);
    options = { ...saved, out: resumeFrom };
    // Flags given with --resume that change the run are refused, so a resumed run is the same
    // run; ones that repeat the saved value pass (`pnpm train:qat --resume <dir>` adds --qat).
    const changed = changedRunFlags(argv, saved);
    if (changed.length > 0) throw new UsageError(`train: --resume continues the saved run; remove ${changed.join(', ')} (the run in ${resumeFrom} has other values)`);
    const f = parseFlags(argv, TRAIN_FLAGS, 'train');
    options.stopAfter = num(f, 'stopAfter');
    options.quiet = bool(f, 'quiet') || options.quiet;
  } else {
    options = parsed as TrainOptions;
  }
  try {
    const summary = await new Trainer(options).run(resumeFrom);
    console.log(JSON.stringify({ out: options.out, test_accuracy: summary.test_accuracy, steps: summary.steps, seconds: Math.round(summary.seconds), train_images_per_s: Math.round(summary.train_images_per_s) }));
    return 0;
  } catch (e) {
    if (e instanceof TrainingDiverged) {
      console.error(e.message);
      return 3;
    }
    throw e;
  }
}
