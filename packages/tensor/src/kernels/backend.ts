// The backend interface: the kernels every op's forward and backward are written with.
// Ops (ops/*.ts) hold the math and the autograd; a backend only computes. The CPU backend is the
// reference; the gpu.js backend implements the same interface and is tested against it.
import type { Tensor } from '../tensor.js';
import type { PackedOperand } from './gemm/packed.js';

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'tanh' | 'sigmoid'
  | 'relu' | 'gelu' | 'erf' | 'round' | 'square' | 'reciprocal';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'gt' | 'ge' | 'lt' | 'le' | 'eq';

export type ReduceOp = 'sum' | 'max' | 'min';

export interface LayerNormResult {
  y: Tensor;
  /** Per-row mean and 1/sqrt(var + eps), saved for the backward pass. */
  mean: Tensor;
  rstd: Tensor;
}

export interface Backend {
  readonly name: string;
  /** One line on where the work runs, e.g. "cpu (wasm-simd gemm, 2 threads)". */
  describe(): string;

  // Elementwise. Binary ops and where() broadcast like NumPy; comparisons give 1 or 0.
  unary(op: UnaryOp, x: Tensor): Tensor;
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor;
  clamp(x: Tensor, min: number, max: number): Tensor;
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor;
  /**
   * grad * d gelu(x)/dx, fused (the composite would take eight passes). `y` = gelu(x) where the
   * caller still has it (the forward's output): a backend may then take Phi(x) = y / x instead of
   * computing erf again (the derivative is Phi(x) + x phi(x)).
   */
  geluBackward(x: Tensor, grad: Tensor, y?: Tensor): Tensor;

  // Reductions over sorted, distinct dims; keepdim keeps them as size 1.
  reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor;
  /** Index of the max (or min) along one dim; first occurrence wins, as in PyTorch. */
  argReduce(op: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean): Tensor;

  // Layout: each returns a new contiguous tensor.
  permute(x: Tensor, perm: readonly number[]): Tensor;
  expand(x: Tensor, shape: readonly number[]): Tensor;
  slice(x: Tensor, dim: number, start: number, length: number): Tensor;
  concat(xs: readonly Tensor[], dim: number): Tensor;
  /** Rows of x along dim picked by index (embedding lookup). */
  indexSelect(x: Tensor, dim: number, index: Int32Array): Tensor;
  /** The adjoint of indexSelect: zeros of `shape` with src rows added at index (repeats accumulate). */
  indexAdd(shape: readonly number[], dim: number, index: Int32Array, src: Tensor): Tensor;
  /** out[..., i, ...] = x[..., index[..., i, ...], ...] along dim (torch.gather). */
  gather(x: Tensor, dim: number, index: Int32Array, indexShape: readonly number[]): Tensor;
  /** The adjoint of gather. */
  scatterAdd(shape: readonly number[], dim: number, index: Int32Array, src: Tensor): Tensor;

  /**
   * Batched matmul op(a) @ op(b) over the last two dims, broadcasting the leading ones.
   * op(a) is a^T (of the last two dims) when transA, likewise for b: the backward pass needs both.
   * `bias` (a vector of N, optional) is added to every row of every product, last: a Linear's
   * bias, which the CPU backend adds in the GEMM's store instead of in a pass of its own.
   */
  matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias?: Tensor | null, packedB?: PackedOperand | null): Tensor;

  /**
   * Optional: scaled dot-product attention in one kernel, softmax(scale * q k^T) v per head, for
   * q [B, Tq, heads*d], k [B, Tk, heads*d], v [B, Tk, heads*dv] (head h: columns h*d.. of each
   * row). Returns out [B, Tq, heads*dv] and, with keepProbs, the softmax [B, heads, Tq, Tk] for
   * the backward; null where it does not take this call. Either way ops/attention.ts computes the
   * same floats from matmul, mul and softmax.
   */
  attention?(q: Tensor, k: Tensor, v: Tensor, heads: number, scale: number, keepProbs: boolean): { out: Tensor; probs: Tensor | null } | null;
  /**
   * Optional: attention's backward in one kernel, from the inputs, the forward's softmax `probs`
   * and the output's gradient; null where it does not take the call (ops/attention.ts then
   * computes it from matmul and softmaxBackward).
   */
  attentionBackward?(q: Tensor, k: Tensor, v: Tensor, probs: Tensor, grad: Tensor, heads: number, scale: number): { dq: Tensor; dk: Tensor; dv: Tensor } | null;

  // Normalisation over the last dim.
  softmax(x: Tensor): Tensor;
  softmaxBackward(y: Tensor, grad: Tensor): Tensor;
  logSoftmax(x: Tensor): Tensor;
  logSoftmaxBackward(y: Tensor, grad: Tensor): Tensor;
  layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): LayerNormResult;
  layerNormBackward(
    x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor, grad: Tensor,
  ): { dx: Tensor; dweight: Tensor | null; dbias: Tensor };

  /**
   * Fake quantization to a symmetric integer grid, per group of `groupSize` consecutive values
   * (groupSize = last dim: per token) or per tensor (groupSize = size):
   *   s = qmax / max(max|x|, eps);  out = clip(roundHalfEven(x*s), -qmax-1, qmax) / s.
   * Returns the dequantized values and the scales s (one per group).
   */
  absmaxQuantize(x: Tensor, groupSize: number, qmax: number, eps: number): { q: Tensor; scale: Tensor };
  /**
   * Ternary quantization with a given scale per group of `groupSize` values (per tensor or per row):
   *   out = clip(roundHalfEven(x / scale), -1, 1) * scale.
   */
  ternaryQuantize(x: Tensor, scale: Tensor, groupSize: number): Tensor;
}
