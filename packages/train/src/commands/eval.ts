// `eval`: accuracy and loss of a model folder on a dataset's test (or train) split.
import { bool, formatHelp, num, parseFlags, str, UsageError, type FlagTable } from '../args.js';
import { evaluateAsync } from '../evaluate.js';
import { Progress } from '../progress.js';
import { loadModelAndData } from './common.js';

export const EVAL_FLAGS: FlagTable = {
  model: { type: 'string', help: 'model folder (float, BitNet latent or packed)' },
  data: { type: 'string', default: 'mnist', help: 'mnist | idx:<dir> | cifar10:<dir> | folder:<dir>' },
  split: { type: 'string', default: 'test', choices: ['test', 'train'], help: 'which split to evaluate' },
  'batch-size': { type: 'int', default: 500, min: 1, help: 'evaluation batch size' },
  limit: { type: 'int', min: 1, help: 'evaluate only the first N images' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

export async function evalCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags(argv, EVAL_FLAGS, 'eval');
  if (bool(f, 'help')) {
    console.log(formatHelp('eval', 'evaluate a model folder on a dataset', EVAL_FLAGS));
    return 0;
  }
  const modelDir = str(f, 'model');
  if (!modelDir) throw new UsageError('eval: --model <dir> is required');
  const { model, data, norm } = await loadModelAndData(modelDir, str(f, 'data')!);
  const ds = str(f, 'split') === 'train' ? data.train : data.test;
  const progress = new Progress(process.stderr);
  const r = await evaluateAsync(model, ds, norm, { batchSize: num(f, 'batchSize'), limit: num(f, 'limit'), onBatch: (done, total) => progress.update({ label: 'eval', done, total }) });
  progress.done();
  console.log(JSON.stringify({ model: modelDir, data: str(f, 'data'), split: str(f, 'split'), accuracy: r.accuracy, loss: r.loss, count: r.count, images_per_s: r.imagesPerSecond }));
  return 0;
}
