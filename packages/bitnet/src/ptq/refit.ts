// Least-squares scales for ternary codes that are already chosen (BITNET.md section 2):
//
//   one plane, no zero point:   alpha = <W, T> / <T, T>         (per tensor or per row)
//
// which is the alpha minimising ||W - alpha T||. The general case fits K planes and, when
// asked, a per-row zero point beta at once: minimise ||W - beta 1^T - sum_k alpha_k T_k||^2.
// The zero point is handled by centering (Frisch-Waugh-Lovell): subtract each row's mean from
// W and from every plane, solve the K x K normal equations for the alphas on what is left,
// then beta_r = mean(w_r) - sum_k alpha_k mean(T_k,r). With per-tensor scales and per-row zero
// points this is still the exact joint least-squares fit.
import { groupRows, scaleCount, type Granularity, type TernaryPlane } from './ternary-weights.js';

export interface RefitResult {
  alphas: Float32Array[];
  beta: Float32Array | null;
}

/**
 * Refit the scales of `planes` (and a per-row zero point when zeroPoint) to W by least squares.
 * The planes' current scales are the fallback where the system is singular (an all-zero plane).
 */
export function refitScales(
  w: ArrayLike<number>, rows: number, cols: number,
  planes: readonly TernaryPlane[], granularity: Granularity, zeroPoint: boolean,
): RefitResult {
  const K = planes.length;
  const groups = scaleCount(rows, granularity);
  const alphas = planes.map(() => new Float32Array(groups));
  // Row means of W and of each plane: the centering that the zero point needs.
  const wMean = new Float64Array(rows);
  const tMean = planes.map(() => new Float64Array(rows));
  if (zeroPoint) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += w[r * cols + c]!;
      wMean[r] = s / cols;
      planes.forEach((p, k) => {
        let t = 0;
        for (let c = 0; c < cols; c++) t += p.codes[r * cols + c]!;
        tMean[k]![r] = t / cols;
      });
    }
  }
  for (let g = 0; g < groups; g++) {
    // Normal equations A a = b with A_jk = <Tj_c, Tk_c>, b_k = <W_c, Tk_c> (c: centered rows).
    const A = Array.from({ length: K }, () => new Float64Array(K));
    const b = new Float64Array(K);
    for (const r of groupRows(rows, granularity, g)) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const wc = w[i]! - wMean[r]!;
        for (let j = 0; j < K; j++) {
          const tj = planes[j]!.codes[i]! - tMean[j]![r]!;
          b[j] += wc * tj;
          for (let k = 0; k < K; k++) A[j]![k] += tj * (planes[k]!.codes[i]! - tMean[k]![r]!);
        }
      }
    }
    const previous = planes.map((p) => p.alpha.length === 1 ? p.alpha[0]! : p.alpha[g]!);
    const solved = solveRidge(A, b, previous);
    for (let k = 0; k < K; k++) alphas[k]![g] = solved[k]!;
  }
  let beta: Float32Array | null = null;
  if (zeroPoint) {
    beta = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const g = granularity === 'tensor' ? 0 : r;
      let v = wMean[r]!;
      for (let k = 0; k < K; k++) v -= alphas[k]![g]! * tMean[k]![r]!;
      beta[r] = v;
    }
  }
  return { alphas, beta };
}

/**
 * Solve (A + lambda I) a = b + lambda prev by Gaussian elimination, lambda = 1e-9 (trace A + 1):
 * a ridge towards the previous scales that changes nothing measurable for a well-posed system
 * and returns `prev` for a plane that is all zeros (its row and column of A are zero).
 */
export function solveRidge(A: Float64Array[], b: Float64Array, prev: readonly number[]): Float64Array {
  const K = b.length;
  let trace = 0;
  for (let k = 0; k < K; k++) trace += A[k]![k]!;
  const lambda = 1e-9 * (trace + 1);
  const M = A.map((row, j) => Float64Array.from(row, (v, k) => v + (j === k ? lambda : 0)));
  const y = Float64Array.from(b, (v, k) => v + lambda * prev[k]!);
  for (let p = 0; p < K; p++) {
    let best = p;
    for (let j = p + 1; j < K; j++) if (Math.abs(M[j]![p]!) > Math.abs(M[best]![p]!)) best = j;
    [M[p], M[best]] = [M[best]!, M[p]!];
    [y[p], y[best]] = [y[best]!, y[p]!];
    for (let j = p + 1; j < K; j++) {
      const f = M[j]![p]! / M[p]![p]!;
      for (let k = p; k < K; k++) M[j]![k] -= f * M[p]![k]!;
      y[j] -= f * y[p]!;
    }
  }
  const a = new Float64Array(K);
  for (let p = K - 1; p >= 0; p--) {
    let s = y[p]!;
    for (let k = p + 1; k < K; k++) s -= M[p]![k]! * a[k]!;
    a[p] = s / M[p]![p]!;
  }
  return a;
}
