// Model folders in the Hugging Face layout: savePretrained -> fromPretrained round trips, the files
// as transformers writes them, and loads that fail with the file and the tensor named.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, randn, type Tensor } from '@bitvit/tensor';
import { float16BitsToFloat32, float32ToFloat16Bits, readSafetensors, writeSafetensors, type SafeTensor } from '@bitvit/nn';
import {
  DeiTForImageClassificationWithTeacher, ViTConfig, createModel, defaultPreprocessor, fromPretrained, loadConfig, loadPreprocessor, presetConfig,
  savePretrained, type ImageClassifier,
} from '../src/index.js';
import { REF_DIR } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bitvit-vit-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function bits(t: Tensor): Uint32Array {
  return new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
}

function expectSameState(a: ImageClassifier, b: ImageClassifier): void {
  const sa = a.stateDict();
  const sb = b.stateDict();
  expect([...sb.keys()]).toEqual([...sa.keys()]);
  for (const [k, t] of sa) {
    const u = sb.get(k)!;
    expect([...u.shape], k).toEqual([...t.shape]);
    expect(Array.from(bits(u)), k).toEqual(Array.from(bits(t))); // bit-identical, -0 and all
  }
}

async function copyRef(name: string, to: string): Promise<string> {
  const dir = join(tmp, to);
  await cp(join(REF_DIR, name), dir, { recursive: true });
  return dir;
}

/** Rewrite a folder's model.safetensors through fn (drop, add or reshape tensors). */
async function editWeights(dir: string, fn: (m: Map<string, SafeTensor>) => void): Promise<void> {
  const file = join(dir, 'model.safetensors');
  const { tensors, metadata } = await readSafetensors(file);
  fn(tensors);
  await writeSafetensors(file, tensors, metadata);
}

describe('savePretrained -> fromPretrained', () => {
  it.each(['vit-mnist', 'deit-cifar'])('%s: bit-identical tensors, identical logits, same config', async (preset) => {
    const config = presetConfig(preset, { numHiddenLayers: 2 });
    const model = createModel(config, { generator: new Generator(5) });
    const dir = join(tmp, `roundtrip-${preset}`);
    await savePretrained(model, dir);
    const loaded = await fromPretrained(dir);
    expect(loaded.constructor).toBe(model.constructor);
    expect(loaded.config.toJson()).toEqual(config.toJson());
    expectSameState(model, loaded);
    const x = randn([3, config.numChannels, config.imageSize, config.imageSize], { generator: new Generator(6) });
    expect(Array.from(loaded.forward(x).data)).toEqual(Array.from(model.forward(x).data));
  });

  it('a PyTorch-written folder saved again gives back the same model.safetensors, byte for byte', async () => {
    for (const name of ['vit-32', 'deit-28']) {
      const model = await fromPretrained(join(REF_DIR, name));
      const dir = join(tmp, `resave-${name}`);
      await savePretrained(model, dir);
      const ours = await readFile(join(dir, 'model.safetensors'));
      const torchs = await readFile(join(REF_DIR, name, 'model.safetensors'));
      expect(ours.length, name).toBe(torchs.length);
      expect(Buffer.compare(ours, torchs), name).toBe(0);
    }
  });

  it('config.json keeps the fields this package does not model (quantization_config, torch_dtype, ...)', async () => {
    const dir = await copyRef('vit-32', 'unknown-fields');
    const path = join(dir, 'config.json');
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const quantization = { quant_method: 'bitnet', modules_to_not_convert: ['classifier'], linear_class: 'autobitlinear' };
    json.quantization_config = quantization;
    json.problem_type = 'single_label_classification';
    await writeFile(path, JSON.stringify(json));

    const model = await fromPretrained(dir);
    expect(model.config.extra.quantization_config).toEqual(quantization);
    const out = join(tmp, 'unknown-fields-saved');
    await savePretrained(model, out);
    const saved = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    // Every field of the input comes back with its value: the known ones and the unknown ones.
    for (const [k, v] of Object.entries(json)) expect(saved[k], k).toEqual(v);
    expect(saved.quantization_config).toEqual(quantization);
    expect(saved.torch_dtype).toBe('float32');
    expect(saved.transformers_version).toBe('4.46.0');
    expect((await loadConfig(out)).toJson()).toEqual(saved);
  });

  it('writes config.json and preprocessor_config.json as transformers does', async () => {
    const model = createModel(presetConfig('deit-mnist', { numHiddenLayers: 1 }), { generator: new Generator(1) });
    const dir = join(tmp, 'files');
    await savePretrained(model, dir, { preprocessor: defaultPreprocessor(model.config, { mean: [0.1307], std: [0.3081] }) });
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      architectures: ['DeiTForImageClassificationWithTeacher'], model_type: 'deit', hidden_size: 64, num_hidden_layers: 1,
      num_attention_heads: 4, intermediate_size: 128, hidden_act: 'gelu', layer_norm_eps: 1e-12, image_size: 28, patch_size: 7,
      num_channels: 1, qkv_bias: true, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, initializer_range: 0.02,
    });
    expect(Object.keys(config.id2label as object).length).toBe(10);
    expect((config.label2id as Record<string, number>).LABEL_3).toBe(3);
    const pre = await loadPreprocessor(dir);
    expect(pre).toEqual({
      image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: 28, width: 28 }, resample: 2,
      do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [0.1307], image_std: [0.3081],
    });
    const { tensors, metadata } = await readSafetensors(join(dir, 'model.safetensors'));
    expect(metadata.format).toBe('pt');
    expect([...tensors.keys()].sort()).toEqual([...model.stateDict().keys()].sort());
    expect([...tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    expect(tensors.has('deit.embeddings.distillation_token')).toBe(true);
  });

  it('a folder without preprocessor_config.json gets ViTImageProcessor defaults for its config', async () => {
    const pre = await loadPreprocessor(join(REF_DIR, 'vit-32'));
    expect(pre.size).toEqual({ height: 32, width: 32 });
    expect(pre.image_mean).toEqual([0.5, 0.5, 0.5]);
    expect(pre.image_std).toEqual([0.5, 0.5, 0.5]);
  });

  it('labels survive the round trip', async () => {
    const config = presetConfig('vit-mnist', { numHiddenLayers: 1, id2label: Object.fromEntries([...Array(10).keys()].map((i) => [String(i), `digit ${i}`])) });
    const dir = join(tmp, 'labels');
    await savePretrained(createModel(config), dir);
    const loaded = await loadConfig(dir);
    expect(loaded.id2label['7']).toBe('digit 7');
    expect(loaded.numLabels).toBe(10);
  });

  it('F16 weights (a half-precision checkpoint) load as their float32 values', async () => {
    const dir = await copyRef('vit-28', 'f16');
    const original = await readSafetensors(join(dir, 'model.safetensors'));
    await editWeights(dir, (m) => {
      for (const [k, t] of m) m.set(k, { ...t, dtype: 'F16' });
    });
    const model = await fromPretrained(dir);
    const w = model.stateDict().get('vit.encoder.layer.1.output.dense.weight')!;
    const src = original.tensors.get('vit.encoder.layer.1.output.dense.weight')!.data as Float32Array;
    for (let i = 0; i < w.size; i++) expect(w.data[i]).toBe(float16BitsToFloat32(float32ToFloat16Bits(src[i]!)));
  });
});

