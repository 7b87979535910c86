// quantizePTQ on module trees: which layers it picks (globs, nested, shared), what it leaves
// alone (bit for bit), the QuantizedLinear it builds (weights, activations, printing) and the
// calibration that static scales and GPTQ run layer group by layer group.
import { describe, expect, it } from 'vitest';
import { Generator, Tensor, noGrad, randn, type Tensor as T } from '@bitvit/tensor';
import { GELU, LayerNorm, Linear, Module, ModuleList, ReLU, Sequential } from '@bitvit/nn';
import { BitLinear } from '../src/bitlinear.js';
import { forwardGroups, linearNames } from '../src/ptq/calibration.js';
import { fitTernary } from '../src/ptq/fit.js';
import { HessianAccumulator, gptqTernary, refitScalesToOutputs } from '../src/ptq/gptq.js';
import { quantizePTQ } from '../src/ptq/quantize.js';
import { QuantizedLinear, staticQuantize } from '../src/ptq/quantized-linear.js';
import { dequantize, relativeError } from '../src/ptq/ternary-weights.js';

class Block extends Module {
  norm: LayerNorm;
  attn: Linear;
  mlp: Sequential;

  constructor(d: number, g: Generator) {
    super();
    this.norm = this.addModule('norm', new LayerNorm(d));
    this.attn = this.addModule('attn', new Linear(d, d, { generator: g }));
    this.mlp = this.addModule('mlp', new Sequential(new Linear(d, 2 * d, { generator: g }), new GELU(), new Linear(2 * d, d, { generator: g })));
  }

  forward(x: T): T {
    const h = x.add(this.attn.forward(this.norm.forward(x)));
    return h.add(this.mlp.forward(h));
  }
}

/** blocks.{0,1}.{norm, attn, mlp.0, mlp.2} and head: a nested tree with norms beside the Linears. */
class Net extends Module {
  blocks: ModuleList<Block>;
  head: Linear;

  constructor(d = 6, seed = 1) {
    super();
    const g = new Generator(seed);
    this.blocks = this.addModule('blocks', new ModuleList([new Block(d, g), new Block(d, g)]));
    this.head = this.addModule('head', new Linear(d, 3, { generator: g }));
  }

  forward(x: T): T {
    let h = x;
    for (const b of this.blocks) h = b.forward(h);
    return this.head.forward(h);
  }
}

class Branch extends Module {
  proj: Linear;
  constructor(proj: Linear) {
    super();
    this.proj = this.addModule('proj', proj);
  }
  forward(x: T): T {
    return this.proj.forward(x).relu();
  }
}

/** Two parents, one Linear: a.proj and b.proj are the same module. */
class Shared extends Module {
  a: Branch;
  b: Branch;
  constructor() {
    super();
    const lin = new Linear(5, 5, { generator: new Generator(4) });
    this.a = this.addModule('a', new Branch(lin));
    this.b = this.addModule('b', new Branch(lin));
  }
  forward(x: T): T {
    return this.a.forward(x).add(this.b.forward(x.mul(x)));
  }
}

const snapshot = (m: Module): Map<string, Float32Array> => new Map([...m.stateDict()].map(([k, t]) => [k, Float32Array.from(t.data)]));
const input = (shape: number[], seed: number): Tensor => randn(shape, { generator: new Generator(seed) });

