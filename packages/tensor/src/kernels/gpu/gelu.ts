// GELU, the exact (erf) form PyTorch's nn.GELU() and Hugging Face ViT use:
//   gelu(x)  = 0.5 * x * (1 + erf(x / sqrt(2)))
//   gelu'(x) = 0.5 * (1 + erf(x / sqrt(2))) + x * exp(-x^2 / 2) / sqrt(2 * pi)
// Shading languages have no erf, so it is computed with Abramowitz & Stegun
// 7.1.26 (absolute error below 1.5e-7, about one float32 ulp of 1).
import { type GpuArray } from './device.js';

// erf(x) = sign(x) * (1 - t * poly(t) * exp(-x^2)), t = 1 / (1 + p|x|): A&S 7.1.26.
// Defined here, beside the kernels that call it: gpu.js translates it from its source text.
export function erf(x: number): number {
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return Math.sign(x) * (1 - poly * Math.exp(-a * a));
}

type ElementThis = { thread: { x: number } };

function geluKernel(this: ElementThis, x: Float32Array): number {
  const v = x[this.thread.x]!;
  return 0.5 * v * (1 + erf(v * 0.7071067811865476));
}

function geluBackwardKernel(this: ElementThis, x: Float32Array, g: Float32Array): number {
  const v = x[this.thread.x]!;
  const cdf = 0.5 * (1 + erf(v * 0.7071067811865476));
  const pdf = Math.exp(-0.5 * v * v) * 0.3989422804014327;
  return g[this.thread.x]! * (cdf + v * pdf);
}

/** GELU (erf form), elementwise. */
export function gelu(x: GpuArray): GpuArray {
  const key = `gelu:${x.size}`;
  const kernel = x.device.kernel(key, { source: geluKernel, output: [x.size], functions: [erf] });
  return x.device.run(key, kernel, x.shape, [x]);
}

/** dL/dx = g * gelu'(x), for the upstream gradient g of gelu's output. */
export function geluBackward(x: GpuArray, g: GpuArray): GpuArray {
  if (x.shape.join(',') !== g.shape.join(',')) {
    throw new Error(`geluBackward: input [${x.shape.join(',')}] and gradient [${g.shape.join(',')}] differ`);
  }
  const key = `geluBackward:${x.size}`;
  const kernel = x.device.kernel(key, { source: geluBackwardKernel, output: [x.size], functions: [erf] });
  return x.device.run(key, kernel, x.shape, [x, g]);
}
