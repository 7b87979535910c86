// The study's results, as `pnpm study` writes them to study.json and the report renders them.
// Every figure carries what produced it (command, seed), so RESULTS.md can cite it.

export interface CurvePoint {
  step: number;
  epoch: number;
  loss: number;
  accuracy: number;
  lr: number;
}

export interface Throughput {
  /** images/s at batch 1 and batch 64, forward only. */
  batch1: number;
  batch64: number;
}

export interface QuantError {
  /** Fraction of test images where the quantized and float models predict the same class. */
  top1Agreement: number;
  /** Mean KL(p_float || p_quant) of the softmaxes. */
  meanKL: number;
  logitMSE: number;
}

export interface LayerShare {
  name: string;
  minus: number;
  zero: number;
  plus: number;
}

export interface StudyModel {
  /** e.g. 'vit-fp', 'vit-qat', 'deit-fp', 'deit-qat'. */
  id: string;
  family: 'vit' | 'deit';
  kind: 'float' | 'qat';
  /** The float model it is compared against (its twin), for QAT models. */
  floatTwin?: string;
  teacher?: string;
  preset: string;
  params: number;
  testAccuracy: number;
  testLoss: number;
  trainImagesPerSecond: number;
  trainSeconds: number;
  steps: number;
  epochs: number;
  curve: CurvePoint[];
  /** Storage of the whole model per scheme, bytes (float32, float16, int8, i2, t3, log2(3), entropy). */
  storage: Record<string, number>;
  /** Size of the packed model.safetensors on disk, for QAT models. */
  packedFileBytes?: number;
  /** Inference throughput per execution path: float32, fake-quant BitLinear, packed ternary. */
  throughput: Partial<Record<'float' | 'fakeQuant' | 'packed', Throughput>>;
  /** QAT model vs its float twin on the test set. */
  quantError?: QuantError;
  ternaryShares?: LayerShare[];
  command: string;
  seed: number;
}

export interface PTQResult {
  /** The float model quantized, e.g. 'vit-fp'. */
  base: string;
  /** A short label, e.g. 'twn-refit / channel / sym / all but head / a8 dynamic'. */
  label: string;
  method: string;
  granularity: 'tensor' | 'channel';
  symmetric: boolean;
  /** Which layers: 'all', 'all but classifier', 'all but first and last blocks', 'MLP only', 'attention only'. */
  layers: string;
  activations: 'none' | 'dynamic' | 'static';
  testAccuracy: number;
  quantError: QuantError;
  /** Bytes of the model under the i2 scheme with the float layers float32. */
  storageBytes: number;
  seconds: number;
}

export interface LayerErrors {
  base: string;
  label: string;
  layers: Array<{ name: string; relMSE: number }>;
}

export interface StudyResults {
  meta: {
    command: string;
    seed: number;
    data: string;
    quick: boolean;
    date: string;
    node: string;
    cpus: number;
    budget: { epochs: number; steps: number; batchSize: number };
    seconds: number;
  };
  models: StudyModel[];
  ptq: PTQResult[];
  layerErrors: LayerErrors[];
}
