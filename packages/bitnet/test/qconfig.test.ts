// quantization_config: describe a BitNet model, write it as JSON, read it back, rebuild the same
// model from a float one; malformed configs are refused with the field named.
import { describe, expect, it } from 'vitest';
import { Generator, noGrad, randn } from '@bitvit/tensor';
import { createModel, presetConfig } from '@bitvit/vit';
import { BitLinear } from '../src/bitlinear.js';
import { bitLinears, convertToBitNet, type ConvertOptions } from '../src/convert.js';
import { applyQuantConfig, bitnetQuantConfig, parseQuantConfig, type BitNetQuantConfig } from '../src/qconfig.js';

const mnist = (seed = 0) => createModel(presetConfig('vit-mnist'), { generator: new Generator(seed) });

function converted(opts: ConvertOptions = {}) {
  const m = mnist();
  convertToBitNet(m, opts);
  return m;
}

describe('bitnetQuantConfig', () => {
  it('lists the BitLinear modules and their shared options', () => {
    const qc = bitnetQuantConfig(converted({ exclude: ['classifier'], weightScale: 'channel', activationBits: null }));
    expect(qc).toMatchObject({
      quant_method: 'bitnet', format: 'latent', weight_bits: 1.58, weight_scale: 'channel', activation_bits: null, input_norm: 'none',
    });
    expect(qc.modules.length).toBe(24);
    expect(qc.modules).not.toContain('classifier');
    expect(qc.modules[0]).toBe('vit.encoder.layer.0.attention.attention.query');
    expect(bitnetQuantConfig(converted(), 'packed').format).toBe('packed');
  });

  it('refuses a model without BitLinear layers, and layers with different options', () => {
    expect(() => bitnetQuantConfig(mnist())).toThrow('bitnetQuantConfig: the model has no BitLinear layers');
    const m = converted({ exclude: ['classifier'] });
    convertToBitNet(m, { include: ['classifier'], weightScale: 'channel' });
    expect(() => bitnetQuantConfig(m)).toThrow(/layer classifier has options that differ from vit\.encoder\.layer\.0\.attention\.attention\.query/);
  });
});

describe('round trip through JSON', () => {
  for (const opts of [{}, { exclude: ['classifier'], weightScale: 'channel' }, { activationBits: null, inputNorm: 'rmsnorm' }] as ConvertOptions[]) {
    it(`rebuilds the same BitNet model from a float one: ${JSON.stringify(opts)}`, () => {
      const original = converted(opts);
      const json = JSON.parse(JSON.stringify({ quantization_config: bitnetQuantConfig(original) })) as Record<string, unknown>;
      const qc = parseQuantConfig(json['quantization_config']);
      expect(qc).toEqual(bitnetQuantConfig(original));
      const rebuilt = mnist(5);
      applyQuantConfig(rebuilt, qc!);
      const describe = (m: ReturnType<typeof mnist>) =>
        bitLinears(m).map(({ name, module: b }) => `${name} ${b.weightScale} ${b.activationBits} ${b.inputNorm}`);
      expect(describe(rebuilt)).toEqual(describe(original));
      // the latent weights load strictly (same keys, norms included) and give the same logits
      rebuilt.loadStateDict(original.stateDict(), { strict: true });
      const x = randn([2, 1, 28, 28], { generator: new Generator(1) });
      const [a, b] = noGrad(() => [original.eval().forward(x), rebuilt.eval().forward(x)]);
      expect(Array.from(b!.data)).toEqual(Array.from(a!.data));
    });
  }

  it('names the recorded modules the model lacks', () => {
    const qc = bitnetQuantConfig(converted());
    expect(() => applyQuantConfig(mnist(), { ...qc, modules: [...qc.modules, 'vit.encoder.layer.9.output.dense', 'vit.layernorm'] })).toThrow(
      'applyQuantConfig: no Linear named vit.encoder.layer.9.output.dense, vit.layernorm in the model',
    );
  });

  it('converts only the recorded modules', () => {
    const qc = bitnetQuantConfig(converted({ include: ['vit.encoder.layer.1.intermediate.dense'] }));
    const m = mnist();
    applyQuantConfig(m, qc);
    expect(bitLinears(m).map((b) => b.name)).toEqual(['vit.encoder.layer.1.intermediate.dense']);
    expect(m.getModule('vit.encoder.layer.1.intermediate.dense')).toBeInstanceOf(BitLinear);
  });
});

describe('parseQuantConfig', () => {
  const good = (): BitNetQuantConfig => bitnetQuantConfig(converted());

  it('returns null for a float model (no quantization_config)', () => {
    expect(parseQuantConfig(undefined)).toBeNull();
    expect(parseQuantConfig(null)).toBeNull();
  });

  it('fills options a hand-written config leaves out with BitLinear defaults', () => {
    const qc = parseQuantConfig({ quant_method: 'bitnet', format: 'latent', modules: ['classifier'] });
    expect(qc).toMatchObject({ weight_scale: 'tensor', activation_bits: 8, input_norm: 'none', weight_bits: 1.58 });
  });

  const bad: Array<[string, unknown, string]> = [
    ['not an object', 'bitnet', 'config.json: quantization_config.quant_method undefined is not "bitnet"'],
    ['another method', { quant_method: 'gptq', bits: 4 }, 'config.json: quantization_config.quant_method "gptq" is not "bitnet"'],
    ['modules missing', { quant_method: 'bitnet', format: 'latent' }, 'config.json: quantization_config.modules must be a list of module names'],
    ['a module that is not a name', { quant_method: 'bitnet', format: 'latent', modules: ['classifier', 3] }, 'quantization_config.modules must be a list of module names'],
    ['unknown format', { quant_method: 'bitnet', format: 'int4', modules: [] }, 'config.json: quantization_config.format must be "latent" or "packed"'],
  ];
  for (const [what, value, message] of bad) {
    it(`refuses ${what}`, () => expect(() => parseQuantConfig(value)).toThrow(message));
  }

  const badOptions: Array<[string, Record<string, unknown>, RegExp]> = [
    ['weight_scale "row"', { weight_scale: 'row' }, /my\/config\.json: quantization_config\.weight_scale "row" is not "tensor" or "channel"/],
    ['activation_bits "8" (a string)', { activation_bits: '8' }, /quantization_config\.activation_bits "8" is not an integer from 2 to 16 or null/],
    ['activation_bits 1', { activation_bits: 1 }, /quantization_config\.activation_bits 1 is not an integer from 2 to 16 or null/],
    ['input_norm "batchnorm"', { input_norm: 'batchnorm' }, /quantization_config\.input_norm "batchnorm" is not "none", "rmsnorm" or "layernorm"/],
    ['weight_bits 2', { weight_bits: 2 }, /quantization_config\.weight_bits 2 is not 1\.58/],
  ];
  for (const [what, change, message] of badOptions) {
    it(`refuses ${what} instead of building a different layer`, () => {
      expect(() => parseQuantConfig({ ...good(), ...change }, 'my/config.json')).toThrow(message);
    });
  }
});
