// Every layer's output and gradients (parameters and input) against PyTorch 1.13, on the
// exact float32 inputs and weights the reference script used (ref/make_nn_reference.py).
import { describe, expect, it } from 'vitest';
import { Generator, ones, randn, type Tensor } from '@bitvit/tensor';
import { Conv2d, Dropout, GELU, Identity, LayerNorm, Linear, Mlp, Module, MultiHeadAttention, RMSNorm, SGD, prepackLinears, unfoldPatches } from '../src/index.js';
import { expectClose, ref, setData, toTensor, type LayerCase } from './helpers.js';

type Forward = (x: Tensor) => Tensor;

/** Load a case's parameters into the module by dotted name, run forward and backward(gy), compare everything. */
function checkLayer(caseName: string, module: Module, forward: Forward, tol: { atol?: number; rtol?: number } = {}): void {
  const c: LayerCase | undefined = ref.layers[caseName];
  if (!c) throw new Error(`nn_reference.json has no layer case "${caseName}"`);
  const params = new Map(module.namedParameters());
  expect([...params.keys()].sort(), `${caseName}: parameter names`).toEqual(Object.keys(c.params).sort());
  for (const [name, value] of Object.entries(c.params)) setData(params.get(name)!, value);

  const x = toTensor(c.inputs.x!, { requiresGrad: true });
  const y = forward(x);
  expectClose(y, c.y, { ...tol, what: `${caseName} output` });
  y.backward(toTensor(c.gy));
  expectClose(x.grad, c.grads.x!, { ...tol, what: `${caseName} input gradient` });
  for (const [name, p] of params) expectClose(p.grad, c.grads[name]!, { ...tol, what: `${caseName} gradient of ${name}` });
}

describe('Linear', () => {
  it('with bias: output and gradients match torch', () => {
    const m = new Linear(5, 4);
    checkLayer('linear_bias', m, (x) => m.forward(x));
  });

  it('without bias: output and gradients match torch, and no bias parameter exists', () => {
    const m = new Linear(5, 4, { bias: false });
    expect(m.bias).toBeNull();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['weight']);
    checkLayer('linear_nobias', m, (x) => m.forward(x));
  });

  it('default init is U(-1/sqrt(in), 1/sqrt(in)) for weight and bias, as nn.Linear', () => {
    const m = new Linear(64, 32, { generator: new Generator(3) });
    const bound = 1 / 8;
    for (const p of [m.weight, m.bias!]) {
      expect(Math.max(...p.data)).toBeLessThanOrEqual(bound);
      expect(Math.min(...p.data)).toBeGreaterThanOrEqual(-bound);
    }
    expect(Math.max(...m.weight.data)).toBeGreaterThan(0.9 * bound); // really spread over the range
  });

  it('names the shapes when the input width is wrong', () => {
    expect(() => new Linear(5, 4).forward(ones([2, 6]))).toThrow(/linear: input \[2,6\] does not match weight \[4,5\]/);
  });

  it('prepack(): the same outputs, and the new weights after an optimizer step or loadStateDict', () => {
    const m = new Linear(48, 40, { generator: new Generator(4) });
    const plain = new Linear(48, 40);
    plain.loadStateDict(m.stateDict());
    const x = randn([3, 17, 48], { generator: new Generator(5) });
    expect(m.prepack()).toBe(true);
    expect(m.forward(x).data).toEqual(plain.forward(x).data);
    // a training step on both: the prepacked layer must not keep multiplying by the old weights
    for (const layer of [m, plain]) {
      const opt = new SGD(layer.parameters(), { lr: 0.5 });
      layer.forward(x).sum().backward();
      opt.step();
    }
    expect(m.forward(x).data).toEqual(plain.forward(x).data);
    expect(m.prepack()).toBe(true);
    const other = new Linear(48, 40, { generator: new Generator(6) });
    m.loadStateDict(other.stateDict());
    expect(m.forward(x).data).toEqual(other.forward(x).data);
  });

  it('prepackLinears packs every Linear of a module tree', () => {
    const mlp = new Mlp(16, 32);
    expect(prepackLinears(mlp)).toBe(2);
  });
});

describe('LayerNorm', () => {
  for (const name of ['layernorm_eps1e-12', 'layernorm_eps1e-5']) {
    it(`${name}: output and gradients match torch`, () => {
      const eps = ref.layers[name]!.eps!;
      const m = new LayerNorm(8, { eps });
      expect(m.eps).toBe(eps);
      checkLayer(name, m, (x) => m.forward(x), { atol: 2e-5, rtol: 1e-4 });
    });
  }
});

