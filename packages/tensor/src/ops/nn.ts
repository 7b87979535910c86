// The fused ops neural networks lean on: softmax, logSoftmax and layerNorm over the last dim,
// each one kernel forward and one backward (composites would take many passes and lose precision).
import { record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { normalizeDim, shapeStr } from '../shape.js';
import { kernels } from '../kernels/index.js';
import { transpose } from './shape.js';

/** Run a last-dim op on any dim by moving that dim last and back. */
function alongDim(name: string, x: Tensor, dim: number, op: (t: Tensor) => Tensor): Tensor {
  const d = normalizeDim(name, dim, Math.max(x.ndim, 1));
  if (x.ndim === 0 || d === x.ndim - 1) return op(x);
  return transpose(op(transpose(x, d, -1)), d, -1);
}

// softmax: dx = y * (g - sum(g*y)).
export function softmax(x: Tensor, dim = -1): Tensor {
  return alongDim('softmax', x, dim, (t) => {
    const y = kernels().softmax(t);
    return record('softmax', y, [t], (g) => [kernels().softmaxBackward(y, g)]);
  });
}

// logSoftmax: dx = g - softmax(x) * sum(g).
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return alongDim('logSoftmax', x, dim, (t) => {
    const y = kernels().logSoftmax(t);
    return record('logSoftmax', y, [t], (g) => [kernels().logSoftmaxBackward(y, g)]);
  });
}

/** LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias, the biased variance as PyTorch. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const n = x.shape[x.ndim - 1];
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== n)) {
      throw new Error(`layerNorm: ${name} ${shapeStr(p.shape)} does not match the last dim of input ${shapeStr(x.shape)}`);
    }
  }
  const { y, mean, rstd } = kernels().layerNorm(x, weight, bias, eps);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return record('layerNorm', y, inputs, (g) => {
    const { dx, dweight, dbias } = kernels().layerNormBackward(x, weight, mean, rstd, g);
    const out: Array<Tensor | null> = [dx];
    if (weight) out.push(dweight);
    if (bias) out.push(dbias);
    return out;
  });
}
