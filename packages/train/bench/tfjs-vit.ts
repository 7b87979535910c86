// The benchmark's ViT written with tfjs ops (@tensorflow/tfjs-core 4.22), the same model as
// @bitvit/vit builds from a ViTConfig: patch embedding as a matmul over unfolded patches, CLS token,
// position embeddings, pre-norm layers (LayerNorm, query/key/value/output, LayerNorm, exact-GELU
// MLP), final LayerNorm, classifier on the CLS token. Optionally BitNet b1.58 QAT: every dense
// layer (not the patch embedding) sees absmean-ternary weights and per-token absmax int8
// activations through a straight-through estimator (BITNET.md section 1).
//
// Layout is tfjs's own (what tf.layers.dense does): activations flattened to [B*T, D] and dense
// weights stored [in, out], so each dense layer is one plain matMul. Training is what a tfjs user
// writes: optimizer.minimize over the variables with tf.train.adam (tfjs has no AdamW; the
// weight decay's cost is one elementwise pass per parameter, small against the rest).
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients (the @tensorflow/tfjs bundle does this import).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import type { ViTConfig } from '@bitvit/vit';

export type TfModelConfig = Pick<
  ViTConfig,
  'hiddenSize' | 'numHiddenLayers' | 'numAttentionHeads' | 'intermediateSize' | 'imageSize' | 'patchSize' | 'numChannels' | 'numLabels' | 'layerNormEps'
>;

interface Dense {
  weight: tf.Variable; // [in, out]
  bias: tf.Variable; // [out]
}

interface Norm {
  weight: tf.Variable;
  bias: tf.Variable;
}

interface Layer {
  layernormBefore: Norm;
  query: Dense;
  key: Dense;
  value: Dense;
  output: Dense;
  layernormAfter: Norm;
  intermediate: Dense;
  mlpOutput: Dense;
}

// The straight-through estimator: the forward value is the quantizer's, the gradient the
// identity's. tfjs has no stopGradient, so customGrad says it directly; the quantizer's own ops
// run inside customGrad's forward and are not taped.
const straightThrough = (quantize: (x: tf.Tensor) => tf.Tensor): ((x: tf.Tensor) => tf.Tensor) =>
  tf.customGrad((x, _save) => ({ value: quantize(x as tf.Tensor), gradFunc: (dy) => dy })) as (x: tf.Tensor) => tf.Tensor;

// absmean per tensor: gamma = max(mean|W|, 1e-5), Wq = clip(round(W/gamma), -1, 1) * gamma.
// tf.round rounds half to even (banker's rounding), like torch.round.
const weightQuant = straightThrough((w) => {
  const gamma = tf.maximum(tf.mean(tf.abs(w)), 1e-5);
  return tf.mul(tf.clipByValue(tf.round(tf.div(w, gamma)), -1, 1), gamma);
});

// absmax per token (row) to 8 bits: s = 127 / max(max|x|, 1e-5), xq = clip(round(x*s), -128, 127) / s.
const activationQuant = straightThrough((x) => {
  const scale = tf.div(127, tf.maximum(tf.max(tf.abs(x), -1, true), 1e-5));
  return tf.div(tf.clipByValue(tf.round(tf.mul(x, scale)), -128, 127), scale);
});

/** What tfjs-server.ts puts before each answer line (tfjs writes banners of its own to stdout). */
export const TFJS_ANSWER_PREFIX = '@@tfjs ';

export class TfViT {
  readonly config: TfModelConfig;
  readonly qat: boolean;
  readonly variables: tf.Variable[] = [];
  private readonly patchEmbedding: Dense;
  private readonly clsToken: tf.Variable;
  private readonly positionEmbeddings: tf.Variable;
  private readonly layers: Layer[] = [];
  private readonly layernorm: Norm;
  private readonly classifier: Dense;
  private seed = 1; // tfjs treats seed 0 as "no seed" (Math.random)

