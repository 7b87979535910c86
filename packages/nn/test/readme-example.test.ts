// The README's example, run for real. The code between the markers below must equal the
// README's example block (imports aside); the first test checks that, so the two cannot drift.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tensorPackage from '@bitvit/tensor';
import { fromArray, manualSeed, ones, randint, randn, type Tensor } from '@bitvit/tensor';
import * as nnPackage from '@bitvit/nn';
import {
  AdamW,
  GELU,
  LayerNorm,
  Linear,
  Module,
  Parameter,
  Sequential,
  applySchedule,
  crossEntropy,
  paramGroupsWithDecay,
  readSafetensors,
  warmupDecaySchedule,
  writeSafetensors,
  type SafeTensor,
} from '@bitvit/nn';

async function readmeExample() {
  // README example start
  manualSeed(0);
  const makeModel = () => new Sequential(new Linear(16, 32), new GELU(), new LayerNorm(32), new Linear(32, 4));
  const model = makeModel();
  const x = randn([64, 16]);
  const labels = randint(0, 4, [64]);
  const opt = new AdamW(paramGroupsWithDecay(model, 0.05), { lr: 1e-2 });
  const schedule = warmupDecaySchedule({ peakLr: 1e-2, warmupSteps: 5, totalSteps: 50 });
  for (let step = 0; step < 50; step++) {
    applySchedule(opt, schedule, step);
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(x), labels);
    loss.backward();
    opt.step();
    if (step % 10 === 9) console.log(`step ${step + 1}: loss ${loss.item().toFixed(3)}`);
  }

  const weights = new Map<string, SafeTensor>();
  for (const [name, t] of model.stateDict()) weights.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data });
  await writeSafetensors('model.safetensors', weights);
  const restored = makeModel();
  const { tensors } = await readSafetensors('model.safetensors');
  restored.loadStateDict(new Map([...tensors].map(([name, t]) => [name, fromArray(t.data as Float32Array, t.shape)])));
  // README example end
  return { makeModel, model, restored, x, labels };
}

const README = join(import.meta.dirname, '..', 'README.md');

/** Lines between the markers of this file, with the function body's indentation removed. */
async function exampleInTest(): Promise<string[]> {
  const source = await readFile(import.meta.filename, 'utf8');
  const start = source.indexOf('// README example start\n');
  const end = source.indexOf('  // README example end');
  return source
    .slice(source.indexOf('\n', start) + 1, end)
    .trimEnd()
    .split('\n')
    .map((l) => l.replace(/^ {2}/, ''));
}

/** The README's first ```ts block after "## Example": its import lines, and the code after the first blank line. */
async function exampleInReadme(): Promise<{ imports: string; code: string[] }> {
  const text = await readFile(README, 'utf8');
  const section = text.slice(text.indexOf('## Example'));
  const open = section.indexOf('```ts\n') + 6;
  const block = section.slice(open, section.indexOf('\n```', open));
  const blank = block.indexOf('\n\n');
  return { imports: block.slice(0, blank), code: block.slice(blank + 2).split('\n') };
}

/** Names imported from a package in import statements such as `import { a, type B } from 'pkg';`. */
function importedNames(imports: string, pkg: string): string[] {
  const names: string[] = [];
  for (const m of imports.matchAll(/import \{([^}]*)\} from '([^']+)'/g)) {
    if (m[2] !== pkg) continue;
    for (const part of m[1]!.split(',')) {
      const name = part.trim();
      if (name && !name.startsWith('type ')) names.push(name);
    }
  }
  return names;
}

describe('README example', () => {
  it('the README shows exactly the code this test runs, about 20 lines', async () => {
    const { code } = await exampleInReadme();
    expect(code).toEqual(await exampleInTest());
    expect(code.filter((l) => l.trim() !== '').length).toBeLessThanOrEqual(22);
  });

  it("the README's imports exist in the packages it names", async () => {
    const { imports } = await exampleInReadme();
    const nn = importedNames(imports, '@bitvit/nn');
    const tensor = importedNames(imports, '@bitvit/tensor');
    expect(nn.length + tensor.length).toBeGreaterThan(10);
    for (const name of nn) expect(name in nnPackage, `@bitvit/nn exports ${name}`).toBe(true);
    for (const name of tensor) expect(name in tensorPackage, `@bitvit/tensor exports ${name}`).toBe(true);
  });

  it('trains, saves with safetensors and loads into a fresh model that computes the same', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nn-readme-'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const { makeModel, model, restored, x, labels } = await readmeExample();
      manualSeed(0);
      const untrained = crossEntropy(makeModel().forward(x), labels).item();
      const trained = crossEntropy(restored.forward(x), labels).item();
      expect(trained).toBeLessThan(0.5 * untrained);
      expect((await stat(join(dir, 'model.safetensors'))).size).toBeGreaterThan(4 * model.numParameters());
      expect(restored.forward(x).data).toEqual(model.forward(x).data);
      expect([...restored.stateDict().keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '3.weight', '3.bias']);
      for (const [name, t] of restored.stateDict()) expect(t.data, name).toEqual(model.stateDict().get(name)!.data);
    } finally {
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('README: writing your own module', () => {
  class Classifier extends Module {
    fc1 = this.addModule('fc1', new Linear(16, 32));
    act = this.addModule('act', new GELU());
    head = this.addModule('head', new Linear(32, 4));
    scale = this.addParameter('scale', Parameter.from(ones([4])));

    forward(x: Tensor): Tensor {
      return this.head.forward(this.act.forward(this.fc1.forward(x))).mul(this.scale);
    }
  }

  it('the class, its parameter names and its printout are what the README says', async () => {
    const text = await readFile(README, 'utf8');
    const source = await readFile(import.meta.filename, 'utf8');
    const cls = source.slice(source.indexOf('  class Classifier'), source.indexOf('\n  }\n', source.indexOf('  class Classifier')) + 4);
    expect(text).toContain(cls.split('\n').map((l) => l.replace(/^ {2}/, '')).join('\n'));
    const m = new Classifier();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['scale', 'fc1.weight', 'fc1.bias', 'head.weight', 'head.bias']);
    expect(text).toContain(`\n${m.toString()}\n`);
    expect(m.forward(randn([2, 16])).shape).toEqual([2, 4]);
  });

  it('the Sequential printout in the README is what the example model prints', async () => {
    const text = await readFile(README, 'utf8');
    const model = new Sequential(new Linear(16, 32), new GELU(), new LayerNorm(32), new Linear(32, 4));
    expect(text).toContain(`\n${model.toString()}\n`);
  });
});
