// Building, loading and saving the models the trainer works on: a vit preset or a model folder,
// optionally converted to BitNet (QAT). A BitNet folder records its BitLinear layers in
// config.json's quantization_config, so loading rebuilds the same model.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Generator } from '@bitvit/tensor';
import {
  ViTConfig, createModel, fromPretrained, loadConfig, presetConfig, safetensorsToTensors, savePretrained, type ImageClassifier, type PreprocessorConfig,
} from '@bitvit/vit';
import { readSafetensors } from '@bitvit/nn';
import {
  applyQuantConfig, bitLinears, bitnetQuantConfig, convertToBitNet, loadPacked, parseQuantConfig, type ConvertOptions,
} from '@bitvit/bitnet';

export interface ModelSpec {
  /** A preset name ('vit-mnist', 'deit-tiny', ...) or a model folder. */
  model: string;
  /** Overrides applied to the preset's config (image size, channels and labels from the data). */
  overrides?: Partial<ViTConfig>;
  /** Convert to BitNet with these options (QAT); undefined keeps it float. */
  bitnet?: ConvertOptions;
  generator?: Generator;
}

export function isModelFolder(path: string): boolean {
  return existsSync(join(path, 'config.json'));
}

/** A fresh model from a preset, converted to BitNet when asked. */
export function buildModel(spec: ModelSpec): ImageClassifier {
  const config = presetConfig(spec.model, spec.overrides);
  const model = createModel(config, { generator: spec.generator });
  if (spec.bitnet) convertToBitNet(model, spec.bitnet);
  return model;
}

/**
 * Load a model folder: float, BitNet latent (re-converted from quantization_config) or packed
 * ternary (TernaryLinear layers, inference only).
 */
export async function loadModel(dir: string): Promise<ImageClassifier> {
  const config = await loadConfig(dir);
  const qc = parseQuantConfig(config.extra['quantization_config'], join(dir, 'config.json'));
  if (qc?.format === 'packed') return (await loadPacked(dir, (json) => createModel(ViTConfig.fromJson(json)))) as ImageClassifier;
  if (!qc) return fromPretrained(dir);
  // A latent BitNet folder: build the float model, convert the recorded layers, then load the
  // weights into it directly (not through a float model: BitLinear's input norms have tensors
  // that a float ViT has no place for).
  const model = createModel(config.clone({ extra: {} }));
  applyQuantConfig(model, qc);
  const file = join(dir, 'model.safetensors');
  const state = safetensorsToTensors((await readSafetensors(file)).tensors, file);
  try {
    model.loadStateDict(state);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  (model as { config: ViTConfig }).config.extra = config.extra;
  return model;
}

/** Save a model folder; BitNet models get their quantization_config (latent format). */
export async function saveModel(model: ImageClassifier, dir: string, preprocessor?: PreprocessorConfig): Promise<void> {
  if (bitLinears(model).length > 0) model.config.extra['quantization_config'] = bitnetQuantConfig(model, 'latent');
  await savePretrained(model, dir, { preprocessor });
}

