// Multi-head scaled dot-product attention as one op, on [B, T, heads * d] tensors (the layout
// the query, key and value projections produce and the output projection takes):
//   out[:, :, head h] = softmax(scale * Q_h K_h^T) V_h,   Q_h = q[:, :, h*d:(h+1)*d], ...
// The CPU backend runs the forward as one kernel per head (kernels/wasm/attention.ts) that reads
// the heads in place; elsewhere (the gpu backend, head dims not a multiple of 4) it is the
// composite below: split the heads, matmul, mul, softmax, matmul, merge. Both give the same floats.
//
// Backward, per head, with P the softmax (kept by the forward) and G the output's gradient:
//   dV = P^T G,   dP = G V^T,   dS = P * (dP - rowsum(dP * P)) (softmax's backward),
//   dQ = scale * dS K,   dK = scale * dS^T Q
// again one kernel per head on the CPU (the scale applied to dS, not to the products: the floats
// differ from the composite's in the last bits), else from matmul and softmaxBackward.
import { isGradEnabled, record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { shapeStr } from '../shape.js';
import { kernels } from '../kernels/index.js';

export interface AttentionOptions {
  /** Heads the last dims are split into (q and k: heads * d, v: heads * dv). */
  heads: number;
  /** Multiplies q k^T before the softmax; default 1 / sqrt(d). */
  scale?: number;
}

/** [B, T, heads * d] -> [B, heads, T, d], a contiguous copy. */
function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, dim] = x.shape as [number, number, number];
  return kernels().permute(new Tensor(x.deviceStorage ?? x.data, [b, t, heads, dim / heads]), [0, 2, 1, 3]);
}

/** [B, heads, T, d] -> [B, T, heads * d]. */
function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  const y = kernels().permute(x, [0, 2, 1, 3]);
  return new Tensor(y.deviceStorage ?? y.data, [b, t, h * d]);
}

/** A scalar multiplier as the elementwise ops take it. */
function scaled(x: Tensor, scale: number): Tensor {
  return kernels().binary('mul', x, new Tensor(Float32Array.of(scale), []));
}

/** attention's forward from the backend's matmul, mul and softmax, unfused: what a backend's
 *  fused kernel must equal; out [B, Tq, heads*dv] and the softmax [B, heads, Tq, Tk]. */
export function attentionComposite(q: Tensor, k: Tensor, v: Tensor, heads: number, scale: number): { out: Tensor; probs: Tensor } {
  const K = kernels();
  const probs = K.softmax(scaled(K.matmul(splitHeads(q, heads), splitHeads(k, heads), false, true), scale));
  return { out: mergeHeads(K.matmul(probs, splitHeads(v, heads), false, false)), probs };
}

/**
 * softmax(scale * q k^T) v for each of `heads` heads: q [B, Tq, heads*d], k [B, Tk, heads*d],
 * v [B, Tk, heads*dv] give [B, Tq, heads*dv] (torch's scaled_dot_product_attention with the heads
 * in the last dim instead of their own).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const { heads } = opts;
  const shapes = `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`;
  if (q.ndim !== 3 || k.ndim !== 3 || v.ndim !== 3) throw new Error(`attention: expected [B, T, heads * d] inputs, got ${shapes}`);
  if (!Number.isInteger(heads) || heads < 1) throw new Error(`attention: heads must be a positive integer, got ${heads}`);
  const [b, , dim] = q.shape as [number, number, number];
  if (k.shape[0] !== b || v.shape[0] !== b || k.shape[2] !== dim || v.shape[1] !== k.shape[1]) {
    throw new Error(`attention: ${shapes} do not fit (q and k need the same batch and width, k and v the same length)`);
  }
  if (dim % heads !== 0 || v.shape[2]! % heads !== 0) throw new Error(`attention: ${shapes} do not split into ${heads} heads`);
  const d = dim / heads;
  const scale = Math.fround(opts.scale ?? 1 / Math.sqrt(d));
  const needsGrad = isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  const K = kernels();
  const fused = K.attention?.(q, k, v, heads, scale, needsGrad) ?? null;
  const { out, probs } = fused ?? attentionComposite(q, k, v, heads, scale);
  return record('attention', out, [q, k, v], (g) => {
    const P = probs!;
    const grads = K.attentionBackward?.(q, k, v, P, g, heads, scale) ?? null;
    if (grads) return [q.requiresGrad ? grads.dq : null, k.requiresGrad ? grads.dk : null, v.requiresGrad ? grads.dv : null];
    const gh = splitHeads(g, heads);
    const dS = K.softmaxBackward(P, K.matmul(gh, splitHeads(v, heads), false, true));
    const dq = q.requiresGrad ? mergeHeads(scaled(K.matmul(dS, splitHeads(k, heads), false, false), scale)) : null;
    const dk = k.requiresGrad ? mergeHeads(scaled(K.matmul(dS, splitHeads(q, heads), true, false), scale)) : null;
    const dv = v.requiresGrad ? mergeHeads(K.matmul(P, gh, true, false)) : null;
    return [dq, dk, dv];
  });
}
