// Module: names, modes, state dicts, replacement, hooks, printing (against the exact strings
// PyTorch prints, ref/make_nn_reference.py) and the initialisers.
import { describe, expect, it } from 'vitest';
import { Generator, fromArray, manualSeed, randn, tidy, zeros, type Tensor } from '@bitvit/tensor';
import {
  Conv2d,
  Dropout,
  GELU,
  Identity,
  LayerNorm,
  Linear,
  Mlp,
  Module,
  ModuleList,
  MultiHeadAttention,
  Parameter,
  ReLU,
  RMSNorm,
  Sequential,
  Tanh,
  init,
  pyFloat,
} from '../src/index.js';
import { ref } from './helpers.js';

// The same structure as Encoder/Block in make_nn_reference.py (child names and order included).
class Block extends Module {
  norm1 = this.addModule('norm1', new LayerNorm(8, { eps: 1e-12 }));
  attn = this.addModule('attn', new MultiHeadAttention(8, 2));
  norm2 = this.addModule('norm2', new LayerNorm(8, { eps: 1e-12 }));
  mlp = this.addModule('mlp', new Mlp(8, 16, { dropout: 0.1 }));

  forward(x: Tensor): Tensor {
    const h = x.add(this.attn.forward(this.norm1.forward(x)));
    return h.add(this.mlp.forward(this.norm2.forward(h)));
  }
}

class Encoder extends Module {
  patch = this.addModule('patch', new Conv2d(3, 8, 4, { bias: false }));
  layer = this.addModule('layer', new ModuleList([new Block(), new Block(), new Block()]));
  head = this.addModule('head', new Sequential(new LayerNorm(8), new Identity(), new Linear(8, 10)));

  override extraRepr(): string {
    return 'depth=3';
  }

  forward(images: Tensor): Tensor {
    let x = this.patch.forwardTokens(images);
    for (const block of this.layer) x = block.forward(x);
    return this.head.forward(x.mean(1));
  }
}

const images = (): Tensor => randn([2, 3, 8, 8], { generator: new Generator(21) });

/** A detached copy of a state dict, so later changes to the model do not show in it. */
function snapshot(m: Module): Map<string, Tensor> {
  return new Map([...m.stateDict()].map(([k, t]) => [k, fromArray(t.data, t.shape)]));
}

describe('names and counts', () => {
  it('namedParameters gives the dotted names (nested, ModuleList indices) and shapes torch gives', () => {
    const m = new Encoder();
    expect(m.namedParameters().map(([n, p]) => [n, [...p.shape]])).toEqual(ref.module.encoder_parameters);
    expect([...m.stateDict().keys()]).toEqual(ref.module.encoder_state_dict_keys);
    expect(m.parameters()).toHaveLength(ref.module.encoder_parameters.length);
  });

  it('numParameters equals torch sum(p.numel()); trainableOnly leaves frozen ones out', () => {
    const m = new Encoder();
    expect(m.numParameters()).toBe(ref.module.encoder_num_parameters);
    m.patch.weight.requiresGrad = false;
    expect(m.numParameters({ trainableOnly: true })).toBe(ref.module.encoder_num_parameters - 8 * 3 * 4 * 4);
  });

  it('a shared submodule (tied weights) is listed and counted once', () => {
    class Tied extends Module {
      shared = new Linear(4, 4);
      a = this.addModule('a', this.shared);
      b = this.addModule('b', this.shared);
      c = this.addModule('c', new Linear(4, 2, { bias: false }));
    }
    const m = new Tied();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['a.weight', 'a.bias', 'c.weight']);
    expect(m.numParameters()).toBe(16 + 4 + 8);
    expect(m.namedModules().map(([n]) => n)).toEqual(['', 'a', 'c']);
  });

  it('a parameter registered as null (no bias) is left out', () => {
    const m = new Linear(3, 2, { bias: false });
    expect(m.namedParameters().map(([n]) => n)).toEqual(['weight']);
    expect([...m.stateDict().keys()]).toEqual(['weight']);
  });

  it('namedModules lists the tree in order; getModule finds a dotted path or names the missing part', () => {
    const m = new Encoder();
    const names = m.namedModules().map(([n]) => n);
    expect(names.slice(0, 5)).toEqual(['', 'patch', 'layer', 'layer.0', 'layer.0.norm1']);
    expect(names).toContain('layer.2.attn.query');
    expect(m.getModule('layer.1.mlp')).toBe(m.layer.at(1).mlp);
    expect(m.getModule('')).toBe(m);
    expect(() => m.getModule('layer.7')).toThrow(/getModule: no submodule "7" in "layer.7" \(children: 0, 1, 2\)/);
  });

  it('apply visits children before their parent, every module once', () => {
    const m = new Sequential(new Linear(2, 2), new Sequential(new GELU(), new Identity()));
    const seen: string[] = [];
    m.apply((mod) => seen.push(mod.typeName));
    expect(seen).toEqual(['Linear', 'GELU', 'Identity', 'Sequential', 'Sequential']);
  });
});

