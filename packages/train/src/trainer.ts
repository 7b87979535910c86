// The Trainer: float or BitNet QAT training of a ViT/DeiT with evaluation, checkpoints that
// resume bit for bit, metrics.jsonl, a final model folder (and a packed one for BitNet) and
// summary.json. Everything random comes from generators derived from the seed, so a run repeats.
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, Tensor, defaultGenerator, manualSeed, recycleMemory, tidy } from '@bitvit/tensor';
import {
  AdamW, SGD, applySchedule, bitnetSchedule, clipGradNorm, constantSchedule, paramGroupsWithDecay, warmupDecaySchedule,
  type Optimizer, type Schedule,
} from '@bitvit/nn';
import { defaultPreprocessor, loadConfig, loadPreprocessor, writeFileAtomic, type ImageClassifier, type PreprocessorConfig } from '@bitvit/vit';
import { TernaryTracker, bitLinears, convertToBitNet, savePacked, storageReport, type InputNorm, type ScaleGranularity } from '@bitvit/bitnet';
import {
  MNIST_NORMALIZATION, convertDataset, loadDataset, makeBatch, normalizationFromPreprocessorConfig, permutation,
  randAugmentLite, randomCropWithPadding, randomHorizontalFlip, trainValSplit,
  type DatasetSplits, type ImageDataset, type Normalization,
} from './data/index.js';
import { buildModel, loadModel, saveModel } from './models.js';
import { evaluateAsync, type EvalResult } from './evaluate.js';
import { computeLoss, type ObjectiveOptions } from './objective.js';
import { loadCheckpoint, saveCheckpoint, type MetricsWindow, type TrainerPosition } from './checkpoint.js';
import { Progress } from './progress.js';

export interface TrainOptions {
  /** A vit preset name; ignored when `init` is given. */
  model: string;
  /** A model folder to start from (its config and weights). */
  init?: string;
  qat: boolean;
  inputNorm: InputNorm;
  weightScale: ScaleGranularity;
  /** 8, or null for weights-only ternary. */
  activationBits: number | null;
  /** Keep the classifier head(s) float in QAT (the LLM papers' choice). */
  floatHead: boolean;
  data: string;
  epochs: number;
  /** Total optimizer steps; overrides epochs when set. */
  steps?: number;
  batchSize: number;
  evalBatchSize: number;
  optimizer: 'adamw' | 'sgd';
  lr: number;
  minLr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  momentum: number;
  warmup: number;
  schedule: 'cosine' | 'linear' | 'bitnet' | 'constant';
  labelSmoothing: number;
  clipGrad: number;
  teacher?: string;
  distillation: 'hard' | 'soft';
  temperature: number;
  distillAlpha: number;
  augment: 'none' | 'crop' | 'randaugment';
  /** Padding of the random crop; default image height / 8. */
  cropPadding?: number;
  flip: boolean;
  valSplit: number;
  seed: number;
  out: string;
  checkpointEvery: number;
  logEvery: number;
  limitTrain?: number;
  limitTest?: number;
  /** Stop after this many steps in this process, writing a checkpoint (as Ctrl-C would). */
  stopAfter?: number;
  quiet?: boolean;
}

export interface TrainSummary {
  test_accuracy: number;
  test_loss: number;
  val_accuracy: number | null;
  epochs: number;
  steps: number;
  train_images_per_s: number;
  eval_images_per_s: number;
  seconds: number;
  train_seconds: number;
  params: number;
  model_bytes: Record<string, number>;
  packed_file_bytes: number | null;
  qat: boolean;
  model: string;
  data: string;
  seed: number;
  command: string;
  stopped_early: boolean;
}

export class TrainingDiverged extends Error {}

/** Read back a run's options (run.json) for --resume. */
export async function readRunOptions(dir: string): Promise<TrainOptions> {
  const path = join(dir, 'run.json');
  if (!existsSync(path)) throw new Error(`--resume ${dir}: no run.json there (not a training output folder)`);
  return JSON.parse(await readFile(path, 'utf8')) as TrainOptions;
}

function scheduleOf(o: TrainOptions, totalSteps: number): Schedule {
  switch (o.schedule) {
    case 'constant': return constantSchedule(o.lr);
    case 'bitnet': return bitnetSchedule({ peakLr: o.lr, warmupSteps: o.warmup, totalSteps, minLr: o.minLr, weightDecay: o.weightDecay });
    default: return warmupDecaySchedule({ peakLr: o.lr, warmupSteps: o.warmup, totalSteps, minLr: o.minLr, decay: o.schedule });
  }
}