describe('fromPretrained at another image size', () => {
  it('DeiT keeps both prefix tokens and resizes the 4x4 grid to 6x6 for 42 px', async () => {
    const model = (await fromPretrained(join(REF_DIR, 'deit-28'), { imageSize: 42 })) as DeiTForImageClassificationWithTeacher;
    const pos = model.deit.embeddings.position_embeddings;
    expect([...pos.shape]).toEqual([1, 2 + 36, 32]);
    const original = (await fromPretrained(join(REF_DIR, 'deit-28'))) as DeiTForImageClassificationWithTeacher;
    expect(Array.from(pos.data.subarray(0, 64))).toEqual(Array.from(original.deit.embeddings.position_embeddings.data.subarray(0, 64)));
    const { logits, clsLogits } = model.forwardHeads(randn([2, 1, 42, 42], { generator: new Generator(1) }));
    expect([...logits.shape]).toEqual([2, 10]);
    expect([...clsLogits.shape]).toEqual([2, 10]);
  });

  it('a size that is not a multiple of the patch fails in the config', async () => {
    await expect(fromPretrained(join(REF_DIR, 'vit-28'), { imageSize: 30 })).rejects.toThrow('image_size 30 is not a multiple of patch_size 7');
  });
});

describe('loading a bad folder names the file and the tensor', () => {
  it('a missing tensor', async () => {
    const dir = await copyRef('vit-28', 'missing');
    await editWeights(dir, (m) => m.delete('vit.encoder.layer.1.attention.attention.value.weight'));
    await expect(fromPretrained(dir)).rejects.toThrow(
      `${join(dir, 'model.safetensors')}: loadStateDict: missing keys: vit.encoder.layer.1.attention.attention.value.weight`,
    );
    // strict: false loads the rest.
    const model = await fromPretrained(dir, { strict: false });
    expect(model.stateDict().get('vit.layernorm.weight')!.data[0]).not.toBe(1);
  });

  it('a tensor of the wrong shape', async () => {
    const dir = await copyRef('vit-28', 'shape');
    await editWeights(dir, (m) => {
      const t = m.get('vit.encoder.layer.0.intermediate.dense.weight')!;
      m.set('vit.encoder.layer.0.intermediate.dense.weight', { dtype: 'F32', shape: [32, 64], data: t.data });
    });
    const err = fromPretrained(dir);
    await expect(err).rejects.toThrow(/model\.safetensors: loadStateDict: shape mismatch for vit\.encoder\.layer\.0\.intermediate\.dense\.weight: checkpoint \[32,64\] vs model \[64,32\]/);
    // strict: false does not excuse a wrong shape.
    await expect(fromPretrained(dir, { strict: false })).rejects.toThrow(/intermediate\.dense\.weight/);
  });

  it('an unexpected tensor (for instance a pooler the classifier does not have)', async () => {
    const dir = await copyRef('vit-28', 'unexpected');
    await editWeights(dir, (m) => m.set('vit.pooler.dense.weight', { dtype: 'F32', shape: [32, 32], data: new Float32Array(1024) }));
    await expect(fromPretrained(dir)).rejects.toThrow(/unexpected keys: vit\.pooler\.dense\.weight/);
    expect((await fromPretrained(dir, { strict: false })).config.hiddenSize).toBe(32);
  });

  it('a config for the other family: DeiT names in a ViT folder', async () => {
    const dir = await copyRef('deit-28', 'family');
    const path = join(dir, 'config.json');
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...json, model_type: 'vit' }));
    await expect(fromPretrained(dir)).rejects.toThrow(/missing keys: vit\.embeddings\.cls_token, .*unexpected keys: .*deit\.embeddings\.distillation_token/);
  });

  it('config.json missing, not JSON, of another model type or with a wrong field type', async () => {
    const dir = await copyRef('vit-28', 'config');
    const path = join(dir, 'config.json');
    await rm(path);
    await expect(fromPretrained(dir)).rejects.toThrow(`${path}: cannot read`);
    await writeFile(path, '{"model_type": "vit",');
    await expect(fromPretrained(dir)).rejects.toThrow(`${path}: not valid JSON`);
    await writeFile(path, JSON.stringify({ model_type: 'bert' }));
    await expect(fromPretrained(dir)).rejects.toThrow(`${path}: model_type "bert" is not "vit" or "deit"`);
    await writeFile(path, JSON.stringify({ model_type: 'vit', hidden_size: '32' }));
    await expect(fromPretrained(dir)).rejects.toThrow(`${path}: hidden_size must be a number, got "32"`);
  });

  it('no model.safetensors', async () => {
    const dir = await copyRef('vit-28', 'noweights');
    await rm(join(dir, 'model.safetensors'));
    await expect(fromPretrained(dir)).rejects.toThrow(`${dir}: no model.safetensors`);
  });
});

