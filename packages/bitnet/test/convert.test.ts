// convertToBitNet on a real ViT (vit-mnist) and on small hand-built trees: every selected Linear
// becomes a BitLinear with the same values, everything else stays the very same tensors with the
// very same bytes, the state dict keys do not change, globs pick layers, tying survives.
import { describe, expect, it } from 'vitest';
import { Generator, Tensor, randn, type Tensor as T } from '@bitvit/tensor';
import { Linear, Module } from '@bitvit/nn';
import { createModel, presetConfig } from '@bitvit/vit';
import { BitLinear } from '../src/bitlinear.js';
import { bitLinears, convertToBitNet } from '../src/convert.js';

const mnist = (seed = 0): Module & { forward(x: T): T } => createModel(presetConfig('vit-mnist'), { generator: new Generator(seed) });

function linearNames(m: Module): string[] {
  return m.namedModules().flatMap(([n, mod]) => (mod instanceof Linear ? [n] : []));
}

const bytes = (t: Tensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();

describe('convertToBitNet on vit-mnist', () => {
  it('turns every Linear (encoder and classifier) into a BitLinear holding the same weight and bias', () => {
    const model = mnist();
    const before = new Map(model.namedModules().filter(([, m]) => m instanceof Linear) as Array<[string, Linear]>);
    // 4 layers x (query, key, value, attention output, MLP up, MLP down) + the classifier
    expect(before.size).toBe(4 * 6 + 1);
    const replaced = convertToBitNet(model);
    expect(replaced.map((r) => r.name)).toEqual([...before.keys()]);
    expect(linearNames(model)).toEqual([]);
    for (const { name, module } of replaced) {
      const lin = before.get(name)!;
      expect(model.getModule(name)).toBe(module);
      expect(module).toBeInstanceOf(BitLinear);
      expect([module.inFeatures, module.outFeatures]).toEqual([lin.inFeatures, lin.outFeatures]);
      expect(bytes(module.weight)).toEqual(bytes(lin.weight));
      expect(bytes(module.bias!)).toEqual(bytes(lin.bias!));
    }
    expect(bitLinears(model).map((b) => b.name)).toEqual([...before.keys()]);
  });

  it('leaves every other parameter the same object with the same bytes (patch embedding, norms, tokens, positions)', () => {
    const model = mnist(1);
    const linearParams = new Set<Tensor>();
    for (const [, m] of model.namedModules()) if (m instanceof Linear) for (const p of m.parameters()) linearParams.add(p);
    const kept = [...model.stateDict()].filter(([, t]) => !linearParams.has(t)).map(([k, t]) => ({ k, t, b: bytes(t) }));
    const keptNames = kept.map((e) => e.k);
    expect(keptNames).toContain('vit.embeddings.patch_embeddings.projection.weight');
    expect(keptNames).toContain('vit.embeddings.cls_token');
    expect(keptNames).toContain('vit.embeddings.position_embeddings');
    expect(keptNames).toContain('vit.encoder.layer.0.layernorm_before.weight');
    expect(keptNames).toContain('vit.layernorm.bias');
    convertToBitNet(model);
    const after = model.stateDict();
    for (const { k, t, b } of kept) {
      expect(after.get(k), k).toBe(t);
      expect(bytes(after.get(k)!), k).toEqual(b);
    }
  });

  it('keeps the state dict keys and shapes, so a float checkpoint loads with strict loading', () => {
    const model = mnist(2);
    const keys = [...model.stateDict()].map(([k, t]) => `${k}:${t.shape.join('x')}`);
    convertToBitNet(model);
    expect([...model.stateDict()].map(([k, t]) => `${k}:${t.shape.join('x')}`)).toEqual(keys);
    const other = mnist(3).stateDict();
    model.loadStateDict(other, { strict: true });
    for (const [k, t] of model.stateDict()) expect(bytes(t), k).toEqual(bytes(other.get(k)!));
  });

  it('keeps the training flag and runs forward (with gradients reaching the latent weights)', () => {
    const model = mnist(4).eval();
    convertToBitNet(model);
    expect(model.training).toBe(false);
    expect(bitLinears(model).every((b) => !b.module.training)).toBe(true);
    model.train();
    const y = model.forward(randn([2, 1, 28, 28], { generator: new Generator(5) }));
    expect(y.shape).toEqual([2, 10]);
    y.sum().backward();
    for (const { name, module } of bitLinears(model)) expect(module.weight.grad, name).not.toBeNull();
  });

  it('passes the layer options to every BitLinear', () => {
    const model = mnist();
    convertToBitNet(model, { weightScale: 'channel', activationBits: null, inputNorm: 'rmsnorm' });
    for (const { module } of bitLinears(model)) {
      expect([module.weightScale, module.activationBits, module.inputNorm]).toEqual(['channel', null, 'rmsnorm']);
    }
  });
});

describe('include / exclude globs', () => {
  it("exclude ['classifier'] keeps the head float (the LLM papers' choice)", () => {
    const model = mnist();
    const replaced = convertToBitNet(model, { exclude: ['classifier'] });
    expect(replaced.length).toBe(24);
    expect(model.getModule('classifier')).toBeInstanceOf(Linear);
    expect(linearNames(model)).toEqual(['classifier']);
  });

  it('include picks the attention projections only; * stays within a segment, ** crosses them', () => {
    const model = mnist();
    const replaced = convertToBitNet(model, { include: ['vit.encoder.layer.*.attention.**'] });
    expect(replaced.length).toBe(4 * 4);
    for (const { name } of replaced) expect(name).toMatch(/^vit\.encoder\.layer\.\d\.attention\.(attention\.(query|key|value)|output\.dense)$/);
    expect(linearNames(model).length).toBe(4 * 2 + 1);
    // `*` alone does not cross a dot: no top-level module is named like a Linear here
    expect(convertToBitNet(mnist(), { include: ['*'] }).map((r) => r.name)).toEqual(['classifier']);
  });

  it('include and exclude together: the first block and the head stay float', () => {
    const replaced = convertToBitNet(mnist(), { include: ['**'], exclude: ['vit.encoder.layer.0.**', 'classifier'] });
    expect(replaced.length).toBe(3 * 6);
    expect(replaced.some((r) => r.name.startsWith('vit.encoder.layer.0.'))).toBe(false);
  });

  it('a glob that matches nothing converts nothing', () => {
    const model = mnist();
    expect(convertToBitNet(model, { include: ['no.such.layer'] })).toEqual([]);
    expect(linearNames(model).length).toBe(25);
  });
});

describe('module trees beyond the ViT', () => {
  class Pair extends Module {
    a: Linear;
    b: Linear;
    constructor(shared: Linear) {
      super();
      this.a = this.addModule('a', shared);
      this.b = this.addModule('b', shared);
    }
  }
  class Tied extends Module {
    first: Pair;
    second: Linear;
    constructor() {
      super();
      const shared = new Linear(4, 4, { generator: new Generator(9) });
      this.first = this.addModule('first', new Pair(shared));
      this.second = this.addModule('second', shared);
    }
  }

  it('a Linear shared by several parents becomes one BitLinear in all of them, listed once', () => {
    const model = new Tied();
    const keys = [...model.stateDict().keys()];
    const replaced = convertToBitNet(model);
    expect(replaced.map((r) => r.name)).toEqual(['first.a']);
    expect(model.first.a).toBeInstanceOf(BitLinear);
    expect(model.first.b).toBe(model.first.a);
    expect(model.second).toBe(model.first.a);
    expect([...model.stateDict().keys()]).toEqual(keys);
  });

  it('a shared Linear is converted when any of its names is selected, and stays shared', () => {
    // 'first.a' (its first name) is excluded, 'second' is not: one BitLinear everywhere, not a
    // float copy in one parent and a ternary one in another.
    const model = new Tied();
    const replaced = convertToBitNet(model, { exclude: ['first.*'] });
    expect(replaced.map((r) => r.name)).toEqual(['first.a']);
    expect(model.second).toBeInstanceOf(BitLinear);
    expect(model.first.a).toBe(model.second);
    expect(model.first.b).toBe(model.second);
    // selected by its first name only (as applyQuantConfig and loadPacked select): every parent,
    // including the root's `second`, which a parent-by-parent pass visits first
    const byFirst = new Tied();
    expect(convertToBitNet(byFirst, { include: ['first.a'] }).map((r) => r.name)).toEqual(['first.a']);
    expect(byFirst.second).toBeInstanceOf(BitLinear);
    expect(byFirst.first.b).toBe(byFirst.second);
    expect(byFirst.first.a).toBe(byFirst.second);
    // and excluded under every name, it stays the float Linear everywhere
    const kept = new Tied();
    expect(convertToBitNet(kept, { exclude: ['first.*', 'second'] })).toEqual([]);
    expect(kept.first.a).toBeInstanceOf(Linear);
    expect(kept.second).toBe(kept.first.a);
  });
});

describe('the printed tree', () => {
  it("shows vit-tiny as the study's PyTorch print did (BITNET.md section 7)", () => {
    const model = createModel(presetConfig('vit-tiny'), { generator: new Generator(0) });
    convertToBitNet(model);
    const lines = String(model).split('\n').map((l) => l.trim());
    for (const expected of [
      '(query): BitLinear(192 -> 192, bias)',
      '(key): BitLinear(192 -> 192, bias)',
      '(value): BitLinear(192 -> 192, bias)',
      '(dense): BitLinear(192 -> 192, bias)',
      '(dense): BitLinear(192 -> 768, bias)',
      '(dense): BitLinear(768 -> 192, bias)',
      '(classifier): BitLinear(192 -> 1000, bias)',
      '(0-11): 12 x ViTLayer(',
      '(projection): Conv2d(3, 192, kernel_size=(16, 16), stride=(16, 16))',
      '(layernorm_before): LayerNorm((192,), eps=1e-12, elementwise_affine=True)',
      '(layernorm): LayerNorm((192,), eps=1e-12, elementwise_affine=True)',
    ]) {
      expect(lines, expected).toContain(expected);
    }
    expect(lines.filter((l) => l.includes('Linear(')).every((l) => l.includes('BitLinear('))).toBe(true);
  });
});
