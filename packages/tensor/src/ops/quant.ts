// Fake quantization primitives (no gradient: quantizers are piecewise constant). BitLinear wraps
// them in the straight-through estimator, x + (q - x).detach(), so gradients pass as identity.
import { Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { kernels } from '../kernels/index.js';
import { shapeStr } from '../shape.js';

export interface AbsmaxQuantized {
  /** The dequantized values q/s, same shape as the input. */
  q: Tensor;
  /** s = qmax / max(max|x|, eps), one per group: shape [groups]. */
  scale: Tensor;
}

/**
 * Symmetric absmax quantization to `bits` bits, per group of the last dim ('token') or over
 * the whole tensor ('tensor'): s = qmax/max(max|x|, eps), q = clip(roundHalfEven(x*s), -qmax-1, qmax) / s.
 * With bits = 8 and per token this is BitNet b1.58's activation quantizer.
 */
export function absmaxQuantize(x: Tensor, opts: { bits?: number; per?: 'token' | 'tensor'; eps?: number } = {}): AbsmaxQuantized {
  const bits = opts.bits ?? 8;
  const qmax = 2 ** (bits - 1) - 1;
  const group = (opts.per ?? 'token') === 'token' ? (x.shape[x.ndim - 1] ?? 1) : x.size;
  return kernels().absmaxQuantize(x, group, qmax, opts.eps ?? 1e-5);
}

/**
 * Ternary quantization with a given scale: clip(roundHalfEven(x / scale), -1, 1) * scale.
 * scale has one value (per tensor) or one per row of the last dim (per output channel, [rows] or [rows, 1]).
 */
export function ternaryQuantize(x: Tensor, scale: Tensor): Tensor {
  const cols = x.shape[x.ndim - 1] ?? 1;
  let group: number;
  if (scale.size === 1) group = x.size;
  else if (scale.size * cols === x.size) group = cols;
  else throw new Error(`ternaryQuantize: scale ${shapeStr(scale.shape)} is neither per tensor nor per row of ${shapeStr(x.shape)}`);
  return kernels().ternaryQuantize(x, scale, group);
}

/**
 * The straight-through estimator as one op: the value of q, the gradient of the identity to x.
 * Same result as x.add(q.sub(x).detach()) (BITNET.md writes it that way) in one pass instead of three.
 */
export function straightThrough(x: Tensor, q: Tensor): Tensor {
  if (x.size !== q.size) throw new Error(`straightThrough: shapes ${shapeStr(x.shape)} and ${shapeStr(q.shape)} differ`);
  const out = new Tensor(q.deviceStorage ?? q.data, x.shape);
  return record('straightThrough', out, [x], (g) => [g]);
}