describe('selecting layers', () => {
  it('quantizes every Linear of a nested tree by default, reported in tree order', () => {
    const net = new Net();
    const report = quantizePTQ(net, { method: 'twn' });
    expect(report.layers.map((l) => l.name)).toEqual([
      'blocks.0.attn', 'blocks.0.mlp.0', 'blocks.0.mlp.2', 'blocks.1.attn', 'blocks.1.mlp.0', 'blocks.1.mlp.2', 'head',
    ]);
    for (const [, m] of net.namedModules()) expect(m instanceof Linear).toBe(false);
    expect(net.blocks.at(0).mlp.layers[0]).toBeInstanceOf(QuantizedLinear); // Sequential's own list follows the swap
  });

  it('include and exclude globs pick the layers; the rest stay Linear with bit-identical weights', () => {
    const net = new Net();
    const before = snapshot(net);
    const report = quantizePTQ(net, { method: 'absmean', include: ['blocks.*.mlp.**', 'head'], exclude: ['blocks.1.**'] });
    const picked = ['blocks.0.mlp.0', 'blocks.0.mlp.2', 'head'];
    expect(report.layers.map((l) => l.name)).toEqual(picked);
    const after = snapshot(net);
    for (const [name, m] of net.namedModules()) {
      if (picked.includes(name)) expect(m).toBeInstanceOf(QuantizedLinear);
      else if (name.endsWith('attn') || /mlp\.[02]$/.test(name)) expect(m).toBeInstanceOf(Linear);
    }
    // Everything that is still there (norms, excluded Linears, the quantized layers' float biases) is untouched;
    // what went missing is exactly the quantized layers' float weights.
    for (const [k, v] of after) expect(v).toEqual(before.get(k));
    expect([...before.keys()].filter((k) => !after.has(k))).toEqual(picked.map((n) => `${n}.weight`));
  });

  it('a shared Linear becomes one QuantizedLinear in both parents, reported once under its first name', () => {
    const m = new Shared();
    const report = quantizePTQ(m, { method: 'twn-refit', granularity: 'channel' });
    expect(m.a.proj).toBeInstanceOf(QuantizedLinear);
    expect(m.b.proj).toBe(m.a.proj);
    expect(report.layers.map((l) => l.name)).toEqual(['a.proj']);
  });

  it('a shared Linear is selected when any of its names matches, and swapped in every parent', () => {
    const m = new Shared();
    expect([...linearNames(m).values()]).toEqual([['a.proj', 'b.proj']]);
    quantizePTQ(m, { method: 'twn', include: ['b.*'] });
    expect(m.a.proj).toBeInstanceOf(QuantizedLinear);
    expect(m.b.proj).toBe(m.a.proj);
  });

  it('a shared Linear under GPTQ sees the inputs of both its calls', () => {
    const m = new Shared();
    const lin = m.a.proj;
    const calibration = [input([16, 5], 1)];
    const report = quantizePTQ(m, { method: 'gptq', calibration });
    expect(m.b.proj).toBe(m.a.proj);
    expect(report.layers.map((l) => l.name)).toEqual(['a.proj']);
    // H from both calls' inputs, x and x*x.
    const both = new HessianAccumulator(5);
    both.add(calibration[0]!);
    both.add(calibration[0]!.mul(calibration[0]!));
    const only = new HessianAccumulator(5);
    only.add(calibration[0]!);
    const w = lin.weight.data;
    const grid = fitTernary(w, 5, 5, 'twn-refit', 'tensor', true);
    const fit = (H: Float64Array): Float32Array => refitScalesToOutputs(w, gptqTernary(w, grid, H), H).planes[0]!.alpha;
    const got = (m.a.proj as unknown as QuantizedLinear).weights.planes[0]!.alpha;
    expect(got).toEqual(fit(both.hessian()));
    expect(got).not.toEqual(fit(only.hessian()));
  });
});

