// parseFlags / formatHelp: the flag grammar every command shares (--name value, --name=value,
// --flag / --no-flag, pnpm's --), typed values with defaults, and errors that name the flag.
import { describe, expect, it } from 'vitest';
import { UsageError, formatHelp, parseFlags, type FlagTable } from '../src/index.js';
import { trainOptionsFromFlags } from '../src/commands/train.js';

const TABLE: FlagTable = {
  'batch-size': { type: 'int', default: 128, min: 1, help: 'batch size' },
  lr: { type: 'number', min: 0, help: 'learning rate' },
  seed: { type: 'int', default: 42, help: 'seed' },
  optimizer: { type: 'string', default: 'adamw', choices: ['adamw', 'sgd'], help: 'optimizer' },
  out: { type: 'string', help: 'output folder' },
  qat: { type: 'boolean', default: false, help: 'QAT' },
  flip: { type: 'boolean', default: true, help: 'flips' },
};

function usage(argv: string[]): string {
  try {
    parseFlags(argv, TABLE, 'cmd');
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`parseFlags accepted ${argv.join(' ')}`);
}

describe('parseFlags', () => {
  it('fills defaults and camelCases the keys', () => {
    expect(parseFlags([], TABLE, 'cmd')).toEqual({ batchSize: 128, lr: undefined, seed: 42, optimizer: 'adamw', out: undefined, qat: false, flip: true });
  });

  it('reads --name value, --name=value, booleans, --no-name and skips a bare --', () => {
    const f = parseFlags(['--', '--batch-size', '64', '--lr=3e-3', '--qat', '--no-flip', '--optimizer', 'sgd', '--out=a=b', '--seed', '-1'], TABLE, 'cmd');
    expect(f).toEqual({ batchSize: 64, lr: 0.003, seed: -1, optimizer: 'sgd', out: 'a=b', qat: true, flip: false });
    expect(parseFlags(['--qat=false', '--flip=true'], TABLE, 'cmd')).toMatchObject({ qat: false, flip: true });
  });

  it('lets the last of a repeated flag win', () => {
    expect(parseFlags(['--seed', '1', '--seed', '2'], TABLE, 'cmd')['seed']).toBe(2);
  });

  it('names the flag in every error', () => {
    expect(usage(['--batch'])).toBe('cmd: unknown flag --batch (did you mean --batch-size?); see --help');
    expect(usage(['--epochs', '3'])).toBe('cmd: unknown flag --epochs; see --help');
    expect(usage(['--no-seed'])).toMatch(/unknown flag --no-seed/); // --no- only negates booleans
    expect(usage(['--no-qat=true'])).toMatch(/unknown flag --no-qat/);
    expect(usage(['--batch-size', '0'])).toBe('cmd: --batch-size must be at least 1, got 0');
    expect(usage(['--batch-size', '2.5'])).toBe('cmd: --batch-size takes an integer, got "2.5"');
    expect(usage(['--batch-size', 'many'])).toBe('cmd: --batch-size takes a number, got "many"');
    expect(usage(['--lr', 'Infinity'])).toBe('cmd: --lr takes a number, got "Infinity"');
    expect(usage(['--lr', ' '])).toBe('cmd: --lr takes a number, got " "');
    expect(usage(['--lr', '--qat'])).toBe('cmd: --lr takes a number, got "--qat"');
    expect(usage(['--lr'])).toBe('cmd: --lr needs a value');
    expect(usage(['--out', '--qat'])).toBe('cmd: --out needs a value');
    expect(usage(['--optimizer', 'lion'])).toBe('cmd: --optimizer must be one of adamw, sgd; got "lion"');
    expect(usage(['--qat=1'])).toBe('cmd: --qat takes true or false, got "1"');
    expect(usage(['-q'])).toBe('cmd: unexpected argument "-q" (flags start with --; see --help)');
    expect(usage(['data'])).toBe('cmd: unexpected argument "data" (flags start with --; see --help)');
  });
});

describe('formatHelp', () => {
  it('prints one row per flag with its type or choices and its default', () => {
    const help = formatHelp('cmd', 'does things', TABLE);
    const lines = help.split('\n');
    expect(lines.slice(0, 3)).toEqual(['cmd: does things', '', 'Flags:']);
    expect(help).toMatch(/^ {2}--batch-size <int> +batch size \(default: 128\)$/m);
    expect(help).toMatch(/^ {2}--lr <number> +learning rate$/m); // no default, none shown
    expect(help).toMatch(/^ {2}--optimizer <adamw\|sgd> +optimizer \(default: adamw\)$/m);
    expect(help).toMatch(/^ {2}--qat +QAT \(default: false\)$/m);
    expect(lines).toHaveLength(3 + Object.keys(TABLE).length);
  });
});

describe('trainOptionsFromFlags', () => {
  it('maps the flags onto TrainOptions, with the shared learning-rate default (3e-3, measured best for both) and 0 activation bits as off', () => {
    const o = trainOptionsFromFlags(['--qat', '--activation-bits', '0', '--out', 'x', '--float-head', '--limit-train', '100']);
    if (o === 'help' || 'resume' in o) throw new Error('expected options');
    expect(o).toMatchObject({ qat: true, lr: 3e-3, activationBits: null, out: 'x', floatHead: true, limitTrain: 100, model: 'vit-mnist', batchSize: 128, seed: 42 });
    const fp = trainOptionsFromFlags(['--out', 'y']);
    if (fp === 'help' || 'resume' in fp) throw new Error('expected options');
    expect(fp).toMatchObject({ qat: false, lr: 3e-3, activationBits: 8, steps: undefined, stopAfter: undefined });
  });

  it('names a default output folder after the kind of run', () => {
    const o = trainOptionsFromFlags(['--qat', '--model', 'deit-mnist']);
    if (o === 'help' || 'resume' in o) throw new Error('expected options');
    expect(o.out).toMatch(/^runs[/\\]qat-deit-mnist-\d{8}-\d{6}$/);
  });

  it('returns help and resume requests as such', () => {
    expect(trainOptionsFromFlags(['--help'])).toBe('help');
    expect(trainOptionsFromFlags(['--resume', 'runs/a'])).toEqual({ resume: 'runs/a' });
  });
});