describe('train() and eval()', () => {
  it('propagate to every module of the tree, and change what dropout does', () => {
    const m = new Encoder();
    expect(m.modules().every((x) => x.training)).toBe(true);
    expect(m.eval()).toBe(m);
    expect(m.modules().every((x) => !x.training)).toBe(true);
    const x = images();
    expect(m.forward(x).data).toEqual(m.forward(x).data); // eval: deterministic
    m.train();
    expect(m.layer.at(2).mlp.drop.training).toBe(true);
    expect(m.forward(x).data).not.toEqual(m.forward(x).data); // dropout 0.1 active
    m.train(false);
    expect(m.layer.at(0).attn.attnDropout.training).toBe(false);
  });
});

describe('stateDict and loadStateDict', () => {
  it('round trip: a second model loaded from the first computes the same outputs', () => {
    manualSeed(1);
    const a = new Encoder().eval();
    const b = new Encoder().eval();
    const x = images();
    expect(b.forward(x).data).not.toEqual(a.forward(x).data);
    const result = b.loadStateDict(snapshot(a));
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(b.forward(x).data).toEqual(a.forward(x).data);
  });

  it('copies values: the loaded model does not share storage with the state dict', () => {
    const a = new Linear(2, 2);
    const sd = snapshot(a);
    const b = new Linear(2, 2);
    b.loadStateDict(sd);
    sd.get('weight')!.data[0] = 123;
    expect(b.weight.data[0]).not.toBe(123);
    expect(b.weight).not.toBe(sd.get('weight'));
  });

  it('accepts a plain object as well as a Map', () => {
    const a = new Linear(3, 2);
    const b = new Linear(3, 2);
    b.loadStateDict(Object.fromEntries(snapshot(a)));
    expect(b.weight.data).toEqual(a.weight.data);
  });

  it('strict mode names missing keys, unexpected keys and shape mismatches, and loads nothing', () => {
    const m = new Sequential(new Linear(4, 3), new LayerNorm(3));
    const before = Float32Array.from(m.getModule('0').stateDict().get('weight')!.data);
    const sd = snapshot(m);
    sd.delete('1.bias');
    sd.set('2.weight', zeros([3]));
    sd.set('0.weight', zeros([3, 5]));
    let message = '';
    try {
      m.loadStateDict(sd);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^loadStateDict: /);
    expect(message).toContain('shape mismatch for 0.weight: checkpoint [3,5] vs model [3,4]');
    expect(message).toContain('missing keys: 1.bias');
    expect(message).toContain('unexpected keys: 2.weight');
    expect(m.getModule('0').stateDict().get('weight')!.data).toEqual(before);
  });

  it('non-strict mode loads what matches and returns the missing and unexpected keys', () => {
    const a = new Sequential(new Linear(4, 3), new LayerNorm(3));
    const b = new Sequential(new Linear(4, 3), new LayerNorm(3));
    const sd = snapshot(a);
    sd.delete('1.weight');
    sd.set('extra.thing', zeros([1]));
    const result = b.loadStateDict(sd, { strict: false });
    expect(result).toEqual({ missingKeys: ['1.weight'], unexpectedKeys: ['extra.thing'] });
    expect(b.stateDict().get('0.weight')!.data).toEqual(a.stateDict().get('0.weight')!.data);
  });

  it('buffers are in the state dict and load with it, but are not parameters', () => {
    class WithBuffer extends Module {
      lin = this.addModule('lin', new Linear(2, 2));
      mask = this.addBuffer('mask', fromArray([1, 0, 1], [3]));
    }
    const a = new WithBuffer();
    expect([...a.stateDict().keys()]).toEqual(['lin.weight', 'lin.bias', 'mask']);
    expect(a.namedParameters().map(([n]) => n)).toEqual(['lin.weight', 'lin.bias']);
    const b = new WithBuffer();
    b.mask.data.fill(7);
    b.loadStateDict(snapshot(a));
    expect([...b.mask.data]).toEqual([1, 0, 1]);
  });

  it('a shape mismatch is an error even when not strict (as in torch)', () => {
    const m = new Linear(4, 3);
    expect(() => m.loadStateDict({ weight: zeros([4, 3]), bias: zeros([3]) }, { strict: false })).toThrow(
      /shape mismatch for weight: checkpoint \[4,3\] vs model \[3,4\]/,
    );
  });
});

