// GPTQ-style error compensation on calibration data (Frantar et al. 2022, "GPTQ: Accurate
// Post-Training Quantization for Generative Pre-trained Transformers"), on a ternary grid.
//
// Goal for one layer: codes T minimising the output error on the calibration inputs X [n, in],
// ||X W^T - X Wq^T||^2, instead of the weight error ||W - Wq||^2. Rows of W are independent
// problems that share the Hessian of that error, H = 2/n X^T X [in, in]. GPTQ quantizes the
// columns one at a time and pushes each column's rounding error onto the columns not yet
// quantized, along the directions H says the inputs vary together (optimal brain surgeon):
//
//   H   += damp * mean(diag H) * I                  (dampening keeps H invertible)
//   U    = upper Cholesky factor of H^-1             (H^-1 = U^T U)
//   for j = 0 .. in-1:                               (or by descending diag H, actOrder)
//     q_j  = nearest grid point of w_j               grid: beta + alpha * {-1, 0, 1}
//     e_j  = (w_j - q_j) / U_jj
//     w_k -= e_j * U_jk    for k > j
//
// The grid (alpha and beta per row or per tensor) is fixed before, by a weight-only method
// (fit.ts, TWN with a least-squares scale by default); GPTQ chooses only the codes.
//
// Rows never interact, so we run the loop row by row, in blocks of `blockSize` rows that share
// each pass over U (GPTQ's own lazy batching blocks columns instead; the codes are identical,
// only the memory traffic differs). Cost for a layer of width in = n_in and out = n_out:
//   X^T X: tokens * n_in^2 (the GEMM), Cholesky and inverse: about n_in^3, codes: n_out * n_in^2 / 2.
import { matmul, roundHalfEven, type Tensor } from '@bitvit/tensor';
import type { TernaryWeights } from './ternary-weights.js';
import { scaleOf } from './ternary-weights.js';

export interface GptqOptions {
  /** Added to diag(H) as a fraction of its mean (GPTQ's percdamp); default 0.01. */
  dampening?: number;
  /** Rows processed together per pass over U (memory traffic only; codes do not change); default 32. */
  blockSize?: number;
  /** Quantize columns by descending diag(H) (GPTQ's act-order): inputs with most energy first; default false. */
  actOrder?: boolean;
}

/** Accumulates H = 2/n X^T X over the calibration inputs of one layer (any leading dims). */
export class HessianAccumulator {
  readonly cols: number;
  readonly sum: Float64Array;
  samples = 0;

  constructor(cols: number) {
    this.cols = cols;
    this.sum = new Float64Array(cols * cols);
  }

  add(x: Tensor): void {
    const n = x.size / this.cols;
    if (!Number.isInteger(n) || x.shape[x.ndim - 1] !== this.cols) {
      throw new Error(`HessianAccumulator: input [${x.shape.join(', ')}] does not end in ${this.cols} features`);
    }
    const x2 = x.reshape(n, this.cols);
    const xtx = matmul(x2, x2, { transA: true }).data; // [cols, cols], float32 per batch, summed in float64
    for (let i = 0; i < xtx.length; i++) this.sum[i] += xtx[i]!;
    this.samples += n;
  }

  hessian(): Float64Array {
    if (this.samples === 0) throw new Error('HessianAccumulator: no calibration inputs were added');
    return this.sum.map((v) => (2 * v) / this.samples);
  }
}

/** The codes of W rounded to the nearest point of the grid beta + alpha * {-1, 0, 1} (no compensation). */
export function roundToGrid(w: ArrayLike<number>, grid: TernaryWeights): Int8Array {
  const { rows, cols } = grid;
  const alpha = grid.planes[0]!.alpha;
  const codes = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const a = scaleOf(alpha, r);
    const b = grid.beta ? grid.beta[r]! : 0;
    for (let c = 0; c < cols; c++) codes[r * cols + c] = nearestCode(w[r * cols + c]!, a, b);
  }
  return codes;
}

function nearestCode(v: number, alpha: number, beta: number): number {
  const t = roundHalfEven((v - beta) / alpha);
  return t < -1 ? -1 : t > 1 ? 1 : t;
}

/**
 * GPTQ codes for W [rows, cols] on the one-plane grid of `grid` (its codes are ignored, its
 * alpha and beta kept), given the layer's Hessian H [cols, cols]. Returns the grid with new codes.
 */
export function gptqTernary(w: ArrayLike<number>, grid: TernaryWeights, hessian: Float64Array, opts: GptqOptions = {}): TernaryWeights {
  const { rows, cols } = grid;
  if (grid.planes.length !== 1) throw new Error(`gptqTernary: the grid must have one ternary plane, got ${grid.planes.length}`);
  if (hessian.length !== cols * cols) throw new Error(`gptqTernary: Hessian of ${hessian.length} values for ${cols} input features (expected ${cols * cols})`);
  if (w.length !== rows * cols) throw new Error(`gptqTernary: ${w.length} weights for a [${rows}, ${cols}] grid`);
  const blockSize = Math.max(1, opts.blockSize ?? 32);

  // Column order: as stored, or by descending diag(H) (the inputs with most energy first, so
  // their errors are compensated by the many columns still free).
  const order = Array.from({ length: cols }, (_, i) => i);
  if (opts.actOrder) order.sort((a, b) => hessian[b * cols + b]! - hessian[a * cols + a]! || a - b);
  const H = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) H[i * cols + j] = hessian[order[i]! * cols + order[j]!]!;

  // A column whose input never moved has diag 0: give it 1 so H stays invertible; it is then
  // quantized by plain rounding and passes no error on (its row of U is zero off the diagonal).
  for (let i = 0; i < cols; i++) if (H[i * cols + i] === 0) H[i * cols + i] = 1;
  const U = upperCholeskyOfInverse(H, cols, opts.dampening ?? 0.01);

  const codes = new Int8Array(rows * cols);
  const alpha = grid.planes[0]!.alpha;
  const work = new Float64Array(blockSize * cols);
  for (let r0 = 0; r0 < rows; r0 += blockSize) {
    const r1 = Math.min(rows, r0 + blockSize);
    for (let r = r0; r < r1; r++) for (let j = 0; j < cols; j++) work[(r - r0) * cols + j] = w[r * cols + order[j]!]!;
    for (let j = 0; j < cols; j++) {
      const d = U[j * cols + j]!;
      for (let r = r0; r < r1; r++) {
        const a = scaleOf(alpha, r);
        const b = grid.beta ? grid.beta[r]! : 0;
        const row = (r - r0) * cols;
        const v = work[row + j]!;
        const t = nearestCode(v, a, b);
        codes[r * cols + order[j]!] = t;
        const e = (v - (b + a * t)) / d;
        if (e !== 0) for (let k = j + 1; k < cols; k++) work[row + k] -= e * U[j * cols + k]!;
      }
    }
  }
  return { ...grid, planes: [{ codes, alpha: Float32Array.from(alpha) }] };
}

