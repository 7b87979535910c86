// The command line: strict flags (unknown flags and bad values name the flag, exit 2), --help
// with defaults, train -> eval -> predict on a trained folder, --resume refusing run-changing
// flags, a diverging run exiting 3, and Ctrl-C on a real child process writing a checkpoint
// that --resume continues to the same weights as a run that was never interrupted.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TRAIN_FLAGS } from '../src/commands/train.js';
import { EVAL_FLAGS } from '../src/commands/eval.js';
import { PREDICT_FLAGS } from '../src/commands/predict.js';
import { buildModel, loadCheckpoint, loadDataset, main } from '../src/index.js';
import { readJson, readMetrics, tempDir } from './helpers.js';

const temp = tempDir('cli');
afterAll(temp.cleanup);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** main(argv) in this process, with what it printed. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

// A few-second training run: 256 images of batch 32, 4 steps, 200 test images.
const TINY = ['--steps', '4', '--batch-size', '32', '--limit-train', '256', '--limit-test', '200', '--eval-batch-size', '200',
  '--val-split', '0', '--warmup', '1', '--log-every', '1', '--quiet'];

describe('cli: commands and help', () => {
  it('lists the commands without arguments and refuses an unknown one', async () => {
    const r = await run();
    expect(r.code).toBe(0);
    for (const c of ['train', 'eval', 'predict']) expect(r.out).toContain(c);
    const bad = await run('trian');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('unknown command "trian"');
  });

  for (const [command, table] of [['train', TRAIN_FLAGS], ['eval', EVAL_FLAGS], ['predict', PREDICT_FLAGS]] as const) {
    it(`${command} --help lists every flag with its default`, async () => {
      const r = await run(command, '--help');
      expect(r.code).toBe(0);
      for (const [name, spec] of Object.entries(table)) {
        expect(r.out, name).toContain(`--${name}`);
        if (spec.default !== undefined) expect(r.out, name).toContain(`(default: ${String(spec.default)})`);
      }
    });
  }

  it('train --help shows the defaults pnpm train:qat runs with', async () => {
    const r = await run('train', '--help');
    expect(r.out).toMatch(/--batch-size <int> +training batch size \(default: 128\)/);
    expect(r.out).toMatch(/--optimizer <adamw\|sgd> +optimizer \(default: adamw\)/);
    expect(r.out).toContain('--model <string>');
    expect(r.out).toContain('(default: vit-mnist)');
  });
});

describe('cli: strict flags', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag, with a suggestion', ['train', '--epoch', '3'], /train: unknown flag --epoch \(did you mean --epochs\?\)/],
    ['an unknown flag of eval', ['eval', '--model', 'x', '--bogus'], /eval: unknown flag --bogus/],
    ['an unknown flag of predict', ['predict', '--lmit', '3'], /predict: unknown flag --lmit/],
    ['a value below the minimum', ['train', '--batch-size', '0'], /--batch-size must be at least 1, got 0/],
    ['a number that is not one', ['train', '--lr', 'fast'], /--lr takes a number, got "fast"/],
    ['an integer flag given a fraction', ['train', '--steps', '1.5'], /--steps takes an integer, got "1.5"/],
    ['a value outside the choices', ['train', '--optimizer', 'adam'], /--optimizer must be one of adamw, sgd; got "adam"/],
    ['a boolean given a word', ['train', '--qat=yes'], /--qat takes true or false, got "yes"/],
    ['a flag without its value', ['train', '--out'], /--out needs a value/],
    ['a string flag followed by another flag', ['train', '--model', '--qat'], /--model needs a value/],
    ['a stray argument', ['train', 'vit-mnist'], /unexpected argument "vit-mnist"/],
    ['an empty number', ['train', '--epochs='], /--epochs takes a number, got ""/],
    ['a negative learning rate', ['train', '--lr=-1'], /--lr must be at least 0, got -1/],
  ];
  for (const [what, argv, message] of cases) {
    it(`refuses ${what} (exit 2)`, async () => {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
    });
  }

  it('a missing --model (eval, predict) or --out (predict) is a clear usage error', async () => {
    expect(await run('eval')).toMatchObject({ code: 2, err: 'eval: --model <dir> is required' });
    expect(await run('predict', '--out', 'x.json')).toMatchObject({ code: 2, err: 'predict: --model <dir> is required' });
    expect(await run('predict', '--model', 'x')).toMatchObject({ code: 2, err: 'predict: --out <file.json> is required' });
  });

  it('a --model folder that does not exist is an error naming it (exit 1)', async () => {
    const missing = join(temp.dir, 'no-such-model');
    const r = await run('eval', '--model', missing);
    expect(r.code).toBe(1);
    expect(r.err).toContain(join(missing, 'config.json'));
  });

  it('an unknown preset and a bad --data spec are named', async () => {
    const preset = await run('train', '--model', 'vit-huge', '--out', join(temp.dir, 'bad-preset'), '--quiet');
    expect(preset.code).toBe(1);
    expect(preset.err).toContain('unknown preset "vit-huge"');
    const data = await run('train', '--data', 'imagenet', '--out', join(temp.dir, 'bad-data'), '--quiet');
    expect(data.code).toBe(1);
    expect(data.err).toContain('imagenet');
  });

  it('--resume of a folder that is not a run is refused', async () => {
    const r = await run('train', '--resume', temp.dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain('no run.json there');
  });
});

