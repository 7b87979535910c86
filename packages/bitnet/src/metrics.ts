// Quantization error, as the study defines it: how far the quantized model's outputs are from
// the float model's on the same inputs (BITNET.md section 2). Model level: accuracy of each,
// top-1 agreement, mean KL(p_float || p_quant) of the softmaxes, logit MSE. Layer level: each
// Linear-like layer's output in the quantized model against the same layer's in the float
// model, to find the layers that hurt most (what selective quantization needs).
import type { Tensor } from '@bitvit/tensor';
import { Linear, type Module } from '@bitvit/nn';
import { BitLinear } from './bitlinear.js';
import { defaultForward, inEvalMode, type ForwardFn } from './ptq/calibration.js';
import { QuantizedLinear } from './ptq/quantized-linear.js';

export interface CompareOptions {
  /** How to run a model on a batch; default model.forward(x). It must return logits [batch, classes]. */
  forward?: ForwardFn;
}

export interface ModelComparison {
  /** Top-1 accuracy of each model, over the batches that carry labels (absent when none do). */
  floatAccuracy?: number;
  quantAccuracy?: number;
  /** Share of samples where both models' argmax agree. */
  top1Agreement: number;
  /** KL(p_float || p_quant) in nats, mean over samples. */
  meanKL: number;
  /** Mean over all logits of (quant - float)^2. */
  logitMSE: number;
  samples: number;
}

/** Per-sample statistics of two logit matrices [batch, classes]: KL, agreement, squared error, correct counts. */
export function compareLogits(floatLogits: Tensor, quantLogits: Tensor, labels?: Int32Array): {
  klSum: number; agree: number; sqErr: number; floatCorrect: number; quantCorrect: number; samples: number;
} {
  if (floatLogits.ndim !== 2 || floatLogits.shape.join() !== quantLogits.shape.join()) {
    throw new Error(`compareLogits: logits must be two equal [batch, classes] shapes, got [${floatLogits.shape}] and [${quantLogits.shape}]`);
  }
  const [batch, classes] = floatLogits.shape as [number, number];
  if (labels && labels.length !== batch) throw new Error(`compareLogits: ${labels.length} labels for a batch of ${batch}`);
  const f = floatLogits.data;
  const q = quantLogits.data;
  let klSum = 0, agree = 0, sqErr = 0, floatCorrect = 0, quantCorrect = 0;
  for (let b = 0; b < batch; b++) {
    const fRow = f.subarray(b * classes, (b + 1) * classes);
    const qRow = q.subarray(b * classes, (b + 1) * classes);
    const logPf = logSoftmax64(fRow);
    const logPq = logSoftmax64(qRow);
    // KL(p || q) = sum p (log p - log q); terms with p = 0 contribute 0.
    for (let c = 0; c < classes; c++) {
      const p = Math.exp(logPf[c]!);
      if (p > 0) klSum += p * (logPf[c]! - logPq[c]!);
      const d = qRow[c]! - fRow[c]!;
      sqErr += d * d;
    }
    const fTop = argmax(fRow);
    const qTop = argmax(qRow);
    if (fTop === qTop) agree++;
    if (labels) {
      if (fTop === labels[b]) floatCorrect++;
      if (qTop === labels[b]) quantCorrect++;
    }
  }
  return { klSum, agree, sqErr, floatCorrect, quantCorrect, samples: batch };
}

/** Float and quantized model on the same batches; both in eval mode without gradients. */
export function compareModels(
  floatModel: Module, quantModel: Module,
  batches: ReadonlyArray<{ x: Tensor; labels?: Int32Array }>, opts: CompareOptions = {},
): ModelComparison {
  const forward = opts.forward ?? defaultForward;
  if (batches.length === 0) throw new Error('compareModels: no batches');
  return inEvalMode([floatModel, quantModel], () => {
    let klSum = 0, agree = 0, sqErr = 0, logits = 0, samples = 0;
    let labelled = 0, floatCorrect = 0, quantCorrect = 0;
    for (const { x, labels } of batches) {
      const lf = forward(floatModel, x);
      const lq = forward(quantModel, x);
      const s = compareLogits(lf, lq, labels);
      klSum += s.klSum;
      agree += s.agree;
      sqErr += s.sqErr;
      logits += lf.size;
      samples += s.samples;
      if (labels) {
        labelled += s.samples;
        floatCorrect += s.floatCorrect;
        quantCorrect += s.quantCorrect;
      }
    }
    const out: ModelComparison = { top1Agreement: agree / samples, meanKL: klSum / samples, logitMSE: sqErr / logits, samples };
    if (labelled > 0) {
      out.floatAccuracy = floatCorrect / labelled;
      out.quantAccuracy = quantCorrect / labelled;
    }
    return out;
  });
}

