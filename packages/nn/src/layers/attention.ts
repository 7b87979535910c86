// Multi-head self-attention with separate query, key and value projections (as Hugging Face ViT),
// and the scaled dot-product attention it is built on.
import { attention, matmul, shapeStr, type Generator, type Tensor } from '@bitvit/tensor';
import { Module } from '../module.js';
import { Linear } from './linear.js';
import { forwardShared } from './shared-input.js';
import { Dropout } from './basic.js';

/**
 * softmax(q k^T / sqrt(d)) v over [..., T, d] inputs. q @ k^T uses the transposed matmul, so
 * k is never copied into a transposed layout. An optional dropout module drops attention weights.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, dropout?: Dropout): Tensor {
  const d = q.shape[q.ndim - 1]!;
  const scores = matmul(q, k, { transB: true }).mul(1 / Math.sqrt(d));
  let probs = scores.softmax(-1);
  if (dropout) probs = dropout.forward(probs);
  return matmul(probs, v);
}

/** [B, T, D] -> [B, heads, T, D/heads]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, d] = x.shape as [number, number, number];
  return x.reshape(b, t, heads, d / heads).permute(0, 2, 1, 3);
}

/** [B, heads, T, d] -> [B, T, heads*d]. */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  return x.permute(0, 2, 1, 3).reshape(b, t, h * d);
}

/**
 * Attention over [B, T, heads * d] projections (q from the queries' Linear, k and v from the keys'
 * and values'), giving [B, T, heads * dv]: @bitvit/tensor's attention op (one fused kernel per
 * head on the CPU, the heads read in place) where no attention weights are dropped (eval mode,
 * or p = 0); else the heads split, scaledDotProductAttention with the dropout, merged.
 */
export function multiHeadAttention(q: Tensor, k: Tensor, v: Tensor, heads: number, dropout?: Dropout): Tensor {
  if (!dropout || !dropout.training || dropout.p === 0) return attention(q, k, v, { heads });
  return mergeHeads(scaledDotProductAttention(splitHeads(q, heads), splitHeads(k, heads), splitHeads(v, heads), dropout));
}

export class MultiHeadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  query: Linear;
  key: Linear;
  value: Linear;
  attnDropout: Dropout;
  output: Linear;

  constructor(embedDim: number, numHeads: number, opts: { qkvBias?: boolean; dropout?: number; generator?: Generator } = {}) {
    super();
    if (embedDim % numHeads !== 0) throw new Error(`MultiHeadAttention: width ${embedDim} is not a multiple of ${numHeads} heads`);
    this.embedDim = embedDim;
    this.numHeads = numHeads;
    const bias = opts.qkvBias ?? true;
    const g = opts.generator;
    this.query = this.addModule('query', new Linear(embedDim, embedDim, { bias, generator: g }));
    this.key = this.addModule('key', new Linear(embedDim, embedDim, { bias, generator: g }));
    this.value = this.addModule('value', new Linear(embedDim, embedDim, { bias, generator: g }));
    this.attnDropout = this.addModule('attnDropout', new Dropout(opts.dropout ?? 0, { generator: g }));
    this.output = this.addModule('output', new Linear(embedDim, embedDim, { generator: g }));
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 3 || x.shape[2] !== this.embedDim) {
      throw new Error(`MultiHeadAttention: input ${shapeStr(x.shape)} is not [B, T, ${this.embedDim}]`);
    }
    const [q, k, v] = forwardShared([this.query, this.key, this.value], x) as [Tensor, Tensor, Tensor];
    return this.output.forward(multiHeadAttention(q, k, v, this.numHeads, this.attnDropout));
  }
}