describe('ViTConfig <-> config.json', () => {
  it("defaults are Hugging Face's ViTConfig() defaults", () => {
    const c = new ViTConfig();
    expect(c.toJson()).toMatchObject({
      hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, hidden_act: 'gelu',
      hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, initializer_range: 0.02, layer_norm_eps: 1e-12,
      image_size: 224, patch_size: 16, num_channels: 3, qkv_bias: true, encoder_stride: 16, model_type: 'vit',
    });
    expect(c.numLabels).toBe(2);
    expect(c.id2label).toEqual({ 0: 'LABEL_0', 1: 'LABEL_1' });
  });

  it('fromJson(toJson()) is the identity, and an empty config.json gives the defaults', () => {
    const c = presetConfig('deit-cifar', { qkvBias: false, layerNormEps: 1e-6, hiddenDropoutProb: 0.1, extra: { torch_dtype: 'float32' } });
    expect(ViTConfig.fromJson(c.toJson()).toJson()).toEqual(c.toJson());
    expect(ViTConfig.fromJson({}).toJson()).toEqual(new ViTConfig().toJson());
  });

  it('num_labels comes from id2label when absent (transformers does not write it)', async () => {
    const c = await loadConfig(join(REF_DIR, 'vit-32'));
    expect(c.numLabels).toBe(5);
    expect(c.id2label['4']).toBe('class_4');
    expect(c.qkvBias).toBe(false);
    expect(c.layerNormEps).toBe(1e-6);
    expect(ViTConfig.fromJson({ num_labels: 3 }).id2label).toEqual({ 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
  });
});