describe('QuantizedLinear', () => {
  it('absmean per tensor with dynamic activations computes exactly what BitLinear computes', () => {
    const lin = new Linear(16, 8, { generator: new Generator(2) });
    const bit = BitLinear.fromLinear(lin);
    const seq = new Sequential(lin);
    quantizePTQ(seq, { method: 'absmean' });
    const x = input([3, 5, 16], 9);
    const want = noGrad(() => bit.forward(x));
    const got = noGrad(() => (seq.layers[0] as QuantizedLinear).forward(x));
    expect(got.shape).toEqual([3, 5, 8]);
    expect(got.data).toEqual(want.data);
  });

  it('holds codes, scales, zero point and float bias; prints like the study printed its layers', () => {
    const lin = new Linear(12, 4, { generator: new Generator(3) });
    const seq = new Sequential(lin);
    const report = quantizePTQ(seq, { method: 'twn', granularity: 'channel', symmetric: false });
    const q = seq.layers[0] as QuantizedLinear;
    expect(q.toString()).toBe('QuantizedLinear(12 -> 4, twn, per-channel, asym, a8-dynamic)');
    expect(q.weights.planes[0]!.codes.length).toBe(48);
    expect(q.weights.planes[0]!.alpha.length).toBe(4);
    expect(q.weights.beta!.length).toBe(4);
    expect(q.bias!.data).toEqual(lin.bias!.data);
    expect(q.dequantizedWeight.data).toEqual(dequantize(q.weights));
    expect(report.layers[0]!.weightRelError).toBeCloseTo(relativeError(lin.weight.data, dequantize(q.weights)), 12);
    expect(report.layers[0]!.bits).toBeCloseTo(Math.log2(3) + (32 * 8) / 48, 9);
    expect(q.parameters()).toEqual([]); // no weight, nothing to train
    expect([...q.stateDict().keys()]).toEqual(['bias']);

    const two = new Sequential(new Linear(12, 4, { bias: false }));
    quantizePTQ(two, { method: 'two-plane', activations: 'none' });
    expect(two.layers[0]!.toString()).toBe('QuantizedLinear(12 -> 4, two-plane, per-tensor, sym, float activations)');
  });

  it('static activations: a fixed scale, values beyond the calibration range clip; dynamic rescales per token', () => {
    const ternary = fitTernary(Float32Array.from({ length: 8 }, (_, i) => (i % 3) - 1), 2, 4, 'absmean', 'tensor', true);
    const stat = new QuantizedLinear(ternary, null, { method: 'absmean', activations: 'static', activationScale: 127 / 2 });
    const dyn = new QuantizedLinear(ternary, null, { method: 'absmean', activations: 'dynamic' });
    // Token 0 inside the range, token 1 small (coarse under the static scale), token 2 past it (clipped to 127/s = 2).
    const x = new Tensor(Float32Array.of(2, -1, 0.5, 0.25, 0.005, 0.02, -0.013, 0.004, 4, -3, 1, 0), [3, 4]);
    const xs = stat.quantizeInput(x).data;
    // -1 * 63.5 = -63.5 rounds half to even, to -64; 0.5 * 63.5 = 31.75 -> 32; 0.25 * 63.5 = 15.875 -> 16.
    expect(Array.from(xs.subarray(0, 4))).toEqual(Array.from(Float32Array.of(2, -64 / 63.5, 32 / 63.5, 16 / 63.5)));
    expect(Array.from(xs.subarray(4, 8))).toEqual([0, Math.fround(1 / 63.5), Math.fround(-1 / 63.5), 0]);
    // Past the range: 4 -> 127/s = 2 and -3 -> -128/s (the int8 range is one longer below); 1 -> 63.5 -> 64.
    expect(Array.from(xs.subarray(8, 12))).toEqual(Array.from(Float32Array.of(2, -128 / 63.5, 64 / 63.5, 0)));
    expect(xs).toEqual(staticQuantize(x, 63.5).data);
    // Dynamic: each token has its own absmax, so the small token keeps its shape.
    const xd = dyn.quantizeInput(x).data;
    expect(xd[5]! / xd[4]!).toBeCloseTo(4, 1); // 0.02 / 0.005
    expect(xd[8]).toBeCloseTo(4, 5);
    expect(() => new QuantizedLinear(ternary, null, { method: 'absmean', activations: 'static' })).toThrow(/positive finite activationScale/);
  });
});

