// Packed BitNet models: TernaryLinear (int8 activations, packed ternary kernel) computes what the
// fake-quant BitLinear computes; savePacked writes U8 codes, float32 scales and the packing into
// config.json and __metadata__; loadPacked reads it back to the same logits and refuses files
// that do not say what they hold.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, Tensor, noGrad, randn } from '@bitvit/tensor';
import { Linear, Module, readSafetensors, readSafetensorsHeader, writeSafetensors, type SafeTensor } from '@bitvit/nn';
import { ViTConfig, createModel, presetConfig, type ViTConfigJson } from '@bitvit/vit';
import { BitLinear, type InputNorm } from '../src/bitlinear.js';
import { bitLinears, convertToBitNet } from '../src/convert.js';
import { PACKING_LAYOUT, loadPacked, savePacked, toPacked, type PackedQuantConfig } from '../src/packed.js';
import { packedRowBytes } from '../src/packing.js';
import { absmeanScale, activationQuant, ternaryCodes, type ScaleGranularity } from '../src/quantizers.js';
import { TernaryLinear } from '../src/ternary-linear.js';

const temp = mkdtempSync(join(tmpdir(), 'bitnet-packed-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(temp, `m${dirs++}`);

type Model = ReturnType<typeof createModel>;
interface Variant {
  weightScale: ScaleGranularity;
  inputNorm: InputNorm;
}
const VARIANTS: Variant[] = [
  { weightScale: 'tensor', inputNorm: 'none' },
  { weightScale: 'channel', inputNorm: 'none' },
  { weightScale: 'tensor', inputNorm: 'rmsnorm' },
  { weightScale: 'channel', inputNorm: 'layernorm' },
];
const label = (v: Variant): string => `scale per ${v.weightScale}, input norm ${v.inputNorm}`;

/** A converted vit-mnist whose input norms (if any) have non-trivial gains, in eval mode. */
function bitnetMnist(v: Variant, seed = 0): Model {
  const m = createModel(presetConfig('vit-mnist'), { generator: new Generator(seed) });
  convertToBitNet(m, v);
  const g = new Generator(seed + 100);
  for (const { module } of bitLinears(m)) {
    for (const [, p] of module.norm?.stateDict() ?? []) p.data.set(randn(p.shape, { generator: g, mean: 1, std: 0.2 }).data);
  }
  return m.eval();
}

const build = (json: Record<string, unknown>): Model => createModel(ViTConfig.fromJson(json as unknown as ViTConfigJson));
const configJson = (m: Model): Record<string, unknown> => m.config.toJson() as unknown as Record<string, unknown>;
const pixels = (n: number, seed = 7): Tensor => randn([n, 1, 28, 28], { generator: new Generator(seed) });

function forward(m: Model, x: Tensor): Float32Array {
  return noGrad(() => m.forward(x)).data;
}

/** Forward with a hook on each named layer, collecting the input each call got. */
function forwardCapturing(m: Model, x: Tensor, names: string[]): { logits: Float32Array; inputs: Map<string, Tensor> } {
  const inputs = new Map<string, Tensor>();
  const handles = names.map((n) => m.getModule(n).registerForwardHook((_mod, args) => inputs.set(n, args[0] as Tensor)));
  const logits = forward(m, x);
  for (const h of handles.reverse()) h.remove();
  return { logits, inputs };
}

/** max |a - b| / max |b|: the difference on the scale of the output. */
function relToMax(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

/** The int8 codes a layer's activation quantizer gives an input (after the layer's own norm). */
function activationCodes(layer: BitLinear | TernaryLinear, x: Tensor): Int32Array {
  return noGrad(() => {
    const xn = layer.norm ? layer.norm.forward(x) : x;
    const { xq, scale } = activationQuant(xn);
    const f = layer.inFeatures;
    return Int32Array.from(xq.data, (v, i) => Math.round(v * scale.data[Math.floor(i / f)]!));
  });
}

// The one rounding the packed path adds: y = sum * (gamma / s) + b in float32 instead of the
// float32 matmul of xq and Wq (whose own sum rounds). Both are within a few float32 ulps of the
// exact value; 1e-5 of the output's scale leaves room for the matmul's accumulation order.
const RESCALE_RTOL = 1e-5;

describe('TernaryLinear computes what BitLinear computes', () => {
  for (const v of VARIANTS) {
    it(`on the same input, up to the final rescale's rounding: ${label(v)}`, () => {
      const gen = new Generator(3);
      const b = new BitLinear(96, 40, { ...v, generator: gen });
      for (const [, p] of b.norm?.stateDict() ?? []) p.data.set(randn(p.shape, { generator: gen, mean: 1, std: 0.2 }).data);
      b.eval();
      const t = TernaryLinear.fromBitLinear(b);
      const x = randn([3, 17, 96], { generator: gen, std: 2 });
      const [yb, yt] = noGrad(() => [b.forward(x), t.forward(x)]);
      expect(yt!.shape).toEqual([3, 17, 40]);
      expect(relToMax(yt!.data, yb!.data)).toBeLessThan(RESCALE_RTOL);
      expect(Array.from(activationCodes(t, x))).toEqual(Array.from(activationCodes(b, x)));
    });
  }

  it('weights only (float activations): the same dequantized weights, so the same floats exactly', () => {
    const b = new BitLinear(50, 30, { activationBits: null, weightScale: 'channel', generator: new Generator(4) }).eval();
    const t = TernaryLinear.fromBitLinear(b);
    const x = randn([5, 50], { generator: new Generator(5) });
    const [yb, yt] = noGrad(() => [b.forward(x), t.forward(x)]);
    expect(Array.from(yt!.data)).toEqual(Array.from(yb!.data));
  });
});

describe('packed vit-mnist against the fake-quant model', () => {
  for (const scheme of ['i2', 't3'] as const) {
    for (const v of VARIANTS) {
      it(`${scheme}, ${label(v)}: every layer on the same inputs, and the logits`, async () => {
        const fake = bitnetMnist(v);
        const names = bitLinears(fake).map((b) => b.name);
        const dir = newDir();
        await savePacked(fake, dir, { configJson: configJson(fake), scheme });
        const packed = await loadPacked(dir, build);
        expect(packed.training).toBe(false);
        expect(names.every((n) => packed.getModule(n) instanceof TernaryLinear)).toBe(true);

        const x = pixels(4);
        const a = forwardCapturing(fake, x, names);
        const p = forwardCapturing(packed, x, names);
        // 1. Teacher-forced: each TernaryLinear on the very input its BitLinear saw.
        for (const n of names) {
          const input = a.inputs.get(n)!;
          const [yb, yt] = noGrad(() => [(fake.getModule(n) as BitLinear).forward(input), (packed.getModule(n) as TernaryLinear).forward(input)]);
          expect(relToMax(yt!.data, yb!.data), n).toBeLessThan(RESCALE_RTOL);
        }
        // 2. End to end. The two models' float paths differ by rounding, and a rounding can move
        // an activation across a .5 step of the int8 grid in a later layer: the code then differs
        // by one and the logits by up to about 1% of their scale. Count those flips; with none,
        // the logits agree to the rescale's rounding.
        let flips = 0;
        let codes = 0;
        for (const n of names) {
          const ca = activationCodes(fake.getModule(n) as BitLinear, a.inputs.get(n)!);
          const cp = activationCodes(packed.getModule(n) as TernaryLinear, p.inputs.get(n)!);
          codes += ca.length;
          for (let i = 0; i < ca.length; i++) {
            if (ca[i] === cp[i]) continue;
            expect(Math.abs(ca[i]! - cp[i]!), `${n} code ${i}`).toBe(1);
            flips++;
          }
        }
        expect(flips / codes).toBeLessThan(1e-3);
        expect(relToMax(p.logits, a.logits)).toBeLessThan(flips === 0 ? RESCALE_RTOL : 0.05);
      });
    }
  }

  it('toPacked gives the same logits as save + load (bit for bit), for i2 and t3 files', async () => {
    const fake = bitnetMnist({ weightScale: 'channel', inputNorm: 'rmsnorm' }, 1);
    const dirs2 = { i2: newDir(), t3: newDir() };
    await savePacked(fake, dirs2.i2, { configJson: configJson(fake), scheme: 'i2' });
    await savePacked(fake, dirs2.t3, { configJson: configJson(fake), scheme: 't3' });
    const x = pixels(3, 8);
    const replaced = toPacked(fake);
    expect(replaced.length).toBe(25);
    expect(bitLinears(fake)).toEqual([]);
    const expected = Array.from(forward(fake, x));
    for (const scheme of ['i2', 't3'] as const) expect(Array.from(forward(await loadPacked(dirs2[scheme], build), x))).toEqual(expected);
  });
});

describe('savePacked -> loadPacked round trip', () => {
  for (const scheme of ['i2', 't3'] as const) {
    it(`${scheme}: codes, scales, biases, norms and every float tensor come back exactly`, async () => {
      const fake = bitnetMnist({ weightScale: 'channel', inputNorm: 'layernorm' }, 2);
      const dir = newDir();
      const { quantizationConfig } = await savePacked(fake, dir, { configJson: configJson(fake), scheme });
      const packed = await loadPacked(dir, build);
      expect(bitnetNames(packed)).toEqual(quantizationConfig.modules);
      const fakeState = fake.stateDict();
      for (const { name, module: b } of bitLinears(fake)) {
        const t = packed.getModule(name) as TernaryLinear;
        const scale = absmeanScale(b.weight, b.weightScale);
        expect(Array.from(t.codes()), name).toEqual(Array.from(ternaryCodes(b.weight, scale)));
        expect(Array.from(t.weightScale), name).toEqual(Array.from(scale.data));
        expect([t.activationBits, t.inputNorm]).toEqual([8, 'layernorm']);
      }
      // Everything but the latent weights is in the packed model's state dict, with the same bytes.
      const packedState = packed.stateDict();
      const latent = new Set(bitLinears(fake).map((b) => `${b.name}.weight`));
      expect([...packedState.keys()].sort()).toEqual([...fakeState.keys()].filter((k) => !latent.has(k)).sort());
      for (const [k, t] of packedState) expect(Array.from(t.data), k).toEqual(Array.from(fakeState.get(k)!.data));
    });
  }

  it('saves the same file from the BitLinear model and from its toPacked twin', async () => {
    const fake = bitnetMnist({ weightScale: 'tensor', inputNorm: 'none' }, 3);
    const a = newDir();
    const b = newDir();
    await savePacked(fake, a, { configJson: configJson(fake) });
    toPacked(fake);
    await savePacked(fake, b, { configJson: configJson(fake) });
    expect(readFileSync(join(b, 'model.safetensors')).equals(readFileSync(join(a, 'model.safetensors')))).toBe(true);
    expect(readFileSync(join(b, 'config.json'), 'utf8')).toBe(readFileSync(join(a, 'config.json'), 'utf8'));
  });
});

function bitnetNames(m: Module): string[] {
  return m.namedModules().flatMap(([n, mod]) => (mod instanceof TernaryLinear || mod instanceof BitLinear ? [n] : []));
}

describe('the packed file', () => {
  for (const scheme of ['i2', 't3'] as const) {
    it(`${scheme}: U8 weights [out, rowBytes], F32 scales and floats; the packing in config.json and __metadata__`, async () => {
      const fake = bitnetMnist({ weightScale: 'channel', inputNorm: 'none' }, 4);
      const dir = newDir();
      const { bytes, quantizationConfig } = await savePacked(fake, dir, { configJson: configJson(fake), scheme, preprocessor: { image_mean: [0.5] } });
      const file = readFileSync(join(dir, 'model.safetensors'));
      expect(bytes).toBe(file.length);
      const { header, metadata } = readSafetensorsHeader(file);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      const qc = config['quantization_config'] as PackedQuantConfig;
      expect(qc).toEqual(quantizationConfig);
      expect(JSON.parse(metadata['quantization_config']!)).toEqual(qc);
      expect(qc).toMatchObject({
        quant_method: 'bitnet', format: 'packed', packing: scheme, pack_axis: 'in', layout: PACKING_LAYOUT[scheme],
        scale_convention: 'multiply', weight_bits: 1.58, weight_scale: 'channel', activation_bits: 8, input_norm: 'none',
      });
      expect(config['model_type']).toBe('vit');
      expect(JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8'))).toEqual({ image_mean: [0.5] });
      const ternary = new Map(bitLinears(fake).map((b) => [b.name, b.module]));
      expect(qc.modules).toEqual([...ternary.keys()]);
      for (const [name, b] of ternary) {
        expect(header[`${name}.weight`], name).toMatchObject({ dtype: 'U8', shape: [b.outFeatures, packedRowBytes(scheme, b.inFeatures)] });
        expect(header[`${name}.weight_scale`], name).toMatchObject({ dtype: 'F32', shape: [b.outFeatures] });
        expect(header[`${name}.bias`], name).toMatchObject({ dtype: 'F32', shape: [b.outFeatures] });
      }
      for (const [name, t] of fake.stateDict()) {
        if (name.endsWith('.weight') && ternary.has(name.slice(0, -'.weight'.length))) continue;
        expect(header[name], name).toMatchObject({ dtype: 'F32', shape: [...t.shape] });
      }
      expect(Object.keys(header).length).toBe(fake.stateDict().size + ternary.size);
    });
  }

  it('lays the codes out as documented: code = w + 1, first weight least significant, along the input dim', async () => {
    const fake = bitnetMnist({ weightScale: 'tensor', inputNorm: 'none' }, 5);
    const name = 'vit.encoder.layer.0.attention.attention.query';
    const b = fake.getModule(name) as BitLinear;
    const codes = ternaryCodes(b.weight, absmeanScale(b.weight));
    for (const scheme of ['i2', 't3'] as const) {
      const dir = newDir();
      await savePacked(fake, dir, { configJson: configJson(fake), scheme });
      const { tensors } = await readSafetensors(join(dir, 'model.safetensors'));
      const w = tensors.get(`${name}.weight`)!;
      const bytes = w.data as Uint8Array;
      const rowBytes = w.shape[1]!;
      // decode by the written description, not by unpackI2 / unpackBase3
      for (const [r, c] of [[0, 0], [0, 1], [0, 5], [3, 63], [63, 62]] as const) {
        const at = r * rowBytes + (scheme === 'i2' ? c >> 2 : Math.floor(c / 5));
        const code = scheme === 'i2' ? (bytes[at]! >> (2 * (c % 4))) & 3 : Math.floor(bytes[at]! / 3 ** (c % 5)) % 3;
        expect(code - 1, `${scheme} [${r}, ${c}]`).toBe(codes[r * b.inFeatures + c]);
      }
      const scale = tensors.get(`${name}.weight_scale`)!;
      expect(Array.from(scale.data as Float32Array)).toEqual(Array.from(absmeanScale(b.weight).data));
    }
  });

  it('quantize then dequantize: the scale multiplies (W = codes * weight_scale), checked against the float layer', async () => {
    // A float Linear whose weights are exactly ternary: +-0.25 everywhere, so mean|W| = 0.25 = gamma
    // and the quantization loses nothing. Dividing by the stored scale instead of multiplying would
    // give 16x the weights (1 / 0.25 = 4 per code), an error no tolerance hides.
    class One extends Module {
      fc: Linear;
      constructor() {
        super();
        this.fc = this.addModule('fc', new Linear(32, 12, { generator: new Generator(6) }));
      }
      forward(x: Tensor): Tensor {
        return this.fc.forward(x);
      }
    }
    const gen = new Generator(7);
    const float = new One();
    float.fc.weight.data.set(float.fc.weight.data.map(() => (gen.random() < 0.5 ? -0.25 : 0.25)));
    const x = randn([6, 32], { generator: gen });
    const yFloat = noGrad(() => float.forward(x)).data;
    for (const activationBits of [null, 8] as const) {
      const m = new One();
      m.loadStateDict(float.stateDict());
      convertToBitNet(m, { activationBits });
      const dir = newDir();
      await savePacked(m, dir, { configJson: { model_type: 'one' } });
      const { tensors } = await readSafetensors(join(dir, 'model.safetensors'));
      expect(Array.from(tensors.get('fc.weight_scale')!.data as Float32Array)).toEqual([0.25]);
      const loaded = await loadPacked(dir, () => new One());
      const t = loaded.fc as unknown as TernaryLinear;
      expect(Array.from(t.codes(), (c) => c * t.weightScale[0]!)).toEqual(Array.from(float.fc.weight.data));
      const y = noGrad(() => loaded.forward(x)).data;
      if (activationBits === null) {
        expect(Array.from(y)).toEqual(Array.from(yFloat)); // same weights, same float matmul
      } else {
        // int8 activations: each x moves by at most half a step, max|x_token| / 254, so
        // |y - y_float| <= sum_i |W_oi| * max|x_token| / 254 = 32 * 0.25 * max|x_token| / 254.
        for (let tok = 0; tok < 6; tok++) {
          const maxAbs = Math.max(...Array.from(x.data.subarray(tok * 32, tok * 32 + 32), Math.abs));
          for (let o = 0; o < 12; o++) {
            expect(Math.abs(y[tok * 12 + o]! - yFloat[tok * 12 + o]!)).toBeLessThanOrEqual((32 * 0.25 * maxAbs) / 254 + 1e-5);
          }
        }
        expect(relToMax(y, yFloat)).toBeGreaterThan(0); // the activations really were quantized
      }
    }
  });
});

describe('loadPacked refuses what it cannot read', () => {
  let good = '';
  async function goodDir(): Promise<string> {
    if (!good) {
      const fake = bitnetMnist({ weightScale: 'tensor', inputNorm: 'none' }, 6);
      good = newDir();
      await savePacked(fake, good, { configJson: configJson(fake) });
    }
    return good;
  }

  /** A copy of the good folder with its config or its tensors changed. */
  async function broken(change: { config?: (qc: Record<string, unknown>, c: Record<string, unknown>) => void; tensors?: (t: Map<string, SafeTensor>) => void }): Promise<string> {
    const src = await goodDir();
    const dir = newDir();
    mkdirSync(dir);
    const { tensors, metadata } = await readSafetensors(join(src, 'model.safetensors'));
    change.tensors?.(tensors);
    await writeSafetensors(join(dir, 'model.safetensors'), tensors, metadata);
    const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    change.config?.(config['quantization_config'] as Record<string, unknown>, config);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }
  const q = 'vit.encoder.layer.0.attention.attention.query';

  it('loads the unbroken folder (the cases below each break one thing)', async () => {
    expect((await loadPacked(await broken({}), build)).getModule(q)).toBeInstanceOf(TernaryLinear);
  });

  const cases: Array<[string, Parameters<typeof broken>[0], RegExp]> = [
    ['a float folder (no quantization_config)', { config: (_qc, c) => delete c['quantization_config'] }, /config\.json: not a packed BitNet model/],
    ['a latent BitNet folder', { config: (qc) => (qc['format'] = 'latent') }, /config\.json: not a packed BitNet model \(quantization_config\.format is not "packed"\)/],
    ['an unknown packing', { config: (qc) => (qc['packing'] = 'q4') }, /config\.json: unknown packing "q4"/],
    ['the divide scale convention', { config: (qc) => (qc['scale_convention'] = 'divide') }, /config\.json: scale_convention "divide" is not "multiply"/],
    ['a module the model lacks', { config: (qc) => (qc['modules'] as string[]).push('vit.encoder.layer.7.output.dense') }, /names modules the model lacks: vit\.encoder\.layer\.7\.output\.dense/],
    [
      'a weight of the wrong shape',
      { tensors: (t) => t.set(`${q}.weight`, { dtype: 'U8', shape: [64, 17], data: new Uint8Array(64 * 17).fill(0x55) }) },
      /model\.safetensors: "vit\.encoder\.layer\.0\.attention\.attention\.query\.weight" should be U8 \[64, 16\], found U8 \[64, 17\]/,
    ],
    [
      'a float weight where codes belong',
      { tensors: (t) => t.set(`${q}.weight`, { dtype: 'F32', shape: [64, 16], data: new Float32Array(64 * 16) }) },
      /"vit\.encoder\.layer\.0\.attention\.attention\.query\.weight" should be U8 \[64, 16\], found F32 \[64, 16\]/,
    ],
    ['a missing weight', { tensors: (t) => t.delete(`${q}.weight`) }, /"vit\.encoder\.layer\.0\.attention\.attention\.query\.weight" should be U8 \[64, 16\], found nothing/],
    ['a missing scale', { tensors: (t) => t.delete(`${q}.weight_scale`) }, /model\.safetensors: "vit\.encoder\.layer\.0\.attention\.attention\.query\.weight_scale" is missing or not F32/],
    [
      'a scale of the wrong length',
      { tensors: (t) => t.set(`${q}.weight_scale`, { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) }) },
      /model\.safetensors: "vit\.encoder\.layer\.0\.attention\.attention\.query\.weight_scale" should be F32 \[1\] or \[64\], found F32 \[3\]/,
    ],
    [
      'an i2 byte holding code 3 (corrupt data)',
      { tensors: (t) => ((t.get(`${q}.weight`)!.data as Uint8Array)[20] = 0xff) },
      /model\.safetensors: "vit\.encoder\.layer\.0\.attention\.attention\.query\.weight": unpackI2: byte 20 \(row 1\) = 0xff holds code 3/,
    ],
    ['a missing float tensor', { tensors: (t) => t.delete('vit.layernorm.weight') }, /model\.safetensors: loadStateDict: missing keys: vit\.layernorm\.weight/],
  ];
  for (const [what, change, message] of cases) {
    it(`refuses ${what}`, async () => {
      await expect(loadPacked(await broken(change), build)).rejects.toThrow(message);
    });
  }

  it('refuses a t3 byte above 242, naming the tensor', async () => {
    const fake = bitnetMnist({ weightScale: 'tensor', inputNorm: 'none' }, 6);
    const dir = newDir();
    await savePacked(fake, dir, { configJson: configJson(fake), scheme: 't3' });
    const { tensors, metadata } = await readSafetensors(join(dir, 'model.safetensors'));
    (tensors.get(`${q}.weight`)!.data as Uint8Array)[5] = 250;
    await writeSafetensors(join(dir, 'model.safetensors'), tensors, metadata);
    await expect(loadPacked(dir, build)).rejects.toThrow(/"vit\.encoder\.layer\.0\.attention\.attention\.query\.weight": unpackBase3: byte 5 \(row 0\) = 250 is above 242/);
  });
});

describe('savePacked refuses what it cannot describe', () => {
  it('a model without ternary layers', async () => {
    const m = createModel(presetConfig('vit-mnist'), { generator: new Generator(0) });
    await expect(savePacked(m, newDir(), { configJson: configJson(m) })).rejects.toThrow('savePacked: the model has no BitLinear or TernaryLinear layers');
  });

  it('layers whose activation bits or input norms differ (one quantization_config describes them all)', async () => {
    const m = createModel(presetConfig('vit-mnist'), { generator: new Generator(0) });
    convertToBitNet(m, { exclude: ['classifier'] });
    convertToBitNet(m, { include: ['classifier'], activationBits: null });
    await expect(savePacked(m, newDir(), { configJson: configJson(m) })).rejects.toThrow(
      /savePacked: layer classifier \(activation bits null, input norm none\) differs from vit\.encoder\.layer\.0\.attention\.attention\.query \(activation bits 8, input norm none\)/,
    );
  });
});
