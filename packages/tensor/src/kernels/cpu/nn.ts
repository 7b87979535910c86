// CPU kernels for the fused normalisations: softmax, logSoftmax and layerNorm over the last dim,
// each with its backward, and the fake quantizers BitLinear uses.
import { Tensor } from '../../tensor.js';
import type { LayerNormResult } from '../backend.js';
import { roundHalfEven } from './math.js';

function rowsOf(x: Tensor): [rows: number, cols: number] {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return [cols === 0 ? 0 : x.size / cols, cols];
}

// softmax(x)_i = exp(x_i - max) / sum_j exp(x_j - max): subtracting the max keeps exp in range.
export function softmax(x: Tensor): Tensor {
  const [rows, cols] = rowsOf(x);
  const a = x.data;
  const o = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    let max = -Infinity;
    for (let i = 0; i < cols; i++) if (a[off + i]! > max) max = a[off + i]!;
    let sum = 0;
    for (let i = 0; i < cols; i++) {
      const e = Math.exp(a[off + i]! - max);
      o[off + i] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let i = 0; i < cols; i++) o[off + i]! *= inv;
  }
  return new Tensor(o, x.shape);
}

// dx = y * (g - sum(g * y)) per row.
export function softmaxBackward(y: Tensor, grad: Tensor): Tensor {
  const [rows, cols] = rowsOf(y);
  const p = y.data;
  const g = grad.data;
  const o = new Float32Array(p.length);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    let dot = 0;
    for (let i = 0; i < cols; i++) dot += g[off + i]! * p[off + i]!;
    for (let i = 0; i < cols; i++) o[off + i] = p[off + i]! * (g[off + i]! - dot);
  }
  return new Tensor(o, y.shape);
}

// logSoftmax(x) = x - max - log(sum exp(x - max)).
export function logSoftmax(x: Tensor): Tensor {
  const [rows, cols] = rowsOf(x);
  const a = x.data;
  const o = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    let max = -Infinity;
    for (let i = 0; i < cols; i++) if (a[off + i]! > max) max = a[off + i]!;
    let sum = 0;
    for (let i = 0; i < cols; i++) sum += Math.exp(a[off + i]! - max);
    const lse = max + Math.log(sum);
    for (let i = 0; i < cols; i++) o[off + i] = a[off + i]! - lse;
  }
  return new Tensor(o, x.shape);
}

// dx = g - softmax(x) * sum(g), with softmax(x) = exp(y).
export function logSoftmaxBackward(y: Tensor, grad: Tensor): Tensor {
  const [rows, cols] = rowsOf(y);
  const ly = y.data;
  const g = grad.data;
  const o = new Float32Array(ly.length);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    let sum = 0;
    for (let i = 0; i < cols; i++) sum += g[off + i]!;
    for (let i = 0; i < cols; i++) o[off + i] = g[off + i]! - Math.exp(ly[off + i]!) * sum;
  }
  return new Tensor(o, y.shape);
}

// y = (x - mean) * rstd * weight + bias, with rstd = 1/sqrt(var + eps) and the biased variance.
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): LayerNormResult {
  const [rows, cols] = rowsOf(x);
  const a = x.data;
  const w = weight?.data;
  const b = bias?.data;
  const o = new Float32Array(a.length);
  const means = new Float32Array(rows);
  const rstds = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    let mean = 0;
    for (let i = 0; i < cols; i++) mean += a[off + i]!;
    mean /= cols;
    let v = 0;
    for (let i = 0; i < cols; i++) {
      const d = a[off + i]! - mean;
      v += d * d;
    }
    const rstd = 1 / Math.sqrt(v / cols + eps);
    means[r] = mean;
    rstds[r] = rstd;
    for (let i = 0; i < cols; i++) {
      let t = (a[off + i]! - mean) * rstd;
      if (w) t *= w[i]!;
      if (b) t += b[i]!;
      o[off + i] = t;
    }
  }
  const statShape = [...x.shape.slice(0, -1), 1];
  return { y: new Tensor(o, x.shape), mean: new Tensor(means, statShape), rstd: new Tensor(rstds, statShape) };
}

// With xhat = (x - mean) * rstd and dxhat = g * weight:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dweight = sum g*xhat,  dbias = sum g.
export function layerNormBackward(
  x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor, grad: Tensor,
): { dx: Tensor; dweight: Tensor | null; dbias: Tensor } {
  const [rows, cols] = rowsOf(x);
  const a = x.data;
  const g = grad.data;
  const w = weight?.data;
  const mu = mean.data;
  const rs = rstd.data;
  const dx = new Float32Array(a.length);
  const dw = new Float64Array(cols);
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    const m = mu[r]!;
    const s = rs[r]!;
    let sumD = 0;
    let sumDX = 0;
    for (let i = 0; i < cols; i++) {
      const xhat = (a[off + i]! - m) * s;
      const gi = g[off + i]!;
      const d = w ? gi * w[i]! : gi;
      sumD += d;
      sumDX += d * xhat;
      dw[i]! += gi * xhat;
      db[i]! += gi;
    }
    const meanD = sumD / cols;
    const meanDX = sumDX / cols;
    for (let i = 0; i < cols; i++) {
      const xhat = (a[off + i]! - m) * s;
      const d = w ? g[off + i]! * w[i]! : g[off + i]!;
      dx[off + i] = s * (d - meanD - xhat * meanDX);
    }
  }
  return {
    dx: new Tensor(dx, x.shape),
    dweight: weight ? new Tensor(Float32Array.from(dw), weight.shape) : null,
    dbias: new Tensor(Float32Array.from(db), [cols]),
  };
}

export function absmaxQuantize(x: Tensor, groupSize: number, qmax: number, eps: number): { q: Tensor; scale: Tensor } {
  const a = x.data;
  const groups = groupSize === 0 ? 0 : a.length / groupSize;
  const o = new Float32Array(a.length);
  const scales = new Float32Array(groups);
  const qmin = -qmax - 1;
  for (let gi = 0; gi < groups; gi++) {
    const off = gi * groupSize;
    let m = 0;
    for (let i = 0; i < groupSize; i++) {
      const v = Math.abs(a[off + i]!);
      if (v > m) m = v;
    }
    const s = Math.fround(qmax / Math.max(m, eps)); // the scale as float32, as PyTorch computes it
    scales[gi] = s;
    for (let i = 0; i < groupSize; i++) {
      let q = roundHalfEven(Math.fround(a[off + i]! * s));
      q = q < qmin ? qmin : q > qmax ? qmax : q;
      o[off + i] = q / s;
    }
  }
  return { q: new Tensor(o, x.shape), scale: new Tensor(scales, [groups]) };
}

export function ternaryQuantize(x: Tensor, scale: Tensor, groupSize: number): Tensor {
  const a = x.data;
  const sc = scale.data;
  const o = new Float32Array(a.length);
  const groups = groupSize === 0 ? 0 : a.length / groupSize;
  for (let gi = 0; gi < groups; gi++) {
    const s = sc[gi]!;
    const off = gi * groupSize;
    for (let i = 0; i < groupSize; i++) {
      let q = roundHalfEven(Math.fround(a[off + i]! / s));
      q = q < -1 ? -1 : q > 1 ? 1 : q;
      o[off + i] = q * s;
    }
  }
  return new Tensor(o, x.shape);
}
