// absmean: BitNet b1.58's weight quantizer applied once, after training (BITNET.md section 2):
//
//   gamma = max(mean|W|, 1e-5)       per tensor, or per output row
//   T     = clip(roundHalfEven(W / gamma), -1, 1)      so the zero band is |W| <= gamma/2
//   W    ~ gamma * T
//
// It reuses BitLinear's own quantizer, so an absmean per-tensor layer holds exactly the weights
// a BitLinear with the same latent weights would use.
import { Tensor } from '@bitvit/tensor';
import { absmeanScale, ternaryCodes } from '../quantizers.js';
import type { Granularity, TernaryPlane } from './ternary-weights.js';

export function absmeanTernary(w: Float32Array, rows: number, cols: number, granularity: Granularity): TernaryPlane {
  const wt = new Tensor(w, [rows, cols]);
  const gamma = absmeanScale(wt, granularity);
  return { codes: ternaryCodes(wt, gamma), alpha: Float32Array.from(gamma.data) };
}
