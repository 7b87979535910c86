// ViT and DeiT as Hugging Face builds them, module by module and name by name, so that
// `vit.encoder.layer.0.attention.attention.query.weight` means the same tensor here and there.
// Pre-norm encoder layers: h = x + Attn(LN(x)); out = h + MLP(LN(h)).
import { concat, expand, zeros, type Generator, type Tensor, shapeStr } from '@bitvit/tensor';
import {
  Conv2d, Dropout, GELU, LayerNorm, Linear, Module, ModuleList, Parameter, forwardShared, init, multiHeadAttention,
} from '@bitvit/nn';
import type { ViTConfig } from './config.js';

/** A module whose forward maps one tensor to one tensor (every Linear-like layer in the tree). */
export type TensorModule = Module & { forward(x: Tensor): Tensor };

/** 'ViT' or 'DeiT': Hugging Face prefixes its class names with the model family. */
type Family = 'ViT' | 'DeiT';

abstract class Named extends Module {
  constructor(private readonly cls: string) {
    super();
  }

  override get typeName(): string {
    return this.cls;
  }
}

export class PatchEmbeddings extends Named {
  projection: Conv2d;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}PatchEmbeddings`);
    this.projection = this.addModule('projection', new Conv2d(config.numChannels, config.hiddenSize, config.patchSize, { generator: g }));
  }

  /** [B, C, H, W] -> [B, patches, hidden]. */
  forward(pixels: Tensor): Tensor {
    return this.projection.forwardTokens(pixels);
  }
}

/** Patch tokens with the CLS token (and DeiT's distillation token) in front, plus learned positions. */
export class Embeddings extends Named {
  cls_token: Parameter;
  distillation_token: Parameter | null;
  position_embeddings: Parameter;
  patch_embeddings: PatchEmbeddings;
  dropout: Dropout;
  readonly config: ViTConfig;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}Embeddings`);
    this.config = config;
    const d = config.hiddenSize;
    const extraTokens = family === 'DeiT' ? 2 : 1;
    this.cls_token = this.addParameter('cls_token', Parameter.from(zeros([1, 1, d])));
    this.distillation_token = this.addParameter('distillation_token', family === 'DeiT' ? Parameter.from(zeros([1, 1, d])) : null);
    this.position_embeddings = this.addParameter('position_embeddings', Parameter.from(zeros([1, config.numPatches + extraTokens, d])));
    this.patch_embeddings = this.addModule('patch_embeddings', new PatchEmbeddings(family, config, g));
    this.dropout = this.addModule('dropout', new Dropout(config.hiddenDropoutProb, { generator: g }));
  }

  forward(pixels: Tensor): Tensor {
    const c = this.config;
    if (pixels.ndim !== 4 || pixels.shape[1] !== c.numChannels || pixels.shape[2] !== c.imageSize || pixels.shape[3] !== c.imageSize) {
      throw new Error(`${this.typeName}: input ${shapeStr(pixels.shape)} is not [batch, ${c.numChannels}, ${c.imageSize}, ${c.imageSize}]`);
    }
    const b = pixels.shape[0]!;
    const d = c.hiddenSize;
    const patches = this.patch_embeddings.forward(pixels);
    const tokens = [expand(this.cls_token, [b, 1, d])];
    if (this.distillation_token) tokens.push(expand(this.distillation_token, [b, 1, d]));
    tokens.push(patches);
    return this.dropout.forward(concat(tokens, 1).add(this.position_embeddings));
  }
}