describe('cli: train, then eval and predict the trained folder', () => {
  const out = join(temp.dir, 'run');
  let trained: { out: string; test_accuracy: number; steps: number };
  beforeAll(async () => {
    const r = await run('train', ...TINY, '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    trained = JSON.parse(r.out) as typeof trained;
  });

  it('train prints a JSON line and writes the output folder', () => {
    expect(trained.out).toBe(out);
    expect(trained.steps).toBe(4);
    expect(readJson(join(out, 'summary.json'))['test_accuracy']).toBe(trained.test_accuracy);
    expect(readMetrics(out).filter((r) => r['type'] === undefined)).toHaveLength(4);
    expect(readJson(join(out, 'run.json'))).toMatchObject({ model: 'vit-mnist', qat: false, steps: 4, batchSize: 32, lr: 3e-3, seed: 42 });
  });

  it('eval gives the test accuracy the run reported', async () => {
    const r = await run('eval', '--model', join(out, 'model'), '--limit', '200', '--batch-size', '64');
    expect(r.code).toBe(0);
    const e = JSON.parse(r.out) as { accuracy: number; count: number; split: string };
    expect(e).toMatchObject({ accuracy: trained.test_accuracy, count: 200, split: 'test' });
  });

  it('predict --out writes {"logits": [[...]], "labels": [...]} agreeing with eval', async () => {
    const file = join(temp.dir, 'predictions.json');
    const r = await run('predict', '--model', join(out, 'model'), '--limit', '50', '--batch-size', '16', '--out', file);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ out: file, count: 50 });
    const p = readJson<{ logits: number[][]; labels: number[] }>(file);
    expect(Object.keys(p).sort()).toEqual(['labels', 'logits']);
    expect(p.logits).toHaveLength(50);
    for (const row of p.logits) {
      expect(row).toHaveLength(10);
      expect(row.every(Number.isFinite)).toBe(true);
    }
    const mnist = await loadDataset('mnist');
    expect(p.labels).toEqual(Array.from(mnist.test.labels.subarray(0, 50)));
    // The logits' argmax scores what eval scores on the same 50 images.
    const correct = p.logits.filter((row, i) => row.indexOf(Math.max(...row)) === p.labels[i]).length;
    const e = JSON.parse((await run('eval', '--model', join(out, 'model'), '--limit', '50')).out) as { accuracy: number };
    expect(correct / 50).toBe(e.accuracy);
  });

  it('--resume refuses flags that would change the run and accepts ones that repeat it', async () => {
    const changed = await run('train', '--resume', out, '--lr', '0.1', '--steps', '4');
    expect(changed.code).toBe(2);
    expect(changed.err).toBe(`train: --resume continues the saved run; remove --lr (the run in ${out} has other values)`);
    expect((await run('train', '--resume', out, '--qat')).err).toContain('remove --qat');
    // The run finished: resuming it (with `--` as pnpm passes it, and a repeated flag) only re-evaluates.
    const again = await run('train', '--', '--resume', out, '--steps', '4', '--quiet');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ steps: 4, test_accuracy: trained.test_accuracy });
  });
});

