// tfjs in a process of its own for train.bench.ts, as PyTorch runs in torch_train_bench.py: one
// JSON request per line on stdin, one answer per line on stdout (prefixed, since tfjs prints
// banners of its own there). In one process with ours, each framework's garbage collections
// landed in the other's steps (V8 collects one heap for both), so neither step was its own.
//   {"op": "info"}                                             -> versions and the wasm backend's SIMD
//   {"op": "check"}                                            -> {"diff"}: tfjs-vit.ts = our ViT (below)
//   {"op": "build", "key", "backend", "config", "batch", "qat", "microBatches"} -> {"params"}
//   {"op": "step", "key"}                                      -> {"ms", "loss"} (one training step)
//   {"op": "free", "key"}                                      -> {} (the trainer is disposed)
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { Generator, noGrad, randn } from '@bitvit/tensor';
import { createModel, presetConfig } from '@bitvit/vit';
import { convertToBitNet } from '@bitvit/bitnet';
import { TFJS_ANSWER_PREFIX, TfTrainer, TfViT, type TfModelConfig } from './tfjs-vit.js';

const trainers = new Map<string, TfTrainer>();

/**
 * The tfjs model must be our model: with our weights copied in, its logits must be ours (float
 * and QAT). Returns the largest difference; throws when it is more than float32 rounding.
 */
async function checkTfjsMatchesOurs(): Promise<number> {
  await tf.setBackend('cpu');
  let worst = 0;
  for (const qat of [false, true]) {
    const config = presetConfig('vit-mnist');
    const gen = new Generator(1);
    const ours = createModel(config, { generator: gen });
    if (qat) convertToBitNet(ours);
    const theirs = new TfViT(config, qat);
    theirs.loadHuggingFaceWeights(new Map(ours.namedParameters().map(([name, p]) => [name, { data: p.data, shape: p.shape }])));
    const x = randn([8, config.numChannels, config.imageSize, config.imageSize], { generator: gen });
    const a = noGrad(() => ours.forward(x)).data;
    const b = tf.tidy(() => theirs.forward(tf.tensor4d(x.data, [8, config.numChannels, config.imageSize, config.imageSize])).dataSync());
    theirs.dispose();
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(a[i]!));
    }
    if (diff > 1e-4 * (1 + scale)) throw new Error(`tfjs-server: tfjs-vit.ts ${qat ? 'QAT' : 'float'} logits differ from ours by ${diff} (largest logit ${scale})`);
    worst = Math.max(worst, diff);
  }
  return worst;
}


async function handle(request: Record<string, unknown>): Promise<Record<string, unknown>> {
  switch (request['op']) {
    case 'info': {
      await tf.setBackend('wasm');
      return {
        version: tf.version_core,
        wasmSimd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
        wasmThreads: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'),
      };
    }
    case 'check':
      return { diff: await checkTfjsMatchesOurs() };
    case 'build': {
      const key = String(request['key']);
      const trainer = await TfTrainer.create(
        String(request['backend']), request['config'] as TfModelConfig, Number(request['batch']), request['qat'] === true, Number(request['microBatches'] ?? 1),
      );
      trainers.get(key)?.dispose();
      trainers.set(key, trainer);
      return { params: trainer.model.numParameters() };
    }
    case 'step': {
      const trainer = trainers.get(String(request['key']));
      if (!trainer) throw new Error(`no trainer "${String(request['key'])}" (build it first)`);
      await trainer.activate();
      const start = performance.now();
      const loss = trainer.step();
      return { ms: performance.now() - start, loss };
    }
    case 'free': {
      const key = String(request['key']);
      trainers.get(key)?.dispose();
      trainers.delete(key);
      return {};
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(request['op'])}`);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  let answer: Record<string, unknown>;
  try {
    answer = await handle(JSON.parse(line) as Record<string, unknown>);
  } catch (e) {
    answer = { error: (e as Error).message };
  }
  process.stdout.write(`${TFJS_ANSWER_PREFIX}${JSON.stringify(answer)}\n`);
}