  /** Builds the variables on the active backend (Hugging Face's init: trunc normal 0.02, biases 0, norms 1). */
  constructor(config: TfModelConfig, qat: boolean) {
    this.config = config;
    this.qat = qat;
    const d = config.hiddenSize;
    const patch = config.numChannels * config.patchSize * config.patchSize;
    const tokens = (config.imageSize / config.patchSize) ** 2 + 1;
    this.patchEmbedding = this.dense(patch, d);
    this.clsToken = this.variable(tf.truncatedNormal([1, 1, d], 0, 0.02, 'float32', this.seed++));
    this.positionEmbeddings = this.variable(tf.truncatedNormal([1, tokens, d], 0, 0.02, 'float32', this.seed++));
    for (let i = 0; i < config.numHiddenLayers; i++) {
      this.layers.push({
        layernormBefore: this.norm(d),
        query: this.dense(d, d),
        key: this.dense(d, d),
        value: this.dense(d, d),
        output: this.dense(d, d),
        layernormAfter: this.norm(d),
        intermediate: this.dense(d, config.intermediateSize),
        mlpOutput: this.dense(config.intermediateSize, d),
      });
    }
    this.layernorm = this.norm(d);
    this.classifier = this.dense(d, config.numLabels);
  }

  /**
   * Copies weights from @bitvit/vit's parameters (Hugging Face names, PyTorch layouts: Linear
   * [out, in], conv [out, C, p, p]), so a check can hold both models to the same logits.
   */
  loadHuggingFaceWeights(params: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>): void {
    const get = (name: string): { data: Float32Array; shape: readonly number[] } => {
      const p = params.get(name);
      if (!p) throw new Error(`TfViT.loadHuggingFaceWeights: no parameter "${name}"`);
      return p;
    };
    // [out, ...in] -> [in, out]: the conv's (channel, row, column) order is the unfold's.
    const setDense = (dense: Dense, prefix: string): void => {
      const w = get(`${prefix}.weight`);
      const out = w.shape[0]!;
      tf.tidy(() => dense.weight.assign(tf.transpose(tf.tensor2d(w.data, [out, w.data.length / out]))));
      tf.tidy(() => dense.bias.assign(tf.tensor(get(`${prefix}.bias`).data, dense.bias.shape)));
    };
    const setVar = (v: tf.Variable, name: string): void => tf.tidy(() => v.assign(tf.tensor(get(name).data, v.shape)));
    const setNorm = (norm: Norm, prefix: string): void => {
      setVar(norm.weight, `${prefix}.weight`);
      setVar(norm.bias, `${prefix}.bias`);
    };
    setDense(this.patchEmbedding, 'vit.embeddings.patch_embeddings.projection');
    setVar(this.clsToken, 'vit.embeddings.cls_token');
    setVar(this.positionEmbeddings, 'vit.embeddings.position_embeddings');
    this.layers.forEach((layer, i) => {
      const pre = `vit.encoder.layer.${i}`;
      setNorm(layer.layernormBefore, `${pre}.layernorm_before`);
      setDense(layer.query, `${pre}.attention.attention.query`);
      setDense(layer.key, `${pre}.attention.attention.key`);
      setDense(layer.value, `${pre}.attention.attention.value`);
      setDense(layer.output, `${pre}.attention.output.dense`);
      setNorm(layer.layernormAfter, `${pre}.layernorm_after`);
      setDense(layer.intermediate, `${pre}.intermediate.dense`);
      setDense(layer.mlpOutput, `${pre}.output.dense`);
    });
    setNorm(this.layernorm, 'vit.layernorm');
    setDense(this.classifier, 'classifier');
  }

  numParameters(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }

  /** Class logits [B, numLabels] for pixels [B, C, H, W]. */
  forward(pixels: tf.Tensor4D): tf.Tensor2D {
    const c = this.config;
    const [b] = pixels.shape;
    const d = c.hiddenSize;
    const p = c.patchSize;
    const side = c.imageSize / p;
    const tokens = side * side + 1;
    // Unfold: [B, C, H, W] -> [B, side, side, C, p, p] -> [B*patches, C*p*p], one row per patch in
    // the conv's (channel, row, column) weight order; the conv is then one matmul.
    const grid = tf.transpose(tf.reshape(pixels, [b, c.numChannels, side, p, side, p]), [0, 2, 4, 1, 3, 5]);
    const unfolded = tf.reshape(grid, [b * side * side, c.numChannels * p * p]) as tf.Tensor2D;
    const patches = tf.reshape(tf.add(tf.matMul(unfolded, this.patchEmbedding.weight), this.patchEmbedding.bias), [b, side * side, d]);
    const cls = tf.tile(this.clsToken, [b, 1, 1]);
    let x = tf.reshape(tf.add(tf.concat([cls, patches], 1), this.positionEmbeddings), [b * tokens, d]) as tf.Tensor2D;
    for (const layer of this.layers) {
      x = tf.add(x, this.attention(this.layerNorm(x, layer.layernormBefore), layer, b, tokens));
      const h = this.gelu(this.linear(this.layerNorm(x, layer.layernormAfter), layer.intermediate));
      x = tf.add(x, this.linear(h, layer.mlpOutput));
    }
    const normed = tf.reshape(this.layerNorm(x, this.layernorm), [b, tokens, d]);
    const clsOut = tf.reshape(tf.slice(normed, [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D;
    return this.linear(clsOut, this.classifier);
  }

  /** Mean cross entropy against one-hot labels [B, numLabels]. */
  loss(pixels: tf.Tensor4D, oneHot: tf.Tensor2D): tf.Scalar {
    return tf.losses.softmaxCrossEntropy(oneHot, this.forward(pixels)) as tf.Scalar;
  }

  private attention(x: tf.Tensor2D, layer: Layer, b: number, tokens: number): tf.Tensor2D {
    const d = this.config.hiddenSize;
    const heads = this.config.numAttentionHeads;
    const dh = d / heads;
    // [B*T, D] -> [B, heads, T, dh]
    const split = (y: tf.Tensor2D): tf.Tensor4D => tf.transpose(tf.reshape(y, [b, tokens, heads, dh]), [0, 2, 1, 3]);
    const q = split(this.linear(x, layer.query));
    const k = split(this.linear(x, layer.key));
    const v = split(this.linear(x, layer.value));
    const probs = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
    const context = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [b * tokens, d]) as tf.Tensor2D;
    return this.linear(context, layer.output);
  }

  private linear(x: tf.Tensor2D, dense: Dense): tf.Tensor2D {
    const input = this.qat ? activationQuant(x) : x;
    const weight = this.qat ? weightQuant(dense.weight) : dense.weight;
    return tf.add(tf.matMul(input, weight), dense.bias);
  }

  private layerNorm(x: tf.Tensor2D, norm: Norm): tf.Tensor2D {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.config.layerNormEps)));
    return tf.add(tf.mul(normed, norm.weight), norm.bias);
  }

  /** The exact GELU: x/2 * (1 + erf(x/sqrt2)), as Hugging Face's "gelu". */
  private gelu(x: tf.Tensor2D): tf.Tensor2D {
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  }

  private variable(t: tf.Tensor): tf.Variable {
    const v = tf.variable(t);
    t.dispose();
    this.variables.push(v);
    return v;
  }

  private dense(inFeatures: number, outFeatures: number): Dense {
    return {
      weight: this.variable(tf.truncatedNormal([inFeatures, outFeatures], 0, 0.02, 'float32', this.seed++)),
      bias: this.variable(tf.zeros([outFeatures])),
    };
  }

  private norm(d: number): Norm {
    return { weight: this.variable(tf.ones([d])), bias: this.variable(tf.zeros([d])) };
  }
}

