// BitNet b1.58's two quantizers (BITNET.md section 1), on tensors, without gradients:
//   weights:     gamma = max(mean|W|, 1e-5);  Wq = clip(roundHalfEven(W/gamma), -1, 1) * gamma
//   activations: s = 127 / max(max|x|, 1e-5) per token;  xq = clip(roundHalfEven(x*s), -128, 127) / s
import { Tensor, absmaxQuantize, noGrad, roundHalfEven, shapeStr, ternaryQuantize } from '@bitvit/tensor';

export const WEIGHT_EPS = 1e-5;
export const ACT_EPS = 1e-5;

export type ScaleGranularity = 'tensor' | 'channel';

/** The absmean scale gamma: one value (per tensor) or one per output row (per channel). */
export function absmeanScale(w: Tensor, per: ScaleGranularity = 'tensor'): Tensor {
  if (w.ndim !== 2) throw new Error(`absmeanScale: weight ${shapeStr(w.shape)} is not [out, in]`);
  return noGrad(() => {
    const scale = per === 'tensor' ? w.abs().mean().reshape(1) : w.abs().mean(1);
    return scale.clamp(WEIGHT_EPS, null);
  });
}

/** Fake-quantized ternary weights Wt * gamma (float values in {-gamma, 0, gamma}). */
export function weightQuant(w: Tensor, per: ScaleGranularity = 'tensor'): { wq: Tensor; scale: Tensor } {
  const scale = absmeanScale(w, per);
  return { wq: ternaryQuantize(w, scale), scale };
}

/** Fake-quantized per-token int8 activations (dequantized floats) and their scales s. */
export function activationQuant(x: Tensor, bits = 8): { xq: Tensor; scale: Tensor } {
  const { q, scale } = absmaxQuantize(x, { bits, per: 'token', eps: ACT_EPS });
  return { xq: q, scale };
}

/** The ternary codes in {-1, 0, 1} of w under a scale (per tensor or per row), as int8. */
export function ternaryCodes(w: Tensor, scale: Tensor): Int8Array {
  const [rows, cols] = w.shape as [number, number];
  const data = w.data;
  const s = scale.data;
  const codes = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const g = s.length === 1 ? s[0]! : s[r]!;
    for (let c = 0; c < cols; c++) {
      const q = roundHalfEven(Math.fround(data[r * cols + c]! / g));
      codes[r * cols + c] = q < -1 ? -1 : q > 1 ? 1 : q;
    }
  }
  return codes;
}
