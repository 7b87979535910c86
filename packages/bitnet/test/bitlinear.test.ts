// BitLinear forward and backward against a PyTorch implementation of BITNET.md section 1
// (test/ref/make_bitlinear_reference.py: STE via detach), for every input norm, per-tensor and
// per-channel scales, with and without activation quantization; and the STE itself: the layer's
// gradients are those of a plain linear layer on the quantized tensors (dW = g^T xq, dx = g Wq).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator, Tensor, linear, noGrad, randn, straightThrough } from '@bitvit/tensor';
import { Linear, forwardShared } from '@bitvit/nn';
import { BitLinear, type InputNorm } from '../src/bitlinear.js';
import { activationQuant, weightQuant, type ScaleGranularity } from '../src/quantizers.js';

interface CaseRef {
  input_norm: InputNorm;
  weight_scale: ScaleGranularity;
  activation_bits: 8 | null;
  y: number[];
  dx: number[];
  dweight: number[];
  dbias: number[];
  dnorm_weight?: number[];
  dnorm_bias?: number[];
}
interface BitLinearRef {
  x: { shape: number[]; data: number[] };
  weight: { shape: number[]; data: number[] };
  bias: number[];
  norm_weight: number[];
  norm_bias: number[];
  grad_out: number[];
  cases: CaseRef[];
}
const ref = JSON.parse(readFileSync(join(import.meta.dirname, 'ref', 'bitlinear_reference.json'), 'utf8')).bitlinear as BitLinearRef;
const [OUT, IN] = ref.weight.shape as [number, number];

/** Elementwise |a - b| <= rtol * |b| + atol, failing with the worst index. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (rtol * Math.abs(expected[i]!) + atol);
    if (excess > worstExcess || Number.isNaN(actual[i]!)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) expect.fail(`${what}[${worst}] = ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
}

function grad(t: Tensor, what: string): Float32Array {
  if (!t.grad) throw new Error(`${what} has no gradient`);
  return t.grad.data;
}

/** The reference layer's parameters in a BitLinear with the given options. */
function referenceLayer(c: Pick<CaseRef, 'input_norm' | 'weight_scale' | 'activation_bits'>): BitLinear {
  const layer = new BitLinear(IN, OUT, { inputNorm: c.input_norm, weightScale: c.weight_scale, activationBits: c.activation_bits });
  layer.weight.data.set(ref.weight.data);
  layer.bias!.data.set(ref.bias);
  const sd = layer.norm?.stateDict();
  sd?.get('weight')?.data.set(ref.norm_weight);
  sd?.get('bias')?.data.set(ref.norm_bias);
  return layer;
}

const input = (): Tensor => new Tensor(Float32Array.from(ref.x.data), ref.x.shape).requiresGrad_();
const gradOut = (): Tensor => new Tensor(Float32Array.from(ref.grad_out), [...ref.x.shape.slice(0, -1), OUT]);

describe('BitLinear against PyTorch (BITNET.md section 1, STE via detach)', () => {
  // Tolerances: torch forms the STE as x + (q - x).detach(), which is q up to one rounding of each
  // add, and sums the matmul in another order; nothing else differs. Backward through a norm
  // adds a few more roundings, hence the atol on dx.
  for (const c of ref.cases) {
    const label = `norm ${c.input_norm}, scale per ${c.weight_scale}, ${c.activation_bits === null ? 'weights only' : 'a8'}`;
    it(`forward and backward: ${label}`, () => {
      const layer = referenceLayer(c);
      const x = input();
      const y = layer.forward(x);
      expect(y.shape).toEqual([...ref.x.shape.slice(0, -1), OUT]);
      expectClose(y.data, c.y, 1e-5, 1e-6, 'y');
      y.backward(gradOut());
      expectClose(grad(x, 'x'), c.dx, 1e-5, 2e-6, 'dx');
      expectClose(grad(layer.weight, 'weight'), c.dweight, 1e-5, 1e-6, 'dweight');
      expectClose(grad(layer.bias!, 'bias'), c.dbias, 1e-6, 1e-7, 'dbias');
      const normParams = layer.norm?.stateDict();
      if (c.dnorm_weight) expectClose(grad(normParams!.get('weight')!, 'norm.weight'), c.dnorm_weight, 1e-5, 2e-6, 'dnorm.weight');
      if (c.dnorm_bias) expectClose(grad(normParams!.get('bias')!, 'norm.bias'), c.dnorm_bias, 1e-5, 2e-6, 'dnorm.bias');
    });
  }

  it('covers every option the layer has (3 norms x 2 scales x a8/weights-only)', () => {
    expect(ref.cases.length).toBe(12);
    expect(new Set(ref.cases.map((c) => `${c.input_norm}/${c.weight_scale}/${c.activation_bits}`)).size).toBe(12);
  });
});