/**
 * U with U^T U = (H + damp * mean(diag H) * I)^-1, upper triangular, [n, n] row-major: Cholesky
 * of H, inverse of the triangle, H^-1 = L^-T L^-1, then Cholesky of that. If H is not positive
 * definite (too few calibration samples for its width), the dampening grows tenfold, up to 3 times.
 */
export function upperCholeskyOfInverse(H: Float64Array, n: number, dampening: number): Float64Array {
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += H[i * n + i]!;
  meanDiag /= n;
  let damp = dampening;
  for (let attempt = 0; attempt < 4; attempt++, damp *= 10) {
    const Hd = Float64Array.from(H);
    for (let i = 0; i < n; i++) Hd[i * n + i] += damp * meanDiag;
    const L = cholesky(Hd, n);
    if (!L) continue;
    const Linv = invertLower(L, n);
    // H^-1 = Linv^T Linv; (i, j) = sum over k >= max(i, j) of Linv[k, i] * Linv[k, j].
    const Hinv = new Float64Array(n * n);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i <= k; i++) {
        const lki = Linv[k * n + i]!;
        if (lki === 0) continue;
        for (let j = 0; j <= i; j++) Hinv[i * n + j] += lki * Linv[k * n + j]!;
      }
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) Hinv[j * n + i] = Hinv[i * n + j]!;
    const C = cholesky(Hinv, n);
    if (!C) continue;
    const U = new Float64Array(n * n); // U = C^T
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) U[j * n + i] = C[i * n + j]!;
    return U;
  }
  throw new Error(`gptq: the ${n}x${n} Hessian is not positive definite even with dampening ${damp / 10}; add calibration data or raise gptq.dampening`);
}

/** Lower L with L L^T = A (A symmetric [n, n]), or null when A is not positive definite. */
export function cholesky(A: Float64Array, n: number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        L[i * n + i] = Math.sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j]!;
      }
    }
  }
  return L;
}

/**
 * The inverse of a lower-triangular L (again lower triangular), by forward substitution, a row
 * at a time: inv_ij = -(sum_{j<=k<i} L_ik inv_kj) / L_ii, the loops ordered so the innermost
 * one runs along rows (contiguous memory).
 */
function invertLower(L: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < i; k++) {
      const lik = L[row + k]!;
      if (lik === 0) continue;
      for (let j = 0; j <= k; j++) inv[row + j] -= lik * inv[k * n + j]!;
    }
    const d = L[row + i]!;
    for (let j = 0; j < i; j++) inv[row + j] /= d;
    inv[row + i] = 1 / d;
  }
  return inv;
}

/**
 * The scales that minimise the calibration output error for fixed codes: weighted least
 * squares with the layer's Hessian H, over the rows r of a scale group,
 *
 *   alpha = sum_r t_r^T H (w_r - beta_r) / sum_r t_r^T H t_r
 *
 * GPTQ keeps its grid fixed; this step comes after it and can only lower the error on the
 * calibration data (the old scale is one of the choices it considers). A zero point stays as
 * the grid set it: the inputs of a layer after a LayerNorm sum to about zero over features,
 * so the outputs barely see beta, and a beta fitted to them can run far from the weights.
 */
export function refitScalesToOutputs(w: ArrayLike<number>, q: TernaryWeights, hessian: Float64Array): TernaryWeights {
  const { rows, cols } = q;
  const plane = q.planes[0]!;
  const groups = plane.alpha.length;
  const num = new Float64Array(groups);
  const den = new Float64Array(groups);
  const Ht = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    Ht.fill(0); // H t_r, using that t is mostly zeros
    for (let i = 0; i < cols; i++) {
      const t = plane.codes[r * cols + i]!;
      if (t !== 0) for (let j = 0; j < cols; j++) Ht[j] += t * hessian[i * cols + j]!;
    }
    const beta = q.beta ? q.beta[r]! : 0;
    const g = groups === 1 ? 0 : r;
    for (let j = 0; j < cols; j++) {
      num[g] += Ht[j]! * (w[r * cols + j]! - beta);
      den[g] += Ht[j]! * plane.codes[r * cols + j]!;
    }
  }
  // A group whose codes are all zero has no scale to fit: keep the one it had.
  const alpha = Float32Array.from(plane.alpha, (a, g) => (den[g]! > 0 ? num[g]! / den[g]! : a));
  return { ...q, planes: [{ codes: plane.codes, alpha }] };
}