export class SelfAttention extends Named {
  query: TensorModule;
  key: TensorModule;
  value: TensorModule;
  dropout: Dropout;
  readonly numHeads: number;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}SelfAttention`);
    const d = config.hiddenSize;
    const bias = config.qkvBias;
    this.numHeads = config.numAttentionHeads;
    this.query = this.addModule('query', new Linear(d, d, { bias, generator: g }));
    this.key = this.addModule('key', new Linear(d, d, { bias, generator: g }));
    this.value = this.addModule('value', new Linear(d, d, { bias, generator: g }));
    this.dropout = this.addModule('dropout', new Dropout(config.attentionProbsDropoutProb, { generator: g }));
  }

  forward(x: Tensor): Tensor {
    // one preparation of x for all three where they allow it (BitLinear: one activation quantizer)
    const [q, k, v] = forwardShared([this.query, this.key, this.value], x) as [Tensor, Tensor, Tensor];
    return multiHeadAttention(q, k, v, this.numHeads, this.dropout);
  }
}

/** The attention's output projection (the residual is added by the layer, as in HF's ViTLayer). */
export class SelfOutput extends Named {
  dense: TensorModule;
  dropout: Dropout;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}SelfOutput`);
    this.dense = this.addModule('dense', new Linear(config.hiddenSize, config.hiddenSize, { generator: g }));
    this.dropout = this.addModule('dropout', new Dropout(config.hiddenDropoutProb, { generator: g }));
  }

  forward(x: Tensor): Tensor {
    return this.dropout.forward(this.dense.forward(x));
  }
}

export class Attention extends Named {
  attention: SelfAttention;
  output: SelfOutput;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}Attention`);
    this.attention = this.addModule('attention', new SelfAttention(family, config, g));
    this.output = this.addModule('output', new SelfOutput(family, config, g));
  }

  forward(x: Tensor): Tensor {
    return this.output.forward(this.attention.forward(x));
  }
}

export class Intermediate extends Named {
  dense: TensorModule;
  intermediate_act_fn: GELU;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}Intermediate`);
    this.dense = this.addModule('dense', new Linear(config.hiddenSize, config.intermediateSize, { generator: g }));
    this.intermediate_act_fn = this.addModule('intermediate_act_fn', new GELU());
  }

  forward(x: Tensor): Tensor {
    return this.intermediate_act_fn.forward(this.dense.forward(x));
  }
}

/** The MLP's down projection plus the residual (HF's ViTOutput adds its input_tensor). */
export class Output extends Named {
  dense: TensorModule;
  dropout: Dropout;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}Output`);
    this.dense = this.addModule('dense', new Linear(config.intermediateSize, config.hiddenSize, { generator: g }));
    this.dropout = this.addModule('dropout', new Dropout(config.hiddenDropoutProb, { generator: g }));
  }

  forward(h: Tensor, residual: Tensor): Tensor {
    return this.dropout.forward(this.dense.forward(h)).add(residual);
  }
}

export class Layer extends Named {
  attention: Attention;
  intermediate: Intermediate;
  output: Output;
  layernorm_before: LayerNorm;
  layernorm_after: LayerNorm;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}Layer`);
    // Registration order is HF's, so the printed tree matches PyTorch's.
    this.attention = this.addModule('attention', new Attention(family, config, g));
    this.intermediate = this.addModule('intermediate', new Intermediate(family, config, g));
    this.output = this.addModule('output', new Output(family, config, g));
    this.layernorm_before = this.addModule('layernorm_before', new LayerNorm(config.hiddenSize, { eps: config.layerNormEps }));
    this.layernorm_after = this.addModule('layernorm_after', new LayerNorm(config.hiddenSize, { eps: config.layerNormEps }));
  }

  forward(x: Tensor): Tensor {
    const h = this.attention.forward(this.layernorm_before.forward(x)).add(x);
    return this.output.forward(this.intermediate.forward(this.layernorm_after.forward(h)), h);
  }
}