function normalizationFor(o: TrainOptions, pre: PreprocessorConfig | null, channels: number): Normalization {
  if (pre) return normalizationFromPreprocessorConfig(pre as unknown as Record<string, unknown>, channels);
  if (o.data === 'mnist' || o.data.startsWith('idx:')) return { ...MNIST_NORMALIZATION, mean: Array(channels).fill(MNIST_NORMALIZATION.mean[0]), std: Array(channels).fill(MNIST_NORMALIZATION.std[0]) };
  return { mean: Array(channels).fill(0.5), std: Array(channels).fill(0.5), rescale: 1 / 255 };
}

export class Trainer {
  readonly o: TrainOptions;
  private readonly progress: Progress;
  private interrupted = false;

  constructor(options: TrainOptions) {
    this.o = options;
    this.progress = new Progress(process.stderr);
  }

  private log(line: string): void {
    if (!this.o.quiet) this.progress.log(line);
  }

  /** The data at the model's input size and channel count (a no-op when they already match). */
  private resize(splits: DatasetSplits, channels: number, size: number): DatasetSplits {
    const shape = { channels, height: size, width: size };
    return { train: convertDataset(splits.train, shape), test: convertDataset(splits.test, shape) };
  }

  async run(resumeFrom?: string): Promise<TrainSummary> {
    const o = this.o;
    const started = performance.now();
    await mkdir(o.out, { recursive: true });
    // stopAfter belongs to this process, not to the run: a resume with run.json's options must not stop again.
    if (!resumeFrom) await writeFileAtomic(join(o.out, 'run.json'), `${JSON.stringify({ ...o, stopAfter: undefined }, null, 2)}\n`);

    // Data and model. The model's input size decides the data's; its labels come from the data.
    manualSeed(o.seed);
    let model: ImageClassifier;
    let pre: PreprocessorConfig | null = null;
    let splits: DatasetSplits;
    const raw = await loadDataset(o.data);
    if (o.init) {
      const cfg = await loadConfig(o.init);
      splits = this.resize(raw, cfg.numChannels, cfg.imageSize);
      model = await loadModel(o.init);
      pre = await loadPreprocessor(o.init, cfg);
      if (o.qat && bitLinears(model).length === 0) convertToBitNet(model, this.bitnetOptions(model));
    } else {
      // A preset takes the data's channels and classes; the data is resized to the preset's input size.
      const ds = raw.train;
      const id2label: Record<string, string> = {};
      ds.classNames.forEach((n, i) => (id2label[String(i)] = n));
      model = buildModel({ model: o.model, overrides: { numChannels: ds.channels, numLabels: ds.numClasses, id2label } });
      if (o.qat) convertToBitNet(model, this.bitnetOptions(model));
      splits = this.resize(raw, ds.channels, model.config.imageSize);
    }
    const norm = normalizationFor(o, pre, splits.train.channels);
    const preprocessor = pre ?? defaultPreprocessor(model.config, { mean: norm.mean, std: norm.std });
    const teacher = o.teacher ? await loadModel(o.teacher) : undefined;
    teacher?.eval();

    let train: ImageDataset = splits.train;
    let val: ImageDataset | null = null;
    if (o.valSplit > 0) {
      const g = new Generator(`${o.seed}/split`);
      ({ train, val } = trainValSplit(splits.train, o.valSplit, () => g.random()));
    }
    if (o.limitTrain !== undefined && o.limitTrain < train.count) train = { ...train, count: o.limitTrain };

    const stepsPerEpoch = Math.floor(train.count / o.batchSize);
    if (stepsPerEpoch === 0) throw new Error(`train: batch size ${o.batchSize} is larger than the ${train.count} training images`);
    const totalSteps = o.steps ?? o.epochs * stepsPerEpoch;
    const totalEpochs = Math.ceil(totalSteps / stepsPerEpoch);

    const groups = paramGroupsWithDecay(model, o.weightDecay);
    const optimizer: Optimizer = o.optimizer === 'sgd'
      ? new SGD(groups, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.momentum > 0 })
      : new AdamW(groups, { lr: o.lr, betas: [o.beta1, o.beta2], weightDecay: o.weightDecay });
    const schedule = scheduleOf(o, totalSteps);
    const objective: ObjectiveOptions = { labelSmoothing: o.labelSmoothing, teacher, distillation: o.distillation, temperature: o.temperature, distillAlpha: o.distillAlpha };

