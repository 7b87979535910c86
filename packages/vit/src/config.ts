// ViTConfig: the fields and defaults of Hugging Face's ViTConfig / DeiTConfig, read from and
// written to config.json in the same spelling, so a folder moves between here and transformers.

export type ModelType = 'vit' | 'deit';

export interface ViTConfigJson {
  model_type?: string;
  architectures?: string[];
  hidden_size?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  intermediate_size?: number;
  hidden_act?: string;
  hidden_dropout_prob?: number;
  attention_probs_dropout_prob?: number;
  initializer_range?: number;
  layer_norm_eps?: number;
  image_size?: number;
  patch_size?: number;
  num_channels?: number;
  qkv_bias?: boolean;
  encoder_stride?: number;
  num_labels?: number;
  id2label?: Record<string, string>;
  label2id?: Record<string, number>;
  [key: string]: unknown;
}

export class ViTConfig {
  modelType: ModelType = 'vit';
  hiddenSize = 768;
  numHiddenLayers = 12;
  numAttentionHeads = 12;
  intermediateSize = 3072;
  hiddenAct = 'gelu';
  hiddenDropoutProb = 0.0;
  attentionProbsDropoutProb = 0.0;
  initializerRange = 0.02;
  layerNormEps = 1e-12;
  imageSize = 224;
  patchSize = 16;
  numChannels = 3;
  qkvBias = true;
  encoderStride = 16;
  numLabels = 2;
  id2label: Record<string, string> = {};
  /** Fields of config.json this class does not model (quantization_config, torch_dtype, ...), kept for the round trip. */
  extra: Record<string, unknown> = {};

  constructor(init: Partial<Omit<ViTConfig, 'toJson' | 'numPatches' | 'headDim' | 'architecture' | 'validate'>> = {}) {
    Object.assign(this, init);
    if (Object.keys(this.id2label).length === 0) {
      for (let i = 0; i < this.numLabels; i++) this.id2label[String(i)] = `LABEL_${i}`;
    }
    this.validate();
  }

  get numPatches(): number {
    return (this.imageSize / this.patchSize) ** 2;
  }

  get headDim(): number {
    return this.hiddenSize / this.numAttentionHeads;
  }

  /** The Hugging Face class a folder of this config holds. */
  get architecture(): string {
    return this.modelType === 'deit' ? 'DeiTForImageClassificationWithTeacher' : 'ViTForImageClassification';
  }

  validate(): void {
    const bad = (msg: string): never => {
      throw new Error(`ViTConfig: ${msg}`);
    };
    if (this.hiddenSize % this.numAttentionHeads !== 0) bad(`hidden_size ${this.hiddenSize} is not a multiple of num_attention_heads ${this.numAttentionHeads}`);
    if (this.imageSize % this.patchSize !== 0) bad(`image_size ${this.imageSize} is not a multiple of patch_size ${this.patchSize}`);
    if (this.hiddenAct !== 'gelu') bad(`hidden_act "${this.hiddenAct}" is not supported (only "gelu", the exact erf form)`);
    for (const [k, v] of Object.entries({ hiddenSize: this.hiddenSize, numHiddenLayers: this.numHiddenLayers, intermediateSize: this.intermediateSize, numLabels: this.numLabels, numChannels: this.numChannels })) {
      if (!Number.isInteger(v) || v <= 0) bad(`${k} must be a positive integer, got ${v}`);
    }
  }

  /** config.json contents, as transformers writes them. */
  toJson(): ViTConfigJson {
    const label2id: Record<string, number> = {};
    for (const [id, name] of Object.entries(this.id2label)) label2id[name] = Number(id);
    return {
      ...this.extra,
      architectures: [this.architecture],
      model_type: this.modelType,
      hidden_size: this.hiddenSize,
      num_hidden_layers: this.numHiddenLayers,
      num_attention_heads: this.numAttentionHeads,
      intermediate_size: this.intermediateSize,
      hidden_act: this.hiddenAct,
      hidden_dropout_prob: this.hiddenDropoutProb,
      attention_probs_dropout_prob: this.attentionProbsDropoutProb,
      initializer_range: this.initializerRange,
      layer_norm_eps: this.layerNormEps,
      image_size: this.imageSize,
      patch_size: this.patchSize,
      num_channels: this.numChannels,
      qkv_bias: this.qkvBias,
      encoder_stride: this.encoderStride,
      id2label: this.id2label,
      label2id,
    };
  }

  static fromJson(json: ViTConfigJson, source = 'config.json'): ViTConfig {
    const known = new Set([
      'model_type', 'architectures', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size',
      'hidden_act', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'initializer_range', 'layer_norm_eps',
      'image_size', 'patch_size', 'num_channels', 'qkv_bias', 'encoder_stride', 'num_labels', 'id2label', 'label2id',
    ]);
    const modelType = json.model_type ?? 'vit';
    if (modelType !== 'vit' && modelType !== 'deit') throw new Error(`${source}: model_type "${modelType}" is not "vit" or "deit"`);
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) if (!known.has(k)) extra[k] = v;
    const id2label = json.id2label ?? {};
    const numLabels = json.num_labels ?? (Object.keys(id2label).length || 2);
    const num = (k: keyof ViTConfigJson, fallback: number): number => {
      const v = json[k];
      if (v === undefined) return fallback;
      if (typeof v !== 'number') throw new Error(`${source}: ${String(k)} must be a number, got ${JSON.stringify(v)}`);
      return v;
    };
    const d = new ViTConfig();
    return new ViTConfig({
      modelType,
      hiddenSize: num('hidden_size', d.hiddenSize),
      numHiddenLayers: num('num_hidden_layers', d.numHiddenLayers),
      numAttentionHeads: num('num_attention_heads', d.numAttentionHeads),
      intermediateSize: num('intermediate_size', d.intermediateSize),
      hiddenAct: json.hidden_act ?? d.hiddenAct,
      hiddenDropoutProb: num('hidden_dropout_prob', d.hiddenDropoutProb),
      attentionProbsDropoutProb: num('attention_probs_dropout_prob', d.attentionProbsDropoutProb),
      initializerRange: num('initializer_range', d.initializerRange),
      layerNormEps: num('layer_norm_eps', d.layerNormEps),
      imageSize: num('image_size', d.imageSize),
      patchSize: num('patch_size', d.patchSize),
      numChannels: num('num_channels', d.numChannels),
      qkvBias: json.qkv_bias ?? d.qkvBias,
      encoderStride: num('encoder_stride', d.encoderStride),
      numLabels,
      id2label: Object.keys(id2label).length === numLabels ? id2label : {},
      extra,
    });
  }

  clone(overrides: Partial<ViTConfig> = {}): ViTConfig {
    return new ViTConfig({ ...this, id2label: { ...this.id2label }, extra: { ...this.extra }, ...overrides });
  }
}