export class Encoder extends Named {
  layer: ModuleList<Layer>;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}Encoder`);
    this.layer = this.addModule('layer', new ModuleList<Layer>());
    for (let i = 0; i < config.numHiddenLayers; i++) this.layer.push(new Layer(family, config, g));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const l of this.layer) h = l.forward(h);
    return h;
  }
}

/** Embeddings, encoder and the final LayerNorm: the token sequence [B, tokens, hidden]. */
export class Backbone extends Named {
  embeddings: Embeddings;
  encoder: Encoder;
  layernorm: LayerNorm;

  constructor(family: Family, config: ViTConfig, g?: Generator) {
    super(`${family}Model`);
    this.embeddings = this.addModule('embeddings', new Embeddings(family, config, g));
    this.encoder = this.addModule('encoder', new Encoder(family, config, g));
    this.layernorm = this.addModule('layernorm', new LayerNorm(config.hiddenSize, { eps: config.layerNormEps }));
  }

  forward(pixels: Tensor): Tensor {
    return this.layernorm.forward(this.encoder.forward(this.embeddings.forward(pixels)));
  }
}

/**
 * Hugging Face's init (ViTPreTrainedModel._init_weights): Linear and Conv2d weights and the
 * position/CLS/distillation tokens ~ truncated normal(0, initializer_range), biases 0, LayerNorm 1 and 0.
 */
export function initWeights(model: Module, config: ViTConfig, g?: Generator): void {
  const std = config.initializerRange;
  for (const [name, p] of model.namedParameters()) {
    if (name.endsWith('.bias')) init.zeros_(p);
    else if (/layernorm(_before|_after)?\.weight$/.test(name)) init.ones_(p);
    else init.truncNormal_(p, 0, std, -2, 2, g);
  }
}

export interface ImageClassifier extends Module {
  readonly config: ViTConfig;
  /** Class logits [B, numLabels] (DeiT: the mean of its two heads, as at inference). */
  forward(pixels: Tensor): Tensor;
}

export class ViTForImageClassification extends Module implements ImageClassifier {
  readonly config: ViTConfig;
  vit: Backbone;
  classifier: TensorModule;

  constructor(config: ViTConfig, opts: { generator?: Generator } = {}) {
    super();
    if (config.modelType !== 'vit') throw new Error(`ViTForImageClassification: config has model_type "${config.modelType}"`);
    this.config = config;
    this.vit = this.addModule('vit', new Backbone('ViT', config, opts.generator));
    this.classifier = this.addModule('classifier', new Linear(config.hiddenSize, config.numLabels, { generator: opts.generator }));
    initWeights(this, config, opts.generator);
  }

  forward(pixels: Tensor): Tensor {
    const seq = this.vit.forward(pixels);
    return this.classifier.forward(seq.narrow(1, 0, 1).squeeze(1)); // the CLS token
  }
}

export interface DeiTOutput {
  /** (clsLogits + distillationLogits) / 2, what DeiT predicts with at inference. */
  logits: Tensor;
  clsLogits: Tensor;
  distillationLogits: Tensor;
}

export class DeiTForImageClassificationWithTeacher extends Module implements ImageClassifier {
  readonly config: ViTConfig;
  deit: Backbone;
  cls_classifier: TensorModule;
  distillation_classifier: TensorModule;

  constructor(config: ViTConfig, opts: { generator?: Generator } = {}) {
    super();
    if (config.modelType !== 'deit') throw new Error(`DeiTForImageClassificationWithTeacher: config has model_type "${config.modelType}"`);
    this.config = config;
    this.deit = this.addModule('deit', new Backbone('DeiT', config, opts.generator));
    this.cls_classifier = this.addModule('cls_classifier', new Linear(config.hiddenSize, config.numLabels, { generator: opts.generator }));
    this.distillation_classifier = this.addModule('distillation_classifier', new Linear(config.hiddenSize, config.numLabels, { generator: opts.generator }));
    initWeights(this, config, opts.generator);
  }

  /** Both heads: the CLS head learns from labels, the distillation head from the teacher. */
  forwardHeads(pixels: Tensor): DeiTOutput {
    const seq = this.deit.forward(pixels);
    const clsLogits = this.cls_classifier.forward(seq.narrow(1, 0, 1).squeeze(1));
    const distillationLogits = this.distillation_classifier.forward(seq.narrow(1, 1, 1).squeeze(1));
    return { logits: clsLogits.add(distillationLogits).mul(0.5), clsLogits, distillationLogits };
  }

  forward(pixels: Tensor): Tensor {
    return this.forwardHeads(pixels).logits;
  }
}

/** Build the model a config describes. */
export function createModel(config: ViTConfig, opts: { generator?: Generator } = {}): ViTForImageClassification | DeiTForImageClassificationWithTeacher {
  return config.modelType === 'deit' ? new DeiTForImageClassificationWithTeacher(config, opts) : new ViTForImageClassification(config, opts);
}
