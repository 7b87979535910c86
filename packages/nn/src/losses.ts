// Losses, numerically stable through logSoftmax (log-sum-exp with the max subtracted).
import { Tensor, fromArray, shapeStr, type Shape } from '@bitvit/tensor';

export type Targets = Tensor | Int32Array | readonly number[];

function targetIndex(targets: Targets, batch: number, classes: number, op: string): Tensor {
  const values = targets instanceof Tensor ? targets.data : targets;
  if (values.length !== batch) throw new Error(`${op}: ${values.length} targets for a batch of ${batch}`);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new Error(`${op}: target ${v} at position ${i} is not a class in [0, ${classes})`);
  }
  return fromArray(values, [batch, 1]);
}

function check2d(op: string, logits: Tensor): [number, number] {
  if (logits.ndim !== 2) throw new Error(`${op}: logits must be [batch, classes], got ${shapeStr(logits.shape)}`);
  return [logits.shape[0]!, logits.shape[1]!];
}

/**
 * Cross entropy from logits, mean over the batch (PyTorch's F.cross_entropy). With label
 * smoothing e the target is (1-e) one-hot + e/classes uniform:
 *   loss = (1-e) * -log p[target] + e * mean_c(-log p[c]).
 */
export function crossEntropy(logits: Tensor, targets: Targets, opts: { labelSmoothing?: number } = {}): Tensor {
  const [batch, classes] = check2d('crossEntropy', logits);
  const logp = logits.logSoftmax(-1);
  const nll = logp.gather(1, targetIndex(targets, batch, classes, 'crossEntropy')).neg().mean();
  const e = opts.labelSmoothing ?? 0;
  if (e === 0) return nll;
  const smooth = logp.mean(-1).neg().mean();
  return nll.mul(1 - e).add(smooth.mul(e));
}

/** Mean squared error over all elements. */
export function mseLoss(input: Tensor, target: Tensor): Tensor {
  if (input.size !== target.size) throw new Error(`mseLoss: shapes ${shapeStr(input.shape)} and ${shapeStr(target.shape)} differ`);
  const d = input.sub(target);
  return d.mul(d).mean();
}

/**
 * KL(p || q) for log-probabilities logQ (input) and logP (target), as F.kl_div(logQ, logP,
 * log_target=True, reduction='batchmean'): sum p * (log p - log q) / batch.
 */
export function klDivLogits(logQ: Tensor, logP: Tensor): Tensor {
  const batch = logQ.shape[0] ?? 1;
  return logP.exp().mul(logP.sub(logQ)).sum().div(batch);
}

/**
 * DeiT's soft distillation: KL between the temperature-softened teacher and student
 * distributions, scaled by T^2 so gradients keep their size as T changes (Hinton et al.).
 * DeiT divides by the number of logits; we follow the usual batchmean (document both in README).
 */
export function softDistillationLoss(studentLogits: Tensor, teacherLogits: Tensor, temperature = 3): Tensor {
  if (studentLogits.size !== teacherLogits.size) {
    throw new Error(`softDistillationLoss: student ${shapeStr(studentLogits.shape)} vs teacher ${shapeStr(teacherLogits.shape)}`);
  }
  const t = temperature;
  const logQ = studentLogits.div(t).logSoftmax(-1);
  const logP = teacherLogits.detach().div(t).logSoftmax(-1);
  return klDivLogits(logQ, logP).mul(t * t);
}

/** DeiT's hard distillation: cross entropy against the teacher's argmax. */
export function hardDistillationLoss(studentLogits: Tensor, teacherLogits: Tensor): Tensor {
  const teacherLabels = teacherLogits.detach().argmax(-1);
  return crossEntropy(studentLogits, teacherLabels);
}

/** Fraction of rows whose argmax equals the target. */
export function accuracy(logits: Tensor, targets: Targets): number {
  const [batch] = check2d('accuracy', logits);
  const pred = logits.argmax(-1).data;
  const t = targets instanceof Tensor ? targets.data : targets;
  let right = 0;
  for (let i = 0; i < batch; i++) if (pred[i] === t[i]) right++;
  return batch === 0 ? 0 : right / batch;
}

export type { Shape };
