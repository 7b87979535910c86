// buildModel / saveModel / loadModel: presets with the data's overrides, float and BitNet latent
// folders that reload to the same model (same layers, same options, same logits), packed folders
// that load as TernaryLinear inference models, and broken quantization_config entries refused.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, manualSeed, noGrad, randn, type Tensor } from '@bitvit/tensor';
import { BitLinear, TernaryLinear, bitLinears, savePacked, type ConvertOptions } from '@bitvit/bitnet';
import { DeiTForImageClassificationWithTeacher, type ImageClassifier } from '@bitvit/vit';
import { buildModel, isModelFolder, loadModel, saveModel } from '../src/index.js';
import { tempDir } from './helpers.js';

const temp = tempDir('models');
afterAll(temp.cleanup);

const x = randn([3, 1, 28, 28], { generator: new Generator('models-test/x') });

function logits(m: ImageClassifier, input: Tensor = x): Float32Array {
  m.eval();
  return noGrad(() => Float32Array.from(m.forward(input).data));
}

/** Train-free but non-trivial weights: a seeded init, then every parameter nudged, so zeros and ones in norms are not all that is compared. */
function perturbed(m: ImageClassifier): ImageClassifier {
  const g = new Generator('models-test/perturb');
  for (const p of m.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i]! += 0.05 * (g.random() - 0.5);
  return m;
}

describe('buildModel', () => {
  it('applies the overrides the trainer takes from the data', () => {
    const m = buildModel({ model: 'vit-mnist', overrides: { numChannels: 3, numLabels: 5, id2label: { 0: 'a', 1: 'b', 2: 'c', 3: 'd', 4: 'e' } } });
    expect(m.config).toMatchObject({ numChannels: 3, imageSize: 28, numLabels: 5, hiddenSize: 64 });
    m.eval();
    const out = noGrad(() => m.forward(randn([2, 3, 28, 28], { generator: new Generator('b') })));
    expect(out.shape).toEqual([2, 5]);
  });

  it('converts every encoder and classifier Linear to BitLinear for QAT, or all but the excluded', () => {
    // vit-mnist: 4 layers x (query, key, value, attention output, intermediate, output) + classifier.
    expect(bitLinears(buildModel({ model: 'vit-mnist', bitnet: {} }))).toHaveLength(25);
    const floatHead = buildModel({ model: 'vit-mnist', bitnet: { exclude: ['classifier'] } });
    expect(bitLinears(floatHead)).toHaveLength(24);
    expect(bitLinears(floatHead).some((l) => l.name === 'classifier')).toBe(false);
    expect(bitLinears(buildModel({ model: 'vit-mnist' }))).toHaveLength(0);
  });

  it('gives the same weights for the same seed', () => {
    manualSeed(3);
    const a = buildModel({ model: 'vit-mnist' });
    manualSeed(3);
    const b = buildModel({ model: 'vit-mnist' });
    expect(logits(b)).toEqual(logits(a));
  });

  it('names the preset it does not know', () => {
    expect(() => buildModel({ model: 'vit-enormous' })).toThrow(/unknown preset "vit-enormous"/);
  });
});

describe('saveModel / loadModel', () => {
  it('a float folder reloads to the same logits, bit for bit', async () => {
    const dir = join(temp.dir, 'float');
    const m = perturbed(buildModel({ model: 'vit-mnist' }));
    await saveModel(m, dir);
    expect(isModelFolder(dir)).toBe(true);
    expect(isModelFolder(temp.dir)).toBe(false);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config['quantization_config']).toBeUndefined();
    const back = await loadModel(dir);
    expect(bitLinears(back)).toHaveLength(0);
    expect(logits(back)).toEqual(logits(m));
  });

  it('a DeiT folder reloads as DeiT with its distillation head', async () => {
    const dir = join(temp.dir, 'deit');
    const m = perturbed(buildModel({ model: 'deit-mnist' }));
    await saveModel(m, dir);
    const back = await loadModel(dir);
    expect(back).toBeInstanceOf(DeiTForImageClassificationWithTeacher);
    expect(logits(back)).toEqual(logits(m));
  });

  const variants: Array<[string, ConvertOptions, number]> = [
    ['BitNet b1.58 defaults', {}, 25],
    ['RMSNorm inside, per-channel scales, weights-only, float head', { inputNorm: 'rmsnorm', weightScale: 'channel', activationBits: null, exclude: ['classifier'] }, 24],
    ['LayerNorm inside', { inputNorm: 'layernorm' }, 25],
  ];
  for (const [what, bitnet, layers] of variants) {
    it(`a BitNet latent folder (${what}) reloads with the same layers, options and logits`, async () => {
      const dir = join(temp.dir, `latent-${what.length}`);
      const m = perturbed(buildModel({ model: 'vit-mnist', bitnet }));
      await saveModel(m, dir);
      const qc = (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> }).quantization_config;
      expect(qc).toMatchObject({ quant_method: 'bitnet', format: 'latent', weight_bits: 1.58 });
      expect(qc['modules']).toHaveLength(layers);
      const back = await loadModel(dir);
      const before = bitLinears(m);
      const after = bitLinears(back);
      expect(after.map((l) => l.name)).toEqual(before.map((l) => l.name));
      for (let i = 0; i < after.length; i++) {
        const [a, b] = [before[i]!.module, after[i]!.module];
        expect([b.inputNorm, b.weightScale, b.activationBits], after[i]!.name).toEqual([a.inputNorm, a.weightScale, a.activationBits]);
      }
      // Every tensor (norm weights inside BitLinear included) came back.
      const sa = m.stateDict();
      const sb = back.stateDict();
      expect([...sb.keys()].sort()).toEqual([...sa.keys()].sort());
      for (const [k, t] of sa) expect(sb.get(k)!.data, k).toEqual(t.data);
      expect(logits(back)).toEqual(logits(m));
    });
  }

  it('a packed folder loads as TernaryLinear layers and agrees with the latent model', async () => {
    const dir = join(temp.dir, 'packed');
    manualSeed(1);
    const m = perturbed(buildModel({ model: 'vit-mnist', bitnet: {} }));
    await savePacked(m, dir, { configJson: m.config.toJson() as Record<string, unknown>, scheme: 'i2' });
    const back = await loadModel(dir);
    expect(bitLinears(back)).toHaveLength(0);
    const names = [...back.namedModules()].filter(([, mod]) => mod instanceof TernaryLinear).map(([n]) => n);
    expect(names).toHaveLength(25);
    expect([...back.namedModules()].some(([, mod]) => mod instanceof BitLinear)).toBe(false);
    // The packed kernels add the same integer products in another order: equal to float
    // rounding, except where that rounding moves an activation across an int8 step (then about
    // 1% of the logit scale; not for this seed, but the bound allows it).
    const a = logits(m);
    const b = logits(back);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(0.02 * Math.max(...a.map(Math.abs)));
  });

  it('refuses a quantization_config that is not BitNet, naming config.json', async () => {
    const dir = join(temp.dir, 'bad-qc');
    await saveModel(buildModel({ model: 'vit-mnist' }), dir);
    const path = join(dir, 'config.json');
    const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...config, quantization_config: { quant_method: 'gptq', bits: 4 } }));
    await expect(loadModel(dir)).rejects.toThrow(`${path}: quantization_config.quant_method "gptq" is not "bitnet"`);
    writeFileSync(path, JSON.stringify({ ...config, quantization_config: { quant_method: 'bitnet', format: 'latent', modules: ['vit.nowhere'] } }));
    await expect(loadModel(dir)).rejects.toThrow(/vit\.nowhere/);
  });
});