describe('LayerNorm eps', () => {
  it('the cases really tell eps 1e-12 from 1e-5 (a row with variance ~1e-6)', () => {
    const c = ref.layers['layernorm_eps1e-5']!;
    const m = new LayerNorm(8, { eps: 1e-12 });
    setData(m.weight!, c.params.weight!);
    setData(m.bias!, c.params.bias!);
    const y = m.forward(toTensor(c.inputs.x!)).data;
    const worst = Math.max(...y.map((v, i) => Math.abs(v - c.y.data[i]!)));
    expect(worst).toBeGreaterThan(0.1);
  });
});

describe('norms without affine parameters', () => {
  const x = (): Tensor => randn([3, 8], { generator: new Generator(8), mean: 1, std: 2 });

  it('LayerNorm without weight/bias (or without bias) equals the affine one at weight 1, bias 0', () => {
    const plain = new LayerNorm(8, { elementwiseAffine: false });
    const noBias = new LayerNorm(8, { bias: false });
    const affine = new LayerNorm(8);
    expect(plain.parameters()).toHaveLength(0);
    expect(noBias.namedParameters().map(([n]) => n)).toEqual(['weight']);
    const want = affine.forward(x()).data;
    expect(plain.forward(x()).data).toEqual(want);
    const xs = x().requiresGrad_();
    const y = noBias.forward(xs);
    expect(y.data).toEqual(want);
    y.sum().backward();
    expect(noBias.weight!.grad!.shape).toEqual([8]);
    expect(xs.grad!.shape).toEqual([3, 8]);
  });

  it('RMSNorm without weight has unit root mean square per row', () => {
    const y = new RMSNorm(8, { elementwiseAffine: false, eps: 0 }).forward(x());
    for (let r = 0; r < 3; r++) {
      const row = y.data.subarray(r * 8, r * 8 + 8);
      expect(Math.sqrt(row.reduce((s, v) => s + v * v, 0) / 8)).toBeCloseTo(1, 5);
    }
  });
});

describe('RMSNorm', () => {
  it('x * rsqrt(mean(x^2) + eps) * w: output and gradients match torch, tiny rows included', () => {
    const m = new RMSNorm(8, { eps: ref.layers.rmsnorm!.eps! });
    checkLayer('rmsnorm', m, (x) => m.forward(x), { atol: 2e-5, rtol: 1e-4 });
  });
});

describe('GELU', () => {
  it('exact erf form: output and gradient match torch on [-6, 6]', () => {
    const m = new GELU();
    checkLayer('gelu', m, (x) => m.forward(x), { atol: 1e-6, rtol: 1e-5 });
  });
});

describe('Identity', () => {
  it('returns its input unchanged, gradient included', () => {
    const x = randn([3, 4], { generator: new Generator(1) }).requiresGrad_();
    const y = new Identity().forward(x);
    expect(y).toBe(x);
  });
});

describe('Dropout', () => {
  const x = ones([100_000]);

  it('p=0 is the identity, even in training', () => {
    const d = new Dropout(0);
    expect(d.training).toBe(true);
    expect(d.forward(x)).toBe(x);
  });

  it('in eval mode it is the identity', () => {
    const d = new Dropout(0.5).eval();
    expect(d.forward(x)).toBe(x);
  });

  it('in training drops about p of the values and scales survivors by 1/(1-p)', () => {
    for (const p of [0.1, 0.5]) {
      const y = new Dropout(p, { generator: new Generator(7) }).forward(x).data;
      const scale = Math.fround(1 / (1 - p));
      const dropped = y.filter((v) => v === 0).length;
      expect(y.filter((v) => v !== 0 && v !== scale).length, 'survivors not scaled by 1/(1-p)').toBe(0);
      // binomial std of the fraction is sqrt(p(1-p)/n) ~ 0.0016; allow 5 sigma
      expect(Math.abs(dropped / y.length - p)).toBeLessThan(0.008);
    }
  });

  it('the gradient flows only through kept values, with the same 1/(1-p) scale', () => {
    const xs = randn([1000], { generator: new Generator(2) }).requiresGrad_();
    const y = new Dropout(0.3, { generator: new Generator(9) }).forward(xs);
    y.sum().backward();
    for (let i = 0; i < y.size; i++) {
      const kept = y.data[i] !== 0;
      expect(xs.grad!.data[i]).toBeCloseTo(kept ? 1 / 0.7 : 0, 6);
    }
  });

  it('the same seed gives the same mask; another seed a different one', () => {
    const mask = (seed: number): Float32Array => new Dropout(0.5, { generator: new Generator(seed) }).forward(ones([256])).data;
    expect(mask(11)).toEqual(mask(11));
    expect(mask(11)).not.toEqual(mask(12));
  });

  it('p=1 drops everything; p outside [0, 1] is refused', () => {
    expect([...new Dropout(1).forward(ones([5])).data]).toEqual([0, 0, 0, 0, 0]);
    expect(() => new Dropout(1.5)).toThrow(/Dropout: p must be in \[0, 1\], got 1.5/);
  });
});

