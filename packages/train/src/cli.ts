#!/usr/bin/env node
// The command line: `node packages/train/dist/cli.js <command> [flags]`, behind the root
// package.json scripts (pnpm train:qat, train:fp, eval, predict, ptq, study).
import { enableRelaxedSimd } from '@bitvit/tensor';
import { UsageError } from './args.js';
import { trainCommand } from './commands/train.js';
import { evalCommand } from './commands/eval.js';
import { predictCommand } from './commands/predict.js';
import { ptqCommand } from './commands/ptq.js';
import { studyCommand } from './commands/study.js';
import { reportCommand } from './commands/report.js';

const COMMANDS: Record<string, { run: (argv: readonly string[]) => Promise<number>; help: string }> = {
  train: { run: trainCommand, help: 'train a float or BitNet (--qat) ViT/DeiT' },
  eval: { run: evalCommand, help: 'accuracy and loss of a model folder on a dataset' },
  predict: { run: predictCommand, help: 'write a model\'s logits on a dataset to JSON' },
  ptq: { run: ptqCommand, help: 'post-training ternary quantization of a float model folder' },
  report: { run: reportCommand, help: 'render a study\'s RESULTS.md, report.html and report.png again' },
  study: { run: studyCommand, help: 'float vs BitNet ViT/DeiT from scratch, every PTQ method, report' },
};

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const entry = command ? COMMANDS[command] : undefined;
  if (!entry) {
    const list = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)}${v.help}`).join('\n');
    const msg = `usage: cli <command> [flags]\n\ncommands:\n${list}\n\nEach command takes --help.`;
    if (command && command !== '--help' && command !== 'help') {
      console.error(`unknown command "${command}"\n\n${msg}`);
      return 2;
    }
    console.log(msg);
    return 0;
  }
  try {
    return await entry.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      return 2;
    }
    console.error(`${command}: ${(e as Error).message}`);
    if (process.env['BITVIT_DEBUG']) console.error((e as Error).stack);
    return 1;
  }
}

// Run when executed directly (not when imported by tests). Relaxed SIMD first, before any kernel
// is compiled (BITVIT_RELAXED_SIMD=0 keeps the plain SIMD kernels).
const invoked = process.argv[1] ?? '';
if (invoked.endsWith('cli.js') || invoked.endsWith('cli.ts')) {
  if (process.env['BITVIT_RELAXED_SIMD'] !== '0') enableRelaxedSimd();
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
