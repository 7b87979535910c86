// tfjs in a process of its own for train.bench.ts, as PyTorch runs in torch_train_bench.py: one
// JSON request per line on stdin, one answer per line on stdout (prefixed, since tfjs prints
// banners of its own there). In one process with ours, each framework's garbage collections
// landed in the other's steps (V8 collects one heap for both), so neither step was its own.
//   {"op": "info"}                                             -> versions and the wasm backend's SIMD
//   {"op": "build", "key", "backend", "config", "batch", "qat", "microBatches"} -> {"params"}
//   {"op": "step", "key"}                                      -> {"ms", "loss"} (one training step)
//   {"op": "free", "key"}                                      -> {} (the trainer is disposed)
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { TFJS_ANSWER_PREFIX, TfTrainer, type TfModelConfig } from './tfjs-vit.js';

const trainers = new Map<string, TfTrainer>();

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