export interface LayerOutputError {
  name: string;
  /** ||yq - yf||^2 / ||yf||^2 over every call of the layer on x. */
  relMSE: number;
  /** <yq, yf> / (||yq|| ||yf||). */
  cosine: number;
}

export interface LayerErrorOptions extends CompareOptions {
  /** Module names to compare; default every Linear, BitLinear and QuantizedLinear of the float model. */
  names?: string[];
}

/** True for the layers layerOutputErrors watches by default. */
export function isLinearLike(m: Module): boolean {
  return m instanceof Linear || m instanceof BitLinear || m instanceof QuantizedLinear;
}

/**
 * Each named layer's output in the quantized model against the float model's, both run on x,
 * in the order the float model first calls them. The quantized model's layer sees the inputs
 * the quantized model gives it, so the error of layer l includes what the layers before it
 * did: it shows where along the network the error grows. The quantized model's module of the
 * same dotted name is watched whatever its class (QuantizedLinear, BitLinear, a packed layer).
 */
export function layerOutputErrors(floatModel: Module, quantModel: Module, x: Tensor, opts: LayerErrorOptions = {}): LayerOutputError[] {
  const forward = opts.forward ?? defaultForward;
  const names = opts.names ?? floatModel.namedModules().filter(([, m]) => isLinearLike(m)).map(([n]) => n);
  return inEvalMode([floatModel, quantModel], () => {
    const floatOut = recordOutputs(floatModel, names, x, forward);
    const quantOut = recordOutputs(quantModel, names, x, forward);
    const out: LayerOutputError[] = [];
    for (const [name, yf] of floatOut.outputs) {
      const yq = quantOut.outputs.get(name);
      if (!yq) continue;
      if (yq.length !== yf.length) throw new Error(`layerOutputErrors: "${name}" gave ${yf.length} float outputs and ${yq.length} quantized ones`);
      let dd = 0, ff = 0, qq = 0, fq = 0;
      for (let i = 0; i < yf.length; i++) {
        const f = yf[i]!;
        const q = yq[i]!;
        dd += (q - f) * (q - f);
        ff += f * f;
        qq += q * q;
        fq += f * q;
      }
      out.push({ name, relMSE: ff > 0 ? dd / ff : dd === 0 ? 0 : Infinity, cosine: ff > 0 && qq > 0 ? fq / Math.sqrt(ff * qq) : ff === qq ? 1 : 0 });
    }
    return out;
  });
}

/** The outputs of the named modules over one forward, concatenated per module, in first-call order. */
function recordOutputs(model: Module, names: readonly string[], x: Tensor, forward: ForwardFn): { outputs: Map<string, Float32Array> } {
  const chunks = new Map<string, Float32Array[]>();
  const byModule = new Map<Module, string>();
  for (const [name, m] of model.namedModules()) if (names.includes(name) && !byModule.has(m)) byModule.set(m, name);
  const handles = [...byModule].map(([m, name]) =>
    m.registerForwardHook((_m, _inputs, y) => {
      let list = chunks.get(name);
      if (!list) chunks.set(name, (list = []));
      list.push(Float32Array.from((y as Tensor).data)); // a copy: a backend may reuse the buffer
    }),
  );
  try {
    forward(model, x);
  } finally {
    for (const h of handles.reverse()) h.remove();
  }
  const outputs = new Map<string, Float32Array>();
  for (const [name, list] of chunks) {
    const all = new Float32Array(list.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of list) {
      all.set(c, at);
      at += c.length;
    }
    outputs.set(name, all);
  }
  return { outputs };
}

export interface LayerSensitivity {
  name: string;
  meanKL: number;
  top1Agreement: number;
}

/**
 * Quantize one layer at a time (makeQuantized([name]) returns a fresh model with only that
 * layer quantized) and measure the output error against the float model on x. Sorted with the
 * most harmful layer (largest mean KL) first.
 */
export function layerSensitivity(
  floatModel: Module, makeQuantized: (names: string[]) => Module, x: Tensor, names: readonly string[], opts: CompareOptions = {},
): LayerSensitivity[] {
  const out = names.map((name) => {
    const c = compareModels(floatModel, makeQuantized([name]), [{ x }], opts);
    return { name, meanKL: c.meanKL, top1Agreement: c.top1Agreement };
  });
  return out.sort((a, b) => b.meanKL - a.meanKL);
}

function logSoftmax64(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  const lse = max + Math.log(s);
  return Float64Array.from(row, (v) => v - lse);
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