describe('calibration', () => {
  it('static scales come from each layer in forward order, seeing the already-quantized layers before it', () => {
    const seq = new Sequential(new Linear(6, 10, { generator: new Generator(5) }), new ReLU(), new Linear(10, 3, { generator: new Generator(6) }));
    const calibration = [input([7, 6], 1), input([5, 6], 2).mul(3)];
    quantizePTQ(seq, { method: 'twn', activations: 'static', calibration });
    const [first, , second] = seq.layers as [QuantizedLinear, Module, QuantizedLinear];
    const absmax = (ts: Tensor[]): number => Math.max(...ts.flatMap((t) => Array.from(t.data, Math.abs)));
    expect(first.activationScale).toBeCloseTo(127 / absmax(calibration), 4);
    // The second layer's inputs: ReLU of the *quantized* first layer (static 8-bit activations included).
    const seen = noGrad(() => calibration.map((x) => first.forward(x).relu()));
    expect(second.activationScale).toBeCloseTo(127 / absmax(seen), 4);
    expect(second.toString()).toBe('QuantizedLinear(10 -> 3, twn, per-tensor, sym, a8-static)');
  });

  it('GPTQ fits each layer to the inputs the quantized layers before it produce', () => {
    const make = (): Sequential => new Sequential(new Linear(8, 12, { generator: new Generator(7) }), new GELU(), new Linear(12, 4, { generator: new Generator(8) }));
    const calibration = [input([32, 8], 3), input([32, 8], 4)];
    const seq = make();
    const w2 = Float32Array.from((seq.layers[2] as Linear).weight.data);
    quantizePTQ(seq, { method: 'gptq', granularity: 'channel', calibration, activations: 'none' });
    // By hand: the second layer's Hessian from GELU(quantized first layer(x)).
    const first = seq.layers[0] as QuantizedLinear;
    const acc = new HessianAccumulator(12);
    noGrad(() => calibration.forEach((x) => acc.add(first.forward(x).gelu())));
    const grid = fitTernary(w2, 4, 12, 'twn-refit', 'channel', true);
    const want = refitScalesToOutputs(w2, gptqTernary(w2, grid, acc.hessian()), acc.hessian());
    const got = (seq.layers[2] as QuantizedLinear).weights.planes[0]!;
    expect(got.codes).toEqual(want.planes[0]!.codes);
    expect(got.alpha).toEqual(want.planes[0]!.alpha);
    // ... and not to the float model's inputs (else the check above would prove nothing).
    const floatSeq = make();
    const accF = new HessianAccumulator(12);
    noGrad(() => calibration.forEach((x) => accF.add((floatSeq.layers[0] as Linear).forward(x).gelu())));
    const wantF = refitScalesToOutputs(w2, gptqTernary(w2, grid, accF.hessian()), accF.hessian());
    expect(Array.from(got.alpha)).not.toEqual(Array.from(wantF.planes[0]!.alpha));
  });

  it('groups layers that read the same input (query, key, value) so one pass calibrates them all', () => {
    class Attn extends Module {
      query = this.addModule('query', new Linear(4, 4));
      key = this.addModule('key', new Linear(4, 4));
      value = this.addModule('value', new Linear(4, 4));
      out = this.addModule('out', new Linear(4, 4));
      forward(x: T): T {
        return this.out.forward(this.query.forward(x).mul(this.key.forward(x)).add(this.value.forward(x)));
      }
    }
    const m = new Attn();
    const forward = (model: Module, x: Tensor): Tensor => (model as Attn).forward(x);
    const { groups, unused } = forwardGroups(m, [m.out, m.value, m.key, m.query], input([2, 4], 1), forward);
    expect(groups).toEqual([[m.query, m.key, m.value], [m.out]]);
    expect(unused).toEqual([]);
  });

  it('leaves every module in the training mode it had', () => {
    const net = new Net().train();
    net.blocks.at(1).eval();
    quantizePTQ(net, { method: 'gptq', calibration: [input([4, 6], 1)] });
    expect(net.training).toBe(true);
    expect(net.blocks.at(0).training).toBe(true);
    expect(net.blocks.at(1).training).toBe(false);
  });
});

describe('options and errors', () => {
  it('reports the options with defaults, without the calibration data', () => {
    const report = quantizePTQ(new Net(), { method: 'gptq', calibration: [input([2, 6], 1)], gptq: { actOrder: true } });
    expect(report.options).toEqual({
      method: 'gptq', granularity: 'tensor', symmetric: true, include: [], exclude: [], activations: 'dynamic',
      gptq: { dampening: 0.01, blockSize: 32, actOrder: true, grid: 'twn-refit', refitScales: true },
    });
    for (const l of report.layers) {
      expect(l.zeroShare).toBeGreaterThan(0);
      expect(l.zeroShare).toBeLessThan(1);
      expect(l.weightRelError).toBeGreaterThan(0);
      expect(l.method).toBe('gptq');
    }
  });

  it('names what is wrong', () => {
    expect(() => quantizePTQ(new Net(), { method: 'gptq' })).toThrow("quantizePTQ: method 'gptq' needs calibration batches (options.calibration is empty)");
    expect(() => quantizePTQ(new Net(), { method: 'twn', activations: 'static', calibration: [] })).toThrow(/activations 'static' needs calibration/);
    expect(() => quantizePTQ(new Net(), { method: 'sparse' as 'twn' })).toThrow(/unknown method "sparse"/);
    expect(() => quantizePTQ(new Net(), { method: 'gptq', calibration: [input([2, 6], 1)], gptq: { grid: 'two-plane' as 'twn' } })).toThrow(/gptq.grid "two-plane"/);
    // A selected layer the forward never calls has nothing to calibrate on.
    class Unused extends Net {
      spare = this.addModule('spare', new Linear(6, 6));
    }
    expect(() => quantizePTQ(new Unused(), { method: 'gptq', calibration: [input([2, 6], 1)] })).toThrow(/layers "spare" are not called by forward/);
  });
});