    const parameters = model.parameters(); // fixed for the run: the step and the checkpoint walk this list
    const ckptPath = join(o.out, 'checkpoint.safetensors');
    const lastGood = (): string => existsSync(ckptPath)
      ? `The last good checkpoint (${ckptPath}) is intact; resume with --resume ${o.out} after lowering --lr`
      : 'No checkpoint was written yet';
    // Only finite weights are checkpointed, so the file on disk is always a state to go back to.
    const checkpoint = async (): Promise<void> => {
      for (const p of parameters) {
        if (!p.data.every(Number.isFinite)) throw new TrainingDiverged(`train: weights are not finite after step ${pos.step}; stopping. ${lastGood()}.`);
      }
      pos.rng = defaultGenerator().getState();
      await saveCheckpoint(ckptPath, model, optimizer, pos);
    };
    const metricsPath = join(o.out, 'metrics.jsonl');
    let pos: Required<TrainerPosition> = { step: 0, epoch: 0, batchInEpoch: 0, rng: defaultGenerator().getState(), trainSeconds: 0, imagesSeen: 0, window: emptyWindow() };
    if (resumeFrom) {
      const ck = await loadCheckpoint(join(resumeFrom, 'checkpoint.safetensors'));
      model.loadStateDict(ck.model);
      optimizer.loadStateDict(ck.optimizer);
      pos = { ...ck.position, window: ck.position.window ?? emptyWindow() };
      defaultGenerator().setState(pos.rng);
      await truncateMetrics(metricsPath, pos.step);
      this.log(`resumed from ${resumeFrom} at step ${pos.step} (epoch ${pos.epoch + 1}, batch ${pos.batchInEpoch})`);
    } else {
      await writeFile(metricsPath, '');
    }

    const params = model.numParameters();
    this.log(`${o.qat ? 'BitNet QAT' : 'float'} ${o.init ?? o.model}: ${params.toLocaleString('en-US')} parameters, ${bitLinears(model).length} BitLinear layers; ` +
      `${train.count} train / ${val?.count ?? 0} val / ${splits.test.count} test images ${train.channels}x${train.height}x${train.width}; ` +
      `${totalSteps} steps (${stepsPerEpoch}/epoch) of batch ${o.batchSize}`);

    const onSigint = (): void => {
      this.interrupted = true;
    };
    process.on('SIGINT', onSigint);
    const tracker = new TernaryTracker();
    if (o.qat) tracker.stats(model); // baseline codes, so the first logged flips count from the start

    const shape = [train.channels, train.height, train.width];
    const imageSize = { channels: train.channels, height: train.height, width: train.width };
    const batchBuf = new Float32Array(o.batchSize * train.channels * train.height * train.width);
    const scratch = new Uint8Array(train.channels * train.height * train.width);
    let stepsThisRun = 0;
    let valResult: EvalResult | null = null;
    let stoppedEarly = false;
    model.train();

