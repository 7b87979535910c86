// Scalar math the kernels share: erf, GELU and round-half-to-even.

/**
 * erf(x), from the complementary error function's Chebyshev fit (Numerical Recipes, erfcc):
 * fractional error below 1.2e-7 everywhere, below float32 resolution once stored.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
        t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/** GELU, the exact (erf) form that is PyTorch's default: x * Phi(x). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** d gelu / dx = Phi(x) + x * phi(x). */
export function geluGrad(x: number): number {
  return 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

// 1.5 * 2^52: adding it pushes the fraction bits out of a double, and IEEE addition rounds
// to nearest even; subtracting it back leaves the rounded integer. Valid for |x| < 2^51.
const ROUND_MAGIC = 6755399441055744;

/**
 * Round half to even, as torch.round. Math.round rounds half up: Math.round(-2.5) is -2 and
 * Math.round(0.5) is 1, where torch gives -2 and 0 (and 2 for 2.5, not 3).
 */
export function roundHalfEven(x: number): number {
  if (!(Math.abs(x) < 2251799813685248)) return x; // already an integer (or NaN/inf)
  const r = x + ROUND_MAGIC - ROUND_MAGIC;
  return r === 0 ? x * 0 : r; // keep the sign of zero: torch.round(-0.5) is -0, the magic sum gives +0
}