describe('the straight-through estimator', () => {
  it("gives the layer the gradients of a plain linear on the quantized tensors: dW = g^T xq, dx = g Wq, db = sum g", () => {
    for (const weightScale of ['tensor', 'channel'] as const) {
      const layer = referenceLayer({ input_norm: 'none', weight_scale: weightScale, activation_bits: 8 });
      const x = input();
      layer.forward(x).backward(gradOut());
      // The identity's gradient: the same linear op on detached quantized leaves.
      const xq = activationQuant(x.detach()).xq.requiresGrad_();
      const wq = weightQuant(layer.weight.detach(), weightScale).wq.requiresGrad_();
      const b = layer.bias!.detach().requiresGrad_();
      linear(xq, wq, b).backward(gradOut());
      expect(Array.from(grad(layer.weight, 'weight'))).toEqual(Array.from(grad(wq, 'wq')));
      expect(Array.from(grad(x, 'x'))).toEqual(Array.from(grad(xq, 'xq')));
      expect(Array.from(grad(layer.bias!, 'bias'))).toEqual(Array.from(grad(b, 'b')));
      // and written out: dW[o, i] = sum_t g[t, o] * xq[t, i]
      const g = gradOut().reshape(-1, OUT);
      const dW = g.T.matmul(xq.detach().reshape(-1, IN));
      expectClose(grad(layer.weight, 'weight'), dW.data, 1e-6, 1e-7, 'g^T xq');
      expectClose(grad(x, 'x'), g.matmul(wq.detach()).data, 1e-6, 1e-7, 'g Wq');
    }
  });

  it('is not the gradient of the latent weights: dx uses Wq, not W', () => {
    const layer = referenceLayer({ input_norm: 'none', weight_scale: 'tensor', activation_bits: 8 });
    const x = input();
    layer.forward(x).backward(gradOut());
    const viaLatent = gradOut().reshape(-1, OUT).matmul(layer.weight.detach());
    const diff = Math.max(...Array.from(grad(x, 'x'), (v, i) => Math.abs(v - viaLatent.data[i]!)));
    expect(diff).toBeGreaterThan(1e-2);
  });

  it('straightThrough(x, q) and x.add(q.sub(x).detach()) give the same values (to one rounding) and the same gradients', () => {
    const gen = new Generator(11);
    const x1 = randn([4, 16], { generator: gen }).requiresGrad_();
    const x2 = x1.detach().requiresGrad_();
    const q = activationQuant(x1.detach()).xq;
    const a = straightThrough(x1, q);
    const b = x2.add(q.sub(x2).detach());
    for (let i = 0; i < a.size; i++) {
      // x + (q - x) rounds twice; straightThrough returns q itself
      expect(a.data[i]).toBe(q.data[i]);
      expect(Math.abs(a.data[i]! - b.data[i]!)).toBeLessThanOrEqual(2 ** -23 * Math.max(Math.abs(q.data[i]!), Math.abs(x1.data[i]!)));
    }
    const g = randn([4, 16], { generator: gen });
    a.mul(a).mul(g).sum().backward();
    b.mul(b).mul(g).sum().backward();
    // d/dx sum(g * y^2) = 2 g y: the identity's gradient, evaluated at the quantized value
    expectClose(grad(x1, 'x1'), grad(x2, 'x2'), 1e-6, 1e-7, 'grad');
    expectClose(grad(x1, 'x1'), g.mul(q).mul(2).data, 1e-6, 0, '2 g q');
  });

  it('a BitLinear written with detach() computes the layer: same output and gradients', () => {
    for (const inputNorm of ['none', 'layernorm'] as const) {
      const layer = referenceLayer({ input_norm: inputNorm, weight_scale: 'channel', activation_bits: 8 });
      const x1 = input();
      const y1 = layer.forward(x1);
      y1.backward(gradOut());
      const gW1 = Float32Array.from(grad(layer.weight, 'weight'));
      layer.zeroGrad();
      const x2 = input();
      const xn = layer.norm ? layer.norm.forward(x2) : x2;
      const xq = xn.add(activationQuant(xn.detach()).xq.sub(xn).detach());
      const W = layer.weight;
      const wq = W.add(weightQuant(W.detach(), 'channel').wq.sub(W).detach());
      const y2 = linear(xq, wq, layer.bias);
      y2.backward(gradOut());
      expectClose(y1.data, y2.data, 1e-6, 1e-6, `y (${inputNorm})`);
      expectClose(grad(x1, 'x1'), grad(x2, 'x2'), 1e-6, 1e-6, `dx (${inputNorm})`);
      expectClose(gW1, grad(layer.weight, 'weight'), 1e-6, 1e-6, `dW (${inputNorm})`);
    }
  });
});