describe('modules made inside a tidy()', () => {
  it('keep their parameters and buffers (as tf.variable), while the tidy frees its other tensors', () => {
    // weights computed from other tensors: arrays from the storage pool, which a tidy frees
    class Scaled extends Module {
      readonly w: Parameter;
      constructor(x: Tensor) {
        super();
        this.w = this.addParameter('w', new Parameter(x.mul(2).data, x.shape));
        this.addBuffer('shift', x.add(1));
      }
    }
    const x = randn([64, 128], { generator: new Generator(3) });
    let temp: Tensor | null = null;
    const m = tidy(() => {
      temp = x.mul(3);
      return new Scaled(x);
    });
    expect(() => temp!.data).toThrow('freed at the end of the tidy()');
    expect(Array.from(m.w.data)).toEqual(Array.from(x.data, (v) => Math.fround(v * 2)));
    expect(Array.from(m.stateDict().get('shift')!.data)).toEqual(Array.from(x.data, (v) => Math.fround(v + 1)));
    // later tidies reuse the freed blocks; the module's arrays are not among them
    for (let i = 0; i < 3; i++) tidy(() => x.mul(5).add(x));
    expect(Array.from(m.w.data)).toEqual(Array.from(x.data, (v) => Math.fround(v * 2)));
  });
});

describe('replaceModule', () => {
  class CountingLinear extends Linear {
    calls = 0;
    override forward(x: Tensor): Tensor {
      this.calls++;
      return super.forward(x).mul(0);
    }
  }

  it('swaps the field forward uses: the replacement is really the one called', () => {
    const m = new Encoder().eval();
    const replacement = new CountingLinear(8, 16);
    const old = m.replaceModule('layer.1.mlp.fc1', replacement);
    expect(old).toBeInstanceOf(Linear);
    expect(m.layer.at(1).mlp.fc1).toBe(replacement);
    expect(m.getModule('layer.1.mlp.fc1')).toBe(replacement);
    m.forward(images());
    expect(replacement.calls).toBe(1);
    expect(m.namedParameters().find(([n]) => n === 'layer.1.mlp.fc1.weight')![1]).toBe(replacement.weight);
  });

  it('works inside a Sequential and a ModuleList (their arrays follow)', () => {
    const m = new Encoder().eval();
    const head = new CountingLinear(8, 10);
    m.replaceModule('head.2', head);
    const block = new Block();
    m.replaceModule('layer.0', block);
    expect(m.layer.at(0)).toBe(block);
    expect([...m.layer][0]).toBe(block);
    const out = m.forward(images());
    expect(head.calls).toBe(1);
    expect(out.data.every((v) => v === 0)).toBe(true); // the zeroing head really produced the output
  });

  it('a replaced top-level child of a plain module is used too', () => {
    const mlp = new Mlp(4, 8);
    const fc2 = new CountingLinear(8, 4);
    mlp.replaceModule('fc2', fc2);
    mlp.forward(randn([2, 4]));
    expect(fc2.calls).toBe(1);
  });

  it('names a path that does not exist', () => {
    expect(() => new Mlp(4, 8).replaceModule('fc3', new Identity())).toThrow(/replaceModule: no submodule at "fc3"/);
  });
});