/**
 * A TfViT with tf.train.adam and a fixed random batch on one tfjs backend: step() trains once.
 * With microBatches > 1 the batch's gradient is summed over that many slices before the one
 * Adam update (gradient accumulation): the same update as the whole batch at once, for models
 * whose taped activations would not fit - tfjs-backend-wasm is a 32-bit WebAssembly heap (4 GiB),
 * and vit-tiny-32 at batch 64 needs about 6 GiB there (~95 MiB per image measured with tf.profile).
 */
export class TfTrainer {
  readonly backend: string;
  readonly model: TfViT;
  readonly microBatches: number;
  private readonly optimizer: tf.Optimizer;
  private readonly slices: Array<{ pixels: tf.Tensor4D; oneHot: tf.Tensor2D }> = [];

  /** Switches tfjs to `backend` and builds everything there. */
  static async create(backend: string, config: TfModelConfig, batch: number, qat: boolean, microBatches = 1): Promise<TfTrainer> {
    if (!(await tf.setBackend(backend))) throw new Error(`TfTrainer: tfjs backend "${backend}" did not initialise`);
    if (!Number.isInteger(microBatches) || microBatches < 1 || batch % microBatches !== 0) {
      throw new Error(`TfTrainer: batch ${batch} does not split into ${microBatches} equal micro-batches`);
    }
    return new TfTrainer(backend, config, batch, qat, microBatches);
  }

  private constructor(backend: string, config: TfModelConfig, batch: number, qat: boolean, microBatches: number) {
    this.backend = backend;
    this.microBatches = microBatches;
    this.model = new TfViT(config, qat);
    this.optimizer = tf.train.adam(1e-3);
    const size = batch / microBatches;
    tf.tidy(() => {
      const pixels = tf.randomNormal([batch, config.numChannels, config.imageSize, config.imageSize], 0, 1, 'float32', 1);
      const oneHot = tf.oneHot(tf.randomUniform([batch], 0, config.numLabels, 'int32', 2) as tf.Tensor1D, config.numLabels);
      for (let i = 0; i < microBatches; i++) {
        this.slices.push({
          pixels: tf.keep(tf.slice(pixels, [i * size, 0, 0, 0], [size, -1, -1, -1])) as tf.Tensor4D,
          oneHot: tf.keep(tf.cast(tf.slice(oneHot, [i * size, 0], [size, -1]), 'float32')) as tf.Tensor2D,
        });
      }
    });
  }

  /** Makes this trainer's backend the active one (call before step() when several trainers take turns). */
  async activate(): Promise<void> {
    if (tf.getBackend() !== this.backend) await tf.setBackend(this.backend);
  }

  /**
   * One forward + backward + Adam step on the active backend; returns the loss. This is what
   * optimizer.minimize does (variableGrads, then applyGradients), with the gradient summed over
   * the micro-batches and averaged.
   */
  step(): number {
    if (tf.getBackend() !== this.backend) throw new Error(`TfTrainer.step: built on "${this.backend}", but tfjs is on "${tf.getBackend()}"; call activate() first`);
    let total: tf.NamedTensorMap | null = null;
    let lossSum = 0;
    for (const { pixels, oneHot } of this.slices) {
      const { value, grads } = tf.variableGrads(() => this.model.loss(pixels, oneHot), this.model.variables);
      lossSum += value.dataSync()[0]!;
      value.dispose();
      if (!total) total = grads;
      else {
        for (const name of Object.keys(grads)) {
          const sum = tf.add(total[name]!, grads[name]!);
          tf.dispose([total[name]!, grads[name]!]);
          total[name] = sum;
        }
      }
    }
    const n = this.microBatches;
    const mean: tf.NamedTensorMap = n === 1 ? total! : tf.tidy(() => Object.fromEntries(Object.entries(total!).map(([k, g]) => [k, tf.div(g, n)])));
    this.optimizer.applyGradients(mean);
    tf.dispose(Object.values(total!));
    if (mean !== total) tf.dispose(Object.values(mean));
    return lossSum / n;
  }

  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
    for (const { pixels, oneHot } of this.slices) tf.dispose([pixels, oneHot]);
  }
}
