// `predict`: logits of a model folder on a dataset, written as {"logits": [[...]], "labels": [...]}.
import { noGrad, tidy } from '@bitvit/tensor';
import { writeFileAtomic } from '@bitvit/vit';
import { bool, formatHelp, num, parseFlags, str, UsageError, type FlagTable } from '../args.js';
import { forEachBatch } from '../evaluate.js';
import { loadModelAndData } from './common.js';

export const PREDICT_FLAGS: FlagTable = {
  model: { type: 'string', help: 'model folder' },
  data: { type: 'string', default: 'mnist', help: 'mnist | idx:<dir> | cifar10:<dir> | folder:<dir>' },
  split: { type: 'string', default: 'test', choices: ['test', 'train'], help: 'which split' },
  limit: { type: 'int', min: 1, help: 'only the first N images' },
  'batch-size': { type: 'int', default: 500, min: 1, help: 'batch size' },
  out: { type: 'string', help: 'output JSON file' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

export async function predictCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags(argv, PREDICT_FLAGS, 'predict');
  if (bool(f, 'help')) {
    console.log(formatHelp('predict', 'write the logits of a model on a dataset to a JSON file', PREDICT_FLAGS));
    return 0;
  }
  const modelDir = str(f, 'model');
  const out = str(f, 'out');
  if (!modelDir) throw new UsageError('predict: --model <dir> is required');
  if (!out) throw new UsageError('predict: --out <file.json> is required');
  const { model, data, norm } = await loadModelAndData(modelDir, str(f, 'data')!);
  const ds = str(f, 'split') === 'train' ? data.train : data.test;
  const logits: number[][] = [];
  const labels: number[] = [];
  noGrad(() =>
    forEachBatch(ds, norm, num(f, 'batchSize')!, num(f, 'limit'), (x, y) =>
      // tidy: the batch's activations go back to the storage pool once its logits are copied out
      tidy(() => {
        const l = model.forward(x);
        const c = l.shape[1]!;
        const d = l.data;
        for (let i = 0; i < y.length; i++) {
          logits.push(Array.from(d.subarray(i * c, (i + 1) * c)));
          labels.push(y[i]!);
        }
      }),
    ),
  );
  await writeFileAtomic(out, JSON.stringify({ logits, labels }));
  console.log(JSON.stringify({ out, count: labels.length }));
  return 0;
}
