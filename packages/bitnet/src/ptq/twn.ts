// TWN, ternary weight networks (Li, Zhang & Liu 2016): a threshold, then the scale that is
// optimal for the codes it picks (BITNET.md section 2):
//
//   delta = 0.7 * mean|W|                      (their approximation of the optimal threshold)
//   T     = sign(W) * [|W| > delta]
//   alpha = mean(|W|) over the weights with |W| > delta
//
// The zero band |W| <= 0.7 mean|W| is wider than absmean's 0.5 mean|W|, and alpha is larger than
// mean|W|: the kept weights are the large ones, so their mean magnitude is what fits them.
import { WEIGHT_EPS } from '../quantizers.js';
import { groupRows, scaleCount, type Granularity, type TernaryPlane } from './ternary-weights.js';

export const TWN_DELTA_FACTOR = 0.7;

export function twnTernary(w: ArrayLike<number>, rows: number, cols: number, granularity: Granularity): TernaryPlane {
  const codes = new Int8Array(rows * cols);
  const alpha = new Float32Array(scaleCount(rows, granularity));
  for (let g = 0; g < alpha.length; g++) {
    const groupOfRows = groupRows(rows, granularity, g);
    let absSum = 0;
    for (const r of groupOfRows) for (let c = 0; c < cols; c++) absSum += Math.abs(w[r * cols + c]!);
    const delta = (TWN_DELTA_FACTOR * absSum) / (groupOfRows.length * cols);
    let keptSum = 0;
    let kept = 0;
    for (const r of groupOfRows) {
      for (let c = 0; c < cols; c++) {
        const v = w[r * cols + c]!;
        if (Math.abs(v) > delta) {
          codes[r * cols + c] = v > 0 ? 1 : -1;
          keptSum += Math.abs(v);
          kept++;
        }
      }
    }
    // An all-zero group keeps no weight: any scale gives the same matrix, and a positive one
    // keeps later divisions by alpha safe.
    alpha[g] = kept > 0 ? Math.max(keptSum / kept, WEIGHT_EPS) : Math.max(delta / TWN_DELTA_FACTOR, WEIGHT_EPS);
  }
  return { codes, alpha };
}