describe('BitLinear as a drop-in for Linear', () => {
  it('forward is actQuant(x) @ weightQuant(W)^T + b; weights-only skips the activation quantizer', () => {
    const layer = referenceLayer({ input_norm: 'none', weight_scale: 'tensor', activation_bits: 8 });
    const x = input().detach();
    noGrad(() => {
      const wq = weightQuant(layer.weight).wq;
      expect(Array.from(layer.forward(x).data)).toEqual(Array.from(linear(activationQuant(x).xq, wq, layer.bias).data));
      const wo = referenceLayer({ input_norm: 'none', weight_scale: 'tensor', activation_bits: null });
      expect(Array.from(wo.forward(x).data)).toEqual(Array.from(linear(x, wq, wo.bias).data));
    });
  });

  it('has the state dict keys and shapes of a Linear, so a float checkpoint loads into it', () => {
    const lin = new Linear(IN, OUT, { generator: new Generator(1) });
    const bit = new BitLinear(IN, OUT);
    const keys = (m: Linear | BitLinear): Array<[string, number[]]> => [...m.stateDict()].map(([k, t]) => [k, [...t.shape]]);
    expect(keys(bit)).toEqual(keys(lin));
    bit.loadStateDict(lin.stateDict(), { strict: true });
    expect(Array.from(bit.weight.data)).toEqual(Array.from(lin.weight.data));
    const noBias = new BitLinear(IN, OUT, { bias: false });
    expect([...noBias.stateDict().keys()]).toEqual(['weight']);
    // an input norm adds its own parameters (the layer is then no longer key-compatible)
    expect([...new BitLinear(IN, OUT, { inputNorm: 'layernorm' }).stateDict().keys()]).toEqual(['weight', 'bias', 'norm.weight', 'norm.bias']);
    expect([...new BitLinear(IN, OUT, { inputNorm: 'rmsnorm' }).stateDict().keys()]).toEqual(['weight', 'bias', 'norm.weight']);
  });

  it('fromLinear copies the values (the Linear is not aliased) and keeps bias or no bias', () => {
    const lin = new Linear(IN, OUT, { generator: new Generator(2) });
    const bit = BitLinear.fromLinear(lin, { weightScale: 'channel' });
    expect(Array.from(bit.weight.data)).toEqual(Array.from(lin.weight.data));
    expect(Array.from(bit.bias!.data)).toEqual(Array.from(lin.bias!.data));
    expect(bit.weight.data).not.toBe(lin.weight.data);
    expect(bit.weightScale).toBe('channel');
    expect(BitLinear.fromLinear(new Linear(IN, OUT, { bias: false })).bias).toBeNull();
  });

  it("prints as the study's PyTorch tree did, with options named", () => {
    expect(String(new BitLinear(192, 192))).toBe('BitLinear(192 -> 192, bias)');
    expect(String(new BitLinear(192, 768, { bias: false, weightScale: 'channel', activationBits: null }))).toBe(
      'BitLinear(192 -> 768, per-channel scale, weights only)',
    );
    expect(String(new BitLinear(8, 4, { inputNorm: 'rmsnorm' }))).toMatch(/^BitLinear\(\n {2}8 -> 4, bias, norm=rmsnorm\n {2}\(norm\): RMSNorm/);
  });
});

describe('BitLinears that read the same input (attention q, k, v through nn forwardShared)', () => {
  it('quantize it once and give the outputs and gradients of their own forwards', () => {
    const g = new Generator(21);
    const layers = [0, 1, 2].map(() => new BitLinear(16, 8, { generator: g }));
    const x0 = randn([3, 5, 16], { generator: g });
    const run = (shared: boolean): { ys: Float32Array[]; gx: Float32Array; gw: Float32Array[] } => {
      for (const m of layers) m.zeroGrad();
      const x = new Tensor(x0.data.slice(), x0.shape).requiresGrad_();
      const ys = shared ? forwardShared(layers, x) : layers.map((m) => m.forward(x));
      ys.reduce((a, b) => a.add(b.mul(1.5))).sum().backward();
      return { ys: ys.map((y) => y.data.slice()), gx: x.grad!.data.slice(), gw: layers.map((m) => m.weight.grad!.data.slice()) };
    };
    const separate = run(false);
    const shared = run(true);
    shared.ys.forEach((y, i) => expect(Array.from(y)).toEqual(Array.from(separate.ys[i]!)));
    shared.gw.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(separate.gw[i]!)));
    for (let i = 0; i < shared.gx.length; i++) expect(shared.gx[i]).toBeCloseTo(separate.gx[i]!, 6);
    expect(new Set(layers.map((m) => m.inputKey))).toEqual(new Set(['absmax-a8']));
  });

  it('do not share an input norm (its own weights) or mix activation bits', () => {
    const g = new Generator(22);
    expect(new BitLinear(8, 4, { inputNorm: 'rmsnorm', generator: g }).inputKey).toBeNull();
    expect(new BitLinear(8, 4, { activationBits: null, generator: g }).inputKey).toBe('identity');
    expect(new BitLinear(8, 4, { activationBits: 4, generator: g }).inputKey).toBe('absmax-a4');
  });
});