describe('Conv2d patch embedding (kernel = stride = 4)', () => {
  it('forward gives [B, out, h, w]: output and weight/bias/input gradients match torch.nn.Conv2d', () => {
    const m = new Conv2d(3, 6, 4);
    checkLayer('conv2d', m, (x) => m.forward(x));
  });

  it('forwardTokens equals conv(x).flatten(2).transpose(1, 2), gradients included', () => {
    const m = new Conv2d(3, 6, 4, { stride: 4 });
    checkLayer('conv2d_tokens', m, (x) => m.forwardTokens(x));
  });

  it('unfoldPatches orders each patch as (channel, row, col), the weight layout', () => {
    // x[0, c, i, j] = 100c + 10i + j on a 2x4 image with patch 2: patch 1 is columns 2-3.
    const x = toTensor({ shape: [1, 2, 2, 4], data: Array.from({ length: 16 }, (_, k) => 100 * Math.floor(k / 8) + 10 * Math.floor((k % 8) / 4) + (k % 4)) });
    const p = unfoldPatches(x, 2);
    expect(p.shape).toEqual([1, 2, 8]);
    expect([...p.data.slice(8)]).toEqual([2, 3, 12, 13, 102, 103, 112, 113]);
  });

  it('refuses a stride other than the kernel and sizes that are not multiples of the patch', () => {
    expect(() => new Conv2d(3, 6, 4, { stride: 2 })).toThrow(/only kernel_size = stride/);
    expect(() => new Conv2d(3, 6, 4).forward(ones([1, 3, 6, 8]))).toThrow(/unfoldPatches: input \[1,3,6,8\]/);
    expect(() => new Conv2d(3, 6, 4).forward(ones([1, 2, 8, 8]))).toThrow(/has 2 channels, expected 3/);
  });
});

describe('MultiHeadAttention', () => {
  it('matches the same computation in torch with separate q/k/v/out Linear layers', () => {
    const c = ref.layers.attention!;
    const m = new MultiHeadAttention(8, c.heads!);
    checkLayer('attention', m, (x) => m.forward(x), { atol: 2e-5, rtol: 1e-4 });
  });

  it('without q/k/v biases: those are absent, the output projection keeps its bias', () => {
    const m = new MultiHeadAttention(8, 4, { qkvBias: false });
    expect(m.namedParameters().map(([n]) => n)).toEqual(['query.weight', 'key.weight', 'value.weight', 'output.weight', 'output.bias']);
    expect(m.forward(randn([1, 3, 8])).shape).toEqual([1, 3, 8]);
  });

  it('refuses a width that is not a multiple of the heads, and inputs of the wrong shape', () => {
    expect(() => new MultiHeadAttention(10, 3)).toThrow(/width 10 is not a multiple of 3 heads/);
    expect(() => new MultiHeadAttention(8, 2).forward(ones([2, 8]))).toThrow(/input \[2,8\] is not \[B, T, 8\]/);
  });
});

describe('Mlp', () => {
  it('fc1 -> GELU -> fc2 matches torch, gradients included', () => {
    const m = new Mlp(8, 16);
    checkLayer('mlp', m, (x) => m.forward(x), { atol: 2e-5, rtol: 1e-4 });
  });

  it('dropout is applied in training and not in eval', () => {
    const m = new Mlp(8, 16, { dropout: 0.5, generator: new Generator(4) });
    const x = randn([4, 8], { generator: new Generator(5) });
    const train = m.forward(x).data;
    const evalOut = m.eval().forward(x).data;
    expect(train.filter((v) => v === 0).length).toBeGreaterThan(5);
    expect(evalOut.filter((v) => v === 0).length).toBe(0);
  });
});
