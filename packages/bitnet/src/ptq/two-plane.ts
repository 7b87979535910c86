// Two ternary planes: W ~ a1*T1 + a2*T2 (+ beta), the second plane quantizing what the first
// left over. Nine levels per row instead of three, for about twice the storage (2 log2(3) bits).
//
//   T1 = TWN(W - beta),     a1, beta by least squares for T1
//   R  = W - beta - a1*T1   the residual
//   T2 = TWN(R)
//   (a1, a2, beta) refit jointly by least squares for (T1, T2) (refit.ts; a 2x2 system per group)
//
// The joint refit can only lower ||W - Wq||: the sequential a1, a2 are one of the choices it
// considers.
import { centerRows, channelMeans } from './asymmetric.js';
import { refitScales } from './refit.js';
import { twnTernary } from './twn.js';
import { scaleOf, type Granularity, type TernaryWeights } from './ternary-weights.js';

export function twoPlaneTernary(w: Float32Array, rows: number, cols: number, granularity: Granularity, symmetric: boolean): TernaryWeights {
  const zeroPoint = !symmetric;
  const start = zeroPoint ? centerRows(w, rows, cols, channelMeans(w, rows, cols)) : w;
  const first = twnTernary(start, rows, cols, granularity);
  const fit1 = refitScales(w, rows, cols, [first], granularity, zeroPoint);
  const t1 = { codes: first.codes, alpha: fit1.alphas[0]! };

  const residual = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const beta = fit1.beta ? fit1.beta[r]! : 0;
    const a1 = scaleOf(t1.alpha, r);
    for (let c = 0; c < cols; c++) residual[r * cols + c] = w[r * cols + c]! - beta - a1 * t1.codes[r * cols + c]!;
  }
  const second = twnTernary(residual, rows, cols, granularity);

  const joint = refitScales(w, rows, cols, [t1, second], granularity, zeroPoint);
  return {
    rows, cols, granularity,
    planes: [{ codes: t1.codes, alpha: joint.alphas[0]! }, { codes: second.codes, alpha: joint.alphas[1]! }],
    beta: joint.beta,
  };
}