    try {
      while (pos.step < totalSteps) {
        // The epoch's order and each step's augmentation come from generators keyed by the
        // seed and position, so a resumed run sees exactly the batches the full run saw.
        const orderGen = new Generator(`${o.seed}/order/${pos.epoch}`);
        const order = permutation(train.count, () => orderGen.random());
        while (pos.batchInEpoch < stepsPerEpoch && pos.step < totalSteps) {
          const t0 = performance.now();
          const aug = new Generator(`${o.seed}/augment/${pos.step}`);
          const random = (): number => aug.random();
          const augment = o.augment === 'none' && !o.flip ? undefined : (src: Uint8Array, dst: Uint8Array): void => {
            if (o.augment === 'crop') randomCropWithPadding(src, dst, imageSize, o.cropPadding ?? Math.max(1, Math.round(train.height / 8)), random);
            else if (o.augment === 'randaugment') randAugmentLite(src, dst, imageSize, { magnitude: 6, numOps: 2 }, random, scratch);
            else dst.set(src);
            if (o.flip) {
              scratch.set(dst);
              randomHorizontalFlip(scratch, dst, imageSize, random);
            }
          };
          const idx = order.subarray(pos.batchInEpoch * o.batchSize, (pos.batchInEpoch + 1) * o.batchSize);
          const { images, labels } = makeBatch(train, idx, norm, { out: batchBuf, augment });
          const x = new Tensor(images, [idx.length, ...shape]);

          const lrwd = applySchedule(optimizer, schedule, pos.step);
          // The step inside tidy(): its activations, graph and gradients go back to the storage
          // pool when it ends, not at the next full garbage collection (one every step or two
          // otherwise, 6-15 ms each). Only numbers leave it; optimizer state lives in its own arrays.
          const { lossValue, correct } = tidy(() => {
            const { loss, logits } = computeLoss(model, x, labels, objective);
            const lossValue = loss.item();
            if (!Number.isFinite(lossValue)) {
              throw new TrainingDiverged(`train: loss is ${lossValue} at step ${pos.step + 1} (epoch ${pos.epoch + 1}); stopping. ${lastGood()}.`);
            }
            optimizer.zeroGrad();
            loss.backward();
            // The global gradient norm (clipping when asked): a finite loss can still have an
            // overflowing gradient, and one update with it would put NaN into every weight.
            const gradNorm = clipGradNorm(parameters, o.clipGrad > 0 ? o.clipGrad : Infinity);
            if (!Number.isFinite(gradNorm)) {
              throw new TrainingDiverged(`train: gradient norm is ${gradNorm} at step ${pos.step + 1} (epoch ${pos.epoch + 1}, loss ${lossValue}); stopping. ${lastGood()}.`);
            }
            optimizer.step();
            optimizer.zeroGrad(); // the gradients are freed with the step: none stays behind
            const pred = logits.argmax(-1).data;
            let correct = 0;
            for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
            return { lossValue, correct };
          });
          // One turn of the event loop: the storage pool takes back what the step left to the
          // collector, and a Ctrl-C gets through. Counted in the step's time.
          await recycleMemory();
          const seconds = (performance.now() - t0) / 1000;
          pos.step++;
          pos.batchInEpoch++;
          pos.trainSeconds += seconds;
          pos.imagesSeen += labels.length;
          stepsThisRun++;
          const w = pos.window;
          pos.window = { loss: w.loss + lossValue, correct: w.correct + correct, seen: w.seen + labels.length, steps: w.steps + 1, seconds: w.seconds + seconds };
          const window = pos.window;

          const rate = window.seen / Math.max(window.seconds, 1e-9);
          if (!o.quiet) {
            this.progress.update(
              { label: `epoch ${pos.epoch + 1}/${totalEpochs}`, done: pos.batchInEpoch, total: stepsPerEpoch, rate, rateUnit: 'img/s',
                fields: { step: String(pos.step), loss: (window.loss / window.steps).toFixed(4), acc: `${((100 * window.correct) / window.seen).toFixed(1)}%` } },
              ((totalSteps - pos.step) * o.batchSize) / rate,
            );
          }
          if (pos.step % o.logEvery === 0 || pos.step === totalSteps) {
            const record: Record<string, unknown> = {
              step: pos.step, epoch: pos.epoch + pos.batchInEpoch / stepsPerEpoch, loss: window.loss / window.steps,
              lr: lrwd.lr, weight_decay: lrwd.weightDecay ?? o.weightDecay, accuracy: window.correct / window.seen, images_per_s: rate,
            };
            if (o.qat) {
              const s = tracker.stats(model);
              record['ternary'] = { minus: s.minusShare, zero: s.zeroShare, plus: s.plusShare, flips: s.flips, flip_rate: s.flipRate };
            }
            await appendFile(metricsPath, `${JSON.stringify(record)}\n`);
            pos.window = emptyWindow();
          }
          // On the last step there is nothing left to stop: the epoch-end checkpoint follows.
          const stopNow = (this.interrupted || (o.stopAfter !== undefined && stepsThisRun >= o.stopAfter)) && pos.step < totalSteps;
          if ((o.checkpointEvery > 0 && pos.step % o.checkpointEvery === 0) || stopNow) await checkpoint();
          if (stopNow) {
            stoppedEarly = true;
            this.progress.done();
            this.log(`${this.interrupted ? 'interrupted' : 'stopped'} at step ${pos.step}; checkpoint written to ${ckptPath}. Continue with --resume ${o.out}`);
            break;
          }
        }
        if (stoppedEarly) break;
        // End of an epoch, or of the steps part way through one (then the position stays
        // inside that epoch): validate, checkpoint.
        if (pos.batchInEpoch === stepsPerEpoch) {
          pos.epoch++;
          pos.batchInEpoch = 0;
        }
        const epochs = pos.epoch + pos.batchInEpoch / stepsPerEpoch;
        this.progress.done();
        if (val) {
          valResult = await evaluateAsync(model, val, norm, { batchSize: o.evalBatchSize });
          this.log(`epoch ${epochs}: val accuracy ${(100 * valResult.accuracy).toFixed(2)}%  val loss ${valResult.loss.toFixed(4)}`);
          await appendFile(metricsPath, `${JSON.stringify({ type: 'eval', split: 'val', step: pos.step, epoch: epochs, accuracy: valResult.accuracy, loss: valResult.loss })}\n`);
        }
        await checkpoint();
      }
      // Ctrl-C during the last step or its validation: the checkpoint above holds the finished
      // training; stop here and let a resume do the test evaluation and write the model.
      if (this.interrupted && !stoppedEarly) {
        stoppedEarly = true;
        this.log(`interrupted after the last step; checkpoint written to ${ckptPath}. Finish with --resume ${o.out}`);
      }
    } finally {
      process.off('SIGINT', onSigint);
    }

