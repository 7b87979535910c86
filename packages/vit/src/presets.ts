// Named model sizes: the study's (DeiT-tiny, ViT-small, ViT-base at 224 px, patch 16) and small
// ones for 28x28 and 32x32 inputs that train on two CPU cores in minutes.
import { ViTConfig, type ModelType } from './config.js';

interface Size {
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  imageSize: number;
  patchSize: number;
  numChannels: number;
  numLabels: number;
}

const SIZES: Record<string, Size> = {
  // The study's sizes (ImageNet-style input).
  tiny: { hiddenSize: 192, numHiddenLayers: 12, numAttentionHeads: 3, intermediateSize: 768, imageSize: 224, patchSize: 16, numChannels: 3, numLabels: 1000 },
  small: { hiddenSize: 384, numHiddenLayers: 12, numAttentionHeads: 6, intermediateSize: 1536, imageSize: 224, patchSize: 16, numChannels: 3, numLabels: 1000 },
  base: { hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072, imageSize: 224, patchSize: 16, numChannels: 3, numLabels: 1000 },
  // MNIST (28x28x1): patch 7 gives 16 tokens + CLS; the width/depth the CPU benchmark uses.
  mnist: { hiddenSize: 64, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 128, imageSize: 28, patchSize: 7, numChannels: 1, numLabels: 10 },
  // MNIST with patch 4 (49 tokens): slower, more accurate.
  'mnist-p4': { hiddenSize: 64, numHiddenLayers: 6, numAttentionHeads: 4, intermediateSize: 128, imageSize: 28, patchSize: 4, numChannels: 1, numLabels: 10 },
  // CIFAR-sized input (32x32x3, patch 4: 64 tokens).
  cifar: { hiddenSize: 128, numHiddenLayers: 6, numAttentionHeads: 4, intermediateSize: 256, imageSize: 32, patchSize: 4, numChannels: 3, numLabels: 10 },
  // ViT-tiny's width and depth on 32x32 (patch 4), the training benchmark's larger model.
  'tiny-32': { hiddenSize: 192, numHiddenLayers: 12, numAttentionHeads: 3, intermediateSize: 768, imageSize: 32, patchSize: 4, numChannels: 3, numLabels: 10 },
};

/** Every preset name: `vit-<size>` and `deit-<size>` for each size above. */
export const PRESET_NAMES: string[] = Object.keys(SIZES).flatMap((s) => [`vit-${s}`, `deit-${s}`]);

/** The config of a preset such as 'vit-tiny', 'deit-small' or 'vit-mnist'; overrides win. */
export function presetConfig(name: string, overrides: Partial<ViTConfig> = {}): ViTConfig {
  const m = /^(vit|deit)-(.+)$/.exec(name);
  const size = m ? SIZES[m[2]!] : undefined;
  if (!m || !size) throw new Error(`presetConfig: unknown preset "${name}" (known: ${PRESET_NAMES.join(', ')})`);
  return new ViTConfig({ ...size, modelType: m[1] as ModelType, ...overrides });
}
