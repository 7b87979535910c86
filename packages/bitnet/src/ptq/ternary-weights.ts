// The result every PTQ method produces: a weight matrix W [rows = out, cols = in] written as
// one or two ternary planes with float scales, and an optional per-row zero point:
//
//   W ~ beta_r + alpha1_g * T1 + alpha2_g * T2        T in {-1, 0, 1}, g = the row's scale group
//
// Scales come per tensor (one group) or per output channel (one per row); the zero point, when
// there is one, is always per row. With one plane and no zero point this is BitNet's Wt * gamma.

export type Granularity = 'tensor' | 'channel';

/** One ternary plane: codes [rows, cols] row-major and a scale per group (1 or rows values). */
export interface TernaryPlane {
  codes: Int8Array;
  alpha: Float32Array;
}

export interface TernaryWeights {
  rows: number;
  cols: number;
  granularity: Granularity;
  planes: TernaryPlane[];
  /** The per-row zero point beta (asymmetric), or null (symmetric). */
  beta: Float32Array | null;
}

/** How many scales a matrix with this many rows has. */
export function scaleCount(rows: number, granularity: Granularity): number {
  return granularity === 'tensor' ? 1 : rows;
}

/** The scale of row r (a per-tensor scale serves every row). */
export function scaleOf(alpha: Float32Array, r: number): number {
  return alpha.length === 1 ? alpha[0]! : alpha[r]!;
}

/** The rows that share a scale: all of them (per tensor) or row g alone (per channel). */
export function groupRows(rows: number, granularity: Granularity, g: number): number[] {
  return granularity === 'tensor' ? Array.from({ length: rows }, (_, r) => r) : [g];
}

/** The float matrix the planes stand for, [rows, cols] row-major, as float32 (what the layer multiplies by). */
export function dequantize(q: TernaryWeights): Float32Array {
  const { rows, cols } = q;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const beta = q.beta ? q.beta[r]! : 0;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      let v = beta;
      for (const p of q.planes) v += scaleOf(p.alpha, r) * p.codes[i]!;
      out[i] = v;
    }
  }
  return out;
}

/** ||W - Wq|| / ||W|| (Frobenius), in float64. */
export function relativeError(w: ArrayLike<number>, wq: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < w.length; i++) {
    const d = w[i]! - wq[i]!;
    num += d * d;
    den += w[i]! * w[i]!;
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : Math.sqrt(num / den);
}

/** The share of zero codes in a plane. */
export function zeroShare(codes: Int8Array): number {
  let z = 0;
  for (const c of codes) if (c === 0) z++;
  return codes.length === 0 ? 0 : z / codes.length;
}

/**
 * Bits per weight of the stored form: log2(3) per ternary plane (the entropy limit for codes;
 * 2 in the i2 packing) plus the float32 scales and zero points spread over the weights.
 */
export function bitsPerWeight(q: TernaryWeights): number {
  const scalars = q.planes.reduce((n, p) => n + p.alpha.length, 0) + (q.beta ? q.beta.length : 0);
  return q.planes.length * Math.log2(3) + (32 * scalars) / (q.rows * q.cols);
}
