// A few AdamW steps of a tiny BitNet b1.58 ViT on one fixed batch, written once for every place
// that compares backends: the browser page (with the bundle's namespaces) and the Node tests
// (with the packages' own). The framework is passed in, so this file imports none of it.
//
// The model: presetConfig('vit-mnist', 1 layer, width 16, 2 heads, MLP 32), every Linear
// converted to BitLinear (ternary weights, int8 activations, straight-through estimator).
// The data: seeded random 28x28 images with labels 0..9. Everything is seeded, so the only
// difference between two runs is the backend that computed them.
import type * as Bitvit from './entry.js';

export type Framework = typeof Bitvit;

export interface TinyRunOptions {
  /** AdamW steps (default 3) */
  steps?: number;
  /** images in the batch (default 8) */
  batch?: number;
  seed?: number;
  lr?: number;
  /** wrap each step in tensor.tidy(), which frees the step's device memory at its end */
  tidy?: boolean;
}

export interface TinyRunResult {
  /** the loss before each step's update */
  losses: number[];
  /** backendInfo() during the run */
  backend: { name: string; description: string; mode: string | null };
  /** wall time of the steps, model construction excluded */
  ms: number;
  /** a few parameter values after the last step (the first 4 of the classifier's latent weights) */
  classifierWeights: number[];
}

/** Trains on whatever backend is selected; builds the model with the same seed every time. */
export function trainTinyBitNet(framework: Framework, options: TinyRunOptions = {}): TinyRunResult {
  const { tensor, nn, vit, bitnet } = framework;
  const steps = options.steps ?? 3;
  const batch = options.batch ?? 8;
  const generator = new tensor.Generator(options.seed ?? 11);
  const config = vit.presetConfig('vit-mnist', { numHiddenLayers: 1, hiddenSize: 16, numAttentionHeads: 2, intermediateSize: 32 });
  const model = new vit.ViTForImageClassification(config, { generator });
  bitnet.convertToBitNet(model);
  model.train();
  const optimizer = new nn.AdamW(model.parameters(), { lr: options.lr ?? 1e-2 });
  const pixels = tensor.randn([batch, 1, 28, 28], { generator });
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const losses: number[] = [];
  const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
  const start = now();
  const step = (): number => {
    optimizer.zeroGrad();
    const loss = nn.crossEntropy(model.forward(pixels), labels);
    loss.backward();
    optimizer.step();
    return loss.item();
  };
  for (let i = 0; i < steps; i++) losses.push(options.tidy ? tensor.tidy(step) : step());
  const ms = now() - start;
  const classifier = model.classifier as unknown as { weight: { data: Float32Array } };
  return { losses, backend: tensor.backendInfo(), ms, classifierWeights: Array.from(classifier.weight.data.subarray(0, 4)) };
}