    const trainRate = pos.imagesSeen / Math.max(pos.trainSeconds, 1e-9);
    let test: EvalResult = { accuracy: NaN, loss: NaN, count: 0, imagesPerSecond: NaN };
    let packedBytes: number | null = null;
    if (!stoppedEarly) {
      test = await evaluateAsync(model, splits.test, norm, {
        batchSize: o.evalBatchSize, limit: o.limitTest,
        onBatch: (done, total) => !o.quiet && this.progress.update({ label: 'test', done, total }),
      });
      this.progress.done();
      await appendFile(metricsPath, `${JSON.stringify({ type: 'eval', split: 'test', step: pos.step, epoch: pos.epoch + pos.batchInEpoch / stepsPerEpoch, accuracy: test.accuracy, loss: test.loss })}\n`);
      await saveModel(model, join(o.out, 'model'), preprocessor);
      if (o.qat) {
        const r = await savePacked(model, join(o.out, 'model-packed'), { configJson: model.config.toJson() as Record<string, unknown>, scheme: 'i2', preprocessor });
        packedBytes = r.bytes;
      }
    }
    const report = storageReport(model, { asIfConverted: !o.qat });
    const summary: TrainSummary = {
      test_accuracy: test.accuracy,
      test_loss: test.loss,
      val_accuracy: valResult?.accuracy ?? null,
      epochs: pos.epoch + pos.batchInEpoch / stepsPerEpoch,
      steps: pos.step,
      train_images_per_s: trainRate,
      eval_images_per_s: test.imagesPerSecond,
      seconds: (performance.now() - started) / 1000,
      train_seconds: pos.trainSeconds,
      params,
      model_bytes: report.bytes,
      packed_file_bytes: packedBytes,
      qat: o.qat,
      model: o.init ?? o.model,
      data: o.data,
      seed: o.seed,
      command: process.argv.slice(1).join(' '),
      stopped_early: stoppedEarly,
    };
    await writeFileAtomic(join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    if (!stoppedEarly) {
      this.log(`test accuracy ${(100 * test.accuracy).toFixed(2)}% (loss ${test.loss.toFixed(4)}) after ${pos.step} steps in ${(summary.seconds / 60).toFixed(1)} min; ` +
        `train ${trainRate.toFixed(0)} img/s, eval ${test.imagesPerSecond.toFixed(0)} img/s; model in ${join(o.out, 'model')}${o.qat ? ` and ${join(o.out, 'model-packed')}` : ''}`);
    }
    return summary;
  }

  private bitnetOptions(model: ImageClassifier): { include?: string[]; exclude?: string[]; inputNorm: InputNorm; weightScale: ScaleGranularity; activationBits: number | null } {
    const heads = model.config.modelType === 'deit' ? ['cls_classifier', 'distillation_classifier'] : ['classifier'];
    return { exclude: this.o.floatHead ? heads : [], inputNorm: this.o.inputNorm, weightScale: this.o.weightScale, activationBits: this.o.activationBits };
  }
}

function emptyWindow(): MetricsWindow {
  return { loss: 0, correct: 0, seen: 0, steps: 0, seconds: 0 };
}

/** Drop metrics lines past the checkpoint's step, so a resumed run's log equals the uninterrupted one. */
async function truncateMetrics(path: string, step: number): Promise<void> {
  if (!existsSync(path)) return;
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const kept = lines.filter((l) => {
    const r = JSON.parse(l) as { step?: number; type?: string; split?: string };
    return (r.step ?? 0) <= step && r.split !== 'test';
  });
  await writeFile(path, kept.map((l) => `${l}\n`).join(''));
}