describe('registerForwardHook', () => {
  it('calls the hook with module, inputs and output after each forward, until removed', () => {
    const m = new Encoder().eval();
    const seen: Array<[Module, number[], number[]]> = [];
    const target = m.layer.at(2).attn;
    const handle = target.registerForwardHook((mod, inputs, output) => seen.push([mod, [...(inputs[0] as Tensor).shape], [...(output as Tensor).shape]]));
    m.forward(images());
    m.forward(images());
    expect(seen).toHaveLength(2);
    expect(seen[0]).toEqual([target, [2, 4, 8], [2, 4, 8]]);
    handle.remove();
    m.forward(images());
    expect(seen).toHaveLength(2);
  });

  it('the output is unchanged by a hook, and several hooks come off in reverse order only', () => {
    const lin = new Linear(3, 2);
    const x = randn([1, 3]);
    const plain = lin.forward(x).data;
    const order: string[] = [];
    const h1 = lin.registerForwardHook(() => order.push('first'));
    const h2 = lin.registerForwardHook(() => order.push('second'));
    expect(lin.forward(x).data).toEqual(plain);
    expect(order).toEqual(['first', 'second']);
    expect(() => h1.remove()).toThrow(/hooks must be removed in reverse order/);
    h2.remove();
    h1.remove();
    order.length = 0;
    lin.forward(x);
    expect(order).toEqual([]);
  });
});

describe('toString prints the tree exactly as PyTorch does', () => {
  it('a Sequential of Linear, GELU, LayerNorm, Dropout', () => {
    const m = new Sequential(new Linear(4, 8), new GELU(), new LayerNorm(8, { eps: 1e-12 }), new Dropout(0.1));
    expect(m.toString()).toBe(ref.module.sequential_repr);
  });

  it('a ModuleList folds identical neighbours as "(0-2): 3 x ..."', () => {
    const m = new ModuleList<Module>([new Linear(4, 4), new Linear(4, 4), new Linear(4, 4), new Linear(4, 2, { bias: false }), new ReLU(), new Tanh()]);
    expect(m.toString()).toBe(ref.module.modulelist_repr);
  });

  it('a nested model with Conv2d (no bias), folded blocks, attention, MLP and an extra line beside children', () => {
    expect(new Encoder().toString()).toBe(ref.module.encoder_repr);
  });

  it('leaf layers print their settings', () => {
    expect(new ModuleList().toString()).toBe('ModuleList()');
    expect(new RMSNorm(16).toString()).toBe('RMSNorm((16,), eps=1e-06)');
    expect(new LayerNorm(4, { elementwiseAffine: false }).toString()).toBe('LayerNorm((4,), eps=1e-05, elementwise_affine=False)');
    expect(new Conv2d(3, 192, 16).toString()).toBe('Conv2d(3, 192, kernel_size=(16, 16), stride=(16, 16))');
  });

  it('pyFloat writes floats as Python repr does', () => {
    expect([0, 1, 0.1, 1e-5, 5e-5, 1e-12, 1.5e-7, 1e-4, 0.5, 2.5].map(pyFloat)).toEqual([
      '0.0', '1.0', '0.1', '1e-05', '5e-05', '1e-12', '1.5e-07', '0.0001', '0.5', '2.5',
    ]);
  });
});

describe('Parameter', () => {
  it('is a leaf that requires grad, and from() copies', () => {
    const t = randn([2, 2]);
    const p = Parameter.from(t);
    expect(p.requiresGrad).toBe(true);
    expect(p.isLeaf).toBe(true);
    expect(p.data).toEqual(t.data);
    p.data[0] = 99;
    expect(t.data[0]).not.toBe(99);
  });
});

