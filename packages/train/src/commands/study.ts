// `study`: the whole float vs BitNet comparison from scratch (pnpm study [--quick]); the pipeline
// is in ../study/run.ts, the report renderers beside it.
import { join } from 'node:path';
import { bool, formatHelp, num, parseFlags, str, type FlagTable } from '../args.js';
import { runStudy, type StudyOptions } from '../study/run.js';

export const STUDY_FLAGS: FlagTable = {
  quick: { type: 'boolean', default: false, help: 'the whole pipeline on a tiny budget (a few minutes; checks it works, the numbers mean little)' },
  model: { type: 'string', default: 'vit-mnist', help: 'float ViT preset vit-<size>; the DeiT is deit-<size>' },
  data: { type: 'string', default: 'mnist', help: 'mnist | idx:<dir> | cifar10:<dir> | folder:<dir>' },
  out: { type: 'string', help: 'output folder (default runs/study-<time>)' },
  seed: { type: 'int', default: 42, help: 'seed of every run (init, order, augmentation, calibration sample)' },
  epochs: { type: 'int', min: 1, help: 'training epochs of every model (default: the train command\'s)' },
  steps: { type: 'int', min: 1, help: 'training steps of every model (overrides --epochs)' },
  'batch-size': { type: 'int', min: 1, help: 'training batch size of every model' },
  'limit-train': { type: 'int', min: 1, help: 'use only the first N training images' },
  'limit-test': { type: 'int', min: 1, help: 'evaluate on the first N test images' },
  calibration: { type: 'int', min: 1, help: 'training images for PTQ calibration (default 256, quick 64)' },
  docs: { type: 'boolean', default: false, help: 'also copy RESULTS.md and report.png into docs/' },
  screenshot: { type: 'boolean', default: true, help: 'save report.png with headless Chromium (--no-screenshot to skip)' },
  quiet: { type: 'boolean', default: false, help: 'no progress output' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export function studyOptionsFromFlags(argv: readonly string[]): StudyOptions | 'help' {
  const f = parseFlags(argv, STUDY_FLAGS, 'study');
  if (bool(f, 'help')) return 'help';
  return {
    model: str(f, 'model')!,
    data: str(f, 'data')!,
    out: str(f, 'out') ?? join('runs', `study-${timestamp()}`),
    seed: num(f, 'seed')!,
    quick: bool(f, 'quick'),
    epochs: num(f, 'epochs'),
    steps: num(f, 'steps'),
    batchSize: num(f, 'batchSize'),
    limitTrain: num(f, 'limitTrain'),
    limitTest: num(f, 'limitTest'),
    calibration: num(f, 'calibration'),
    docs: bool(f, 'docs'),
    screenshot: bool(f, 'screenshot'),
    quiet: bool(f, 'quiet'),
    command: ['pnpm study', ...argv.filter((a) => a !== '--')].join(' '),
  };
}

export async function studyCommand(argv: readonly string[]): Promise<number> {
  const o = studyOptionsFromFlags(argv);
  if (o === 'help') {
    console.log(formatHelp('study', 'train float and BitNet QAT ViT/DeiT, quantize the float ones with every PTQ method, measure all, write study.json, RESULTS.md, report.html and report.png', STUDY_FLAGS));
    return 0;
  }
  const { results, files } = await runStudy(o);
  console.log(JSON.stringify({
    out: o.out,
    seconds: Math.round(results.meta.seconds),
    accuracy: Object.fromEntries(results.models.map((m) => [m.id, m.testAccuracy])),
    ptq_rows: results.ptq.length,
    files,
  }));
  return 0;
}