describe('cli: a diverging run', () => {
  it('exits 3 with a message naming the step, leaving a finite checkpoint', async () => {
    const out = join(temp.dir, 'nan');
    const r = await run('train', ...TINY, '--lr', '1e30', '--schedule', 'constant', '--checkpoint-every', '1', '--out', out);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^train: loss is NaN at step 2 \(epoch 1\); stopping\. The last good checkpoint .* is intact; resume with --resume/);
    const ck = await loadCheckpoint(join(out, 'checkpoint.safetensors'));
    expect(ck.position.step).toBe(1);
    for (const t of ck.model.values()) expect(t.data.every(Number.isFinite)).toBe(true);
  });
});

describe('cli: Ctrl-C', () => {
  // A run long enough to interrupt: 24 steps of 16 images (20 an epoch), a metrics line each step.
  const flags = ['--steps', '24', '--batch-size', '16', '--limit-train', '320', '--limit-test', '100', '--eval-batch-size', '100',
    '--val-split', '0', '--warmup', '2', '--log-every', '1', '--checkpoint-every', '0', '--seed', '5'];

  it('SIGINT writes a checkpoint and exits 0; --resume finishes with the weights of an uninterrupted run', async () => {
    const out = join(temp.dir, 'interrupted');
    // The CLI from source (tsx), so the test needs no build; a child process, so the signal is real.
    // Plain SIMD, as in this process, where the resumed and the straight runs go: relaxed SIMD's
    // fused multiply-adds round differently, and a resume is bit-identical only on the same kernels.
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'packages/train/src/cli.ts', 'train', ...flags, '--out', out], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true', BITVIT_RELAXED_SIMD: '0' },
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));

    // Interrupt once training has started: the first metrics line is on disk.
    const metrics = join(out, 'metrics.jsonl');
    const deadline = Date.now() + 60_000;
    while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"step"')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(stderr).toContain('epoch 1/2'); // the plain progress line (not a terminal)
    child.kill('SIGINT');
    const { code, signal } = await exited;
    expect({ code, signal, stderr }).toMatchObject({ code: 0, signal: null });
    const stoppedAt = Number(/interrupted at step (\d+); checkpoint written to .*checkpoint\.safetensors\. Continue with --resume/.exec(stderr)?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(1);
    expect(stoppedAt).toBeLessThan(24);
    expect(JSON.parse(stdout)).toMatchObject({ steps: stoppedAt });
    expect(existsSync(join(out, 'model'))).toBe(false);
    const ck = await loadCheckpoint(join(out, 'checkpoint.safetensors'));
    expect(ck.position.step).toBe(stoppedAt);
    buildModel({ model: 'vit-mnist' }).loadStateDict(ck.model); // strict: every tensor present, shapes right
    expect([...ck.model.values()].every((t) => t.data.every(Number.isFinite))).toBe(true);

    const resumed = await run('train', '--resume', out, '--quiet');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.out)).toMatchObject({ steps: 24 });

    const straight = join(temp.dir, 'straight');
    expect((await run('train', ...flags, '--quiet', '--out', straight)).code).toBe(0);
    expect(readFileSync(join(out, 'model', 'model.safetensors')).equals(readFileSync(join(straight, 'model', 'model.safetensors')))).toBe(true);
    const noTiming = (dir: string): unknown[] => readMetrics(dir).map(({ images_per_s: _, ...r }) => r);
    expect(noTiming(out)).toEqual(noTiming(straight));
  });
});