describe('init', () => {
  const big = (): Parameter => Parameter.from(zeros([256, 512]));
  const stats = (t: Tensor): { mean: number; std: number; min: number; max: number } => {
    let s = 0;
    let s2 = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const v of t.data) {
      s += v;
      s2 += v * v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const mean = s / t.size;
    return { mean, std: Math.sqrt(s2 / t.size - mean * mean), min, max };
  };

  it('the same seed gives the same values, another seed others', () => {
    const draw = (seed: number): Float32Array => init.normal_(big(), 0, 1, new Generator(seed)).data;
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
    manualSeed(77);
    const a = init.uniform_(big()).data;
    manualSeed(77);
    expect(init.uniform_(big()).data).toEqual(a); // the global generator is seeded too
  });

  it('fans follow PyTorch: [out, in, k, k] has fan_in = in*k*k, fan_out = out*k*k', () => {
    expect(init.fans(zeros([192, 3, 16, 16]))).toEqual({ fanIn: 768, fanOut: 192 * 256 });
    expect(() => init.fans(zeros([5]))).toThrow(/fan in\/out need at least 2 dims, got \[5\]/);
  });

  it('uniform, xavierUniform and kaimingUniform stay within their bounds and fill them', () => {
    const g = new Generator(1);
    const cases: Array<[string, Tensor, number]> = [
      ['uniform(-0.3, 0.7)', init.uniform_(big(), -0.3, 0.7, g), 0.7],
      ['xavierUniform', init.xavierUniform_(big(), 1, g), Math.sqrt(6 / (256 + 512))],
      ['kaimingUniform', init.kaimingUniform_(big(), 0, g), Math.sqrt(6 / 512)],
      ['kaimingUniform(a=sqrt 5)', init.kaimingUniform_(big(), Math.sqrt(5), g), 1 / Math.sqrt(512)],
    ];
    for (const [name, t, hi] of cases) {
      const s = stats(t);
      const lo = name.startsWith('uniform') ? -0.3 : -hi;
      expect(s.max, name).toBeLessThanOrEqual(Math.fround(hi));
      expect(s.min, name).toBeGreaterThanOrEqual(Math.fround(lo));
      expect(s.max, name).toBeGreaterThan(hi - 0.01 * (hi - lo));
      expect(s.min, name).toBeLessThan(lo + 0.01 * (hi - lo));
      expect(s.std / ((hi - lo) / Math.sqrt(12)), `${name} std`).toBeCloseTo(1, 1);
    }
  });

  it('normal, xavierNormal and kaimingNormal have roughly the right mean and std', () => {
    const g = new Generator(2);
    const cases: Array<[string, Tensor, number, number]> = [
      ['normal(1, 0.5)', init.normal_(big(), 1, 0.5, g), 1, 0.5],
      ['xavierNormal', init.xavierNormal_(big(), 1, g), 0, Math.sqrt(2 / (256 + 512))],
      ['kaimingNormal', init.kaimingNormal_(big(), 0, g), 0, Math.sqrt(2 / 512)],
    ];
    for (const [name, t, mean, std] of cases) {
      const s = stats(t);
      expect(Math.abs(s.mean - mean), `${name} mean`).toBeLessThan(0.01 * Math.max(std, 0.1));
      expect(s.std / std, `${name} std`).toBeGreaterThan(0.99);
      expect(s.std / std, `${name} std`).toBeLessThan(1.01);
    }
  });

  it('truncNormal stays within its absolute bounds [a, b] with the std of a truncated normal', () => {
    const t = init.truncNormal_(big(), 0, 0.02, -0.04, 0.04, new Generator(3));
    const s = stats(t);
    expect(s.min).toBeGreaterThanOrEqual(-0.04);
    expect(s.max).toBeLessThanOrEqual(0.04);
    expect(s.max).toBeGreaterThan(0.039);
    // Truncated at +-2 sigma, the std is 0.02 * 0.8796 (the truncated normal's variance factor).
    expect(s.std / (0.02 * 0.8796)).toBeCloseTo(1, 2);
    // timm's ViT init: std 0.02 with the default bounds [-2, 2] is practically an untruncated normal.
    expect(stats(init.truncNormal_(big(), 0, 0.02, -2, 2, new Generator(4))).std / 0.02).toBeCloseTo(1, 2);
    expect(() => init.truncNormal_(zeros([4]), 0, 1, 50, 60, new Generator(5))).toThrow(/truncNormal_: \[50, 60\] is too far from mean 0 with std 1/);
  });

  it('zeros, ones and constant fill in place and return the tensor', () => {
    const t = zeros([3]);
    expect(init.ones_(t)).toBe(t);
    expect([...t.data]).toEqual([1, 1, 1]);
    expect([...init.constant_(t, 0.25).data]).toEqual([0.25, 0.25, 0.25]);
    expect([...init.zeros_(t).data]).toEqual([0, 0, 0]);
  });
});
