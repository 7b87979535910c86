// Shared test helpers: value comparison with a useful failure message, a gradcheck that fails
// loudly, and inputs that keep finite differences away from kinks, ties and jumps.
import { expect } from 'vitest';
import { Generator, Tensor, gradcheck, type GradcheckOptions } from '../src/index.js';

/** Assert every value of `actual` is within atol + rtol*|expected|, naming the first that is not. */
export function expectClose(
  actual: Tensor | ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { atol?: number; rtol?: number; label?: string } = {},
): void {
  const a = actual instanceof Tensor ? actual.data : actual;
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-5;
  const label = opts.label ? `${opts.label}: ` : '';
  expect(a.length, `${label}length`).toBe(expected.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = expected[i]!;
    if (Number.isNaN(y)) {
      expect(Number.isNaN(x), `${label}element ${i}: ${x} vs NaN`).toBe(true);
      continue;
    }
    const ok = x === y || Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) expect.fail(`${label}element ${i}: got ${x}, expected ${y} (|diff| ${Math.abs(x - y).toExponential(2)})`);
  }
}

/** Run the exported finite-difference checker and fail with its message. */
export function expectGradOk(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], opts?: GradcheckOptions): void {
  const r = gradcheck(fn, inputs, opts);
  expect(r.message).toBe('');
  expect(r.ok).toBe(true);
}

/** Normal values, redrawn where |x| < margin: keeps abs, relu, sign and friends off their kink at 0. */
export function awayFromZero(shape: number[], seed: number, margin = 0.1): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    while (Math.abs(v) < margin) v = g.normal();
    d[i] = v;
  }
  return new Tensor(d, shape);
}

/** Positive values in [lo, hi): for log, sqrt, rsqrt, pow bases and divisors. */
export function positive(shape: number[], seed: number, lo = 0.5, hi = 2): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * g.random();
  return new Tensor(d, shape);
}

/**
 * Distinct values at least 0.1 apart, shuffled: max/min/maximum/minimum have no ties and no
 * finite-difference step (0.01) can swap which element wins.
 */
export function distinct(shape: number[], seed: number, offset = 0): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const perm = g.permutation(n);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = (perm[i]! - n / 2) * 0.1 + offset + 0.013;
  return new Tensor(d, shape);
}

/** Plain standard normal values from a private generator (tests never touch the global one). */
export function normal(shape: number[], seed: number, std = 1): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = g.normal() * std;
  return new Tensor(d, shape);
}
