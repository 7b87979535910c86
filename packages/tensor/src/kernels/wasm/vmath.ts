// Vector math for the SIMD kernels: emitters that compute a function of the four f32 lanes of a
// v128 local and leave the result on the stack. They are emitted inline at each use (a call per
// four values would cost as much as the work), each with its own scratch locals.
//
// exp and log follow Cephes' single-precision expf/logf (S. L. Moshier, Cephes Math Library),
// accurate to about 1 ulp; erfc is the Chebyshev fit the TypeScript reference uses (Numerical
// Recipes' erfcc, fractional error below 1.2e-7), so both backends compute the same function.
import type { FunctionBody } from './builder.js';

/**
 * c[0]*x^(k-1) + c[1]*x^(k-2) + ... + c[k-1] for local x (highest power first), by Estrin's
 * scheme: pairs c + c'x, then pairs of pairs with x^2, x^4, ... Horner's rule would be one chain
 * of 2(k-1) dependent operations, and with a 4-cycle latency each the vector units sit idle;
 * Estrin's chains are about log2(k) pairs deep, for two or three more multiplies (measured: erf
 * 5.1 -> 4.1 ns a value). Leaves the value on the stack.
 */
export function estrin(f: FunctionBody, x: number, coeffs: readonly number[]): void {
  let terms: Array<() => void> = [...coeffs].reverse().map((c) => () => void f.f32x4(c)); // ascending powers
  let power = x; // x, then x^2, x^4, ...
  while (terms.length > 1) {
    const next: Array<() => void> = [];
    for (let i = 0; i < terms.length; i += 2) {
      const [lo, hi] = [terms[i]!, terms[i + 1]];
      if (!hi) {
        next.push(lo);
        continue;
      }
      // lo + hi * power (one fused multiply-add with relaxed SIMD), kept for the next level
      const v = f.local('v128');
      const p = power;
      f.mulAdd(hi, () => f.get(p), lo).set(v);
      next.push(() => void f.get(v));
    }
    terms = next;
    if (terms.length > 1) {
      const square = f.local('v128');
      f.get(power).get(power).op('f32x4.mul').set(square);
      power = square;
    }
  }
  terms[0]!();
}

/** 2^n for the i32 lanes of local n, -126 <= n <= 127: the exponent field of an f32 set directly. */
function pow2(f: FunctionBody, n: number): void {
  f.get(n).i32x4(127).op('i32x4.add').i32(23).op('i32x4.shl');
}

/**
 * exp(x) lane-wise. x = n*ln2 + r with |r| <= ln2/2, exp(r) by a degree-7 polynomial, times 2^n.
 * x is clamped to [-104, 89] first: exp(-104) rounds to 0 in f32 and exp(89) overflows to
 * infinity, so the extremes come out as Math.exp's do once stored as f32 (0, Infinity; NaN stays).
 */
export function exp(f: FunctionBody, x: number): void {
  const r = f.local('v128'), t = f.local('v128'), n = f.local('v128'), ni = f.local('v128'), half = f.local('v128');
  // pmax(x, lo) is `x < lo ? lo : x` and keeps a NaN x, as pmin does: one instruction each on
  // x64, where f32x4.min/max take several to order NaN and -0 as IEEE says
  f.get(x).f32x4(-104).op('f32x4.pmax').f32x4(89).op('f32x4.pmin').set(r);
  // n = nearest(x / ln 2) by adding 1.5 * 2^23: the sum's low mantissa bits are then n itself
  // (as an integer, once the magic's bits are taken off), which saves a round and a conversion
  f.mulAdd(() => f.get(r), () => f.f32x4(Math.LOG2E), () => f.f32x4(ROUND_MAGIC)).set(t);
  f.get(t).f32x4(ROUND_MAGIC).op('f32x4.sub').set(n);
  f.get(t).i32x4(ROUND_MAGIC_BITS).op('i32x4.sub').set(ni);
  // r = x - n*ln2 with ln2 in two parts (Cody and Waite): n*0.693359375 is exact (few bits)
  f.mulAdd(() => f.get(n), () => f.f32x4(-0.693359375), () => f.get(r)).set(r);
  f.mulAdd(() => f.get(n), () => f.f32x4(2.12194440e-4), () => f.get(r)).set(r);
  // exp(r) = 1 + r + r^2 * P(r)
  estrin(f, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);
  f.set(t);
  f.mulAdd(() => f.get(t), () => f.get(r).get(r).op('f32x4.mul'), () => f.get(r)).f32x4(1).op('f32x4.add');
  // times 2^n as 2^(n>>1) * 2^(n - n>>1): n runs from -150 to 128, past one exponent field's
  // range, and the second product rounds into the subnormals or to infinity as it should
  f.get(ni).i32(1).op('i32x4.shr_s').set(half);
  pow2(f, half);
  f.op('f32x4.mul');
  f.get(ni).get(half).op('i32x4.sub').set(ni);
  pow2(f, ni);
  f.op('f32x4.mul');
}

/** 1.5 * 2^23: adding it to |v| < 2^22 rounds v to an integer (ties to even) held in the low mantissa bits. */
const ROUND_MAGIC = 12582912;
const ROUND_MAGIC_BITS = 0x4b400000;

/**
 * log(x) lane-wise: x = m * 2^e with sqrt(1/2) <= m < sqrt(2), log(m) by a degree-9 polynomial
 * in m - 1, plus e*ln2 (in two parts). Subnormal x is scaled by 2^23 first; 0 gives -Infinity,
 * negative x NaN, Infinity and NaN themselves, as Math.log.
 */
export function log(f: FunctionBody, x: number): void {
  const v = f.local('v128'), e = f.local('v128'), m = f.local('v128'), small = f.local('v128'), z = f.local('v128');
  // subnormals: scale up by 2^23 and take 23 off the exponent
  f.get(x).f32x4(1.17549435e-38).op('f32x4.lt').set(small);
  f.get(x).f32x4(8388608).op('f32x4.mul').get(x).get(small).op('v128.bitselect').set(v);
  // e = biased exponent - 126, m = mantissa with the exponent of 0.5: v = m * 2^e, 0.5 <= m < 1
  f.get(v).i32(23).op('i32x4.shr_u').i32x4(126).op('i32x4.sub');
  f.get(small).i32x4(23).op('v128.and').op('i32x4.sub').op('f32x4.convert_i32x4_s').set(e);
  f.get(v).i32x4(0x807fffff).op('v128.and').i32x4(0x3f000000).op('v128.or').set(m);
  // m < sqrt(1/2): use 2m - 1 and e - 1, else m - 1, so the polynomial's argument stays in [-0.29, 0.41]
  f.get(m).f32x4(Math.SQRT1_2).op('f32x4.lt').set(small);
  f.get(e).f32x4(1).op('f32x4.sub').get(e).get(small).op('v128.bitselect').set(e);
  f.get(m).get(m).get(small).op('v128.and').op('f32x4.add').f32x4(1).op('f32x4.sub').set(m);
  f.get(m).get(m).op('f32x4.mul').set(z);
  // log(1 + m) = m - m^2/2 + m^3 * P(m)
  estrin(f, m, [
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
  ]);
  f.get(m).op('f32x4.mul').get(z).op('f32x4.mul');
  f.get(e).f32x4(-2.12194440e-4).op('f32x4.mul').op('f32x4.add');
  f.get(z).f32x4(-0.5).op('f32x4.mul').op('f32x4.add');
  f.get(m).op('f32x4.add');
  f.get(e).f32x4(0.693359375).op('f32x4.mul').op('f32x4.add').set(z);
  // the edges: 0 -> -Infinity, < 0 -> NaN, and x itself for Infinity and NaN
  f.f32x4(-Infinity).get(z).get(x).f32x4(0).op('f32x4.eq').op('v128.bitselect').set(z);
  f.f32x4(NaN).get(z).get(x).f32x4(0).op('f32x4.lt').op('v128.bitselect').set(z);
  f.get(x).get(z).get(x).get(x).op('f32x4.ne').get(x).f32x4(Infinity).op('f32x4.eq').op('v128.or').op('v128.bitselect');
}

// v128.bitselect(a, b, mask) takes a's bits where the mask is set, b's elsewhere; the f32x4
// comparisons give all-ones lanes for true. So `a b mask bitselect` reads "mask ? a : b".

/** The sign bit of local x put onto the non-negative vector on the stack (copysign). */
function copySign(f: FunctionBody, x: number): void {
  f.get(x).i32x4(-0x80000000).op('v128.and').op('v128.or');
}

/**
 * tanh(x) lane-wise, as Cephes' tanhf: an odd polynomial for |x| < 0.625 (where 1 - 2/(e^2x + 1)
 * would cancel), else 1 - 2/(exp(2|x|) + 1) with x's sign.
 */
export function tanh(f: FunctionBody, x: number): void {
  const a = f.local('v128'), z = f.local('v128'), e = f.local('v128'), big = f.local('v128');
  f.get(x).op('f32x4.abs').set(a);
  f.get(a).get(a).op('f32x4.add').set(e);
  exp(f, e);
  f.f32x4(1).op('f32x4.add').set(e);
  f.f32x4(1).f32x4(2).get(e).op('f32x4.div').op('f32x4.sub');
  copySign(f, x);
  f.set(big);
  f.get(x).get(x).op('f32x4.mul').set(z);
  estrin(f, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]);
  f.get(z).op('f32x4.mul').set(e);
  f.mulAdd(() => f.get(e), () => f.get(x), () => f.get(x));
  f.get(big).get(a).f32x4(0.625).op('f32x4.lt').op('v128.bitselect'); // small |x|: the polynomial (NaN goes big)
}

/**
 * sigmoid(x) lane-wise, from e = exp(-|x|): 1/(1 + e) for x >= 0, e/(1 + e) below. The second
 * form keeps the left tail (down to the subnormals) where 1/(1 + exp(-x)) would overflow to 0.
 */
export function sigmoid(f: FunctionBody, x: number): void {
  const e = f.local('v128');
  f.get(x).op('f32x4.abs').op('f32x4.neg').set(e);
  exp(f, e);
  f.set(e);
  f.f32x4(1).get(e).get(x).f32x4(0).op('f32x4.ge').op('v128.bitselect');
  f.get(e).f32x4(1).op('f32x4.add').op('f32x4.div');
}

/**
 * erfc(z) for z >= 0 lane-wise, Numerical Recipes' erfcc, as cpu/math.ts's erf uses it:
 * t = 1/(1 + z/2), erfc(z) = t * exp(-z^2 - 1.26551223 + t*P(t)).
 */
export function erfcNonNegative(f: FunctionBody, z: number): void {
  const t = f.local('v128'), arg = f.local('v128');
  f.f32x4(1);
  f.mulAdd(() => f.get(z), () => f.f32x4(0.5), () => f.f32x4(1)).op('f32x4.div').set(t);
  estrin(f, t, [
    0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418,
    0.37409196, 1.00002368, -1.26551223,
  ]);
  f.get(z).get(z).op('f32x4.mul').op('f32x4.sub').set(arg);
  exp(f, arg);
  f.get(t).op('f32x4.mul');
}

/** erf(x) = 1 - erfc(|x|) for x >= 0, erfc(|x|) - 1 below (NaN stays NaN). */
export function erf(f: FunctionBody, x: number): void {
  const z = f.local('v128'), r = f.local('v128');
  f.get(x).op('f32x4.abs').set(z);
  erfcNonNegative(f, z);
  f.set(r);
  f.f32x4(1).get(r).op('f32x4.sub').get(r).f32x4(1).op('f32x4.sub').get(x).f32x4(0).op('f32x4.ge').op('v128.bitselect');
}

/**
 * erf(w) = w * P(w^2) for |w| <= 1.5, P of degree 7: a least-squares fit on Chebyshev nodes in
 * float64, rounded to f32 (test/ref/fit_erf_poly.py makes and checks it). Evaluated in f32, erf is
 * within 1.7e-7 of the true value there and GELU within 3.1e-7 (the kernels' bound against the
 * reference: 1e-6 + 1e-6 relative).
 */
const ERF_POLY = [
  -5.393582341639558e-6, 8.972236537374556e-5, -7.966167759150267e-4, 5.158782936632633e-3,
  -2.6823893189430237e-2, 1.1282320320606232e-1, -3.761240839958191e-1, 1.1283791065216064,
];
/** |x| below which Phi(x) takes the polynomial: 1.5 sqrt 2 (w = x / sqrt 2 up to 1.5). */
const ERF_POLY_X = 2.1213202476501465;

/**
 * The normal CDF Phi(x). Where every lane has |x| < 1.5 sqrt 2 (most of a ViT's activations):
 * (1 + erf(x / sqrt 2)) / 2 with erf a polynomial, no division and no exp (GELU ~2.5x faster).
 * Else erfc(-x/sqrt 2)/2, from the erfc of |x|/sqrt 2: 1 - erfc/2 for x >= 0, erfc/2 below, so
 * the left tail keeps its relative precision in f32 (1 + erf(x) would cancel to 0 for x below
 * about -5.5; on the polynomial's range Phi >= 0.017 and the absolute error stays below 2e-7).
 */
export function normalCdf(f: FunctionBody, x: number): void {
  const r = f.local('v128');
  // NaN lanes compare false and take the polynomial, which keeps them NaN
  f.get(x).op('f32x4.abs').f32x4(ERF_POLY_X).op('f32x4.ge').op('v128.any_true').op('i32.eqz').if();
  {
    const w = f.local('v128'), t = f.local('v128');
    f.get(x).f32x4(Math.SQRT1_2).op('f32x4.mul').tee(w).get(w).op('f32x4.mul').set(t);
    estrin(f, t, ERF_POLY);
    f.get(w).op('f32x4.mul').set(r);
    f.mulAdd(() => f.get(r), () => f.f32x4(0.5), () => f.f32x4(0.5)).set(r);
  }
  f.else();
  {
    const z = f.local('v128'), h = f.local('v128');
    f.get(x).op('f32x4.abs').f32x4(Math.SQRT1_2).op('f32x4.mul').set(z);
    erfcNonNegative(f, z);
    f.f32x4(0.5).op('f32x4.mul').set(h);
    f.f32x4(1).get(h).op('f32x4.sub').get(h).get(x).f32x4(0).op('f32x4.ge').op('v128.bitselect').set(r);
  }
  f.end();
  f.get(r);
}

/** GELU, the exact (erf) form: x * Phi(x). */
export function gelu(f: FunctionBody, x: number): void {
  normalCdf(f, x);
  f.get(x).op('f32x4.mul');
}

/** d gelu/dx = Phi(x) + x * phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi). */
export function geluGrad(f: FunctionBody, x: number): void {
  const cdf = f.local('v128');
  normalCdf(f, x);
  f.set(cdf);
  geluGradFromCdf(f, x, cdf);
}

/** d gelu/dx with Phi(x) given in local cdf: cdf + x * exp(-x^2/2) / sqrt(2 pi). */
export function geluGradFromCdf(f: FunctionBody, x: number, cdf: number): void {
  const e = f.local('v128');
  f.get(x).get(x).op('f32x4.mul').f32x4(-0.5).op('f32x4.mul').set(e);
  f.mulAdd(() => exp(f, e), () => f.get(x).f32x4(1 / Math.sqrt(2 * Math.PI)).op('f32x4.mul'), () => f.get(cdf));
}

/** The sum of the four lanes of local v (pairwise: (v0+v2) + (v1+v3)), as an f32 on the stack. */
export function horizontalSum(f: FunctionBody, v: number): void {
  const w = f.local('v128');
  f.get(v).get(v).get(v).shuffleLanes([2, 3, 0, 1]).op('f32x4.add').set(w);
  f.get(w).get(w).get(w).shuffleLanes([1, 0, 3, 2]).op('f32x4.add').f32x4ExtractLane(0);
}

/** The largest (or smallest) of the four lanes of local v, NaN if any lane is, as an f32 on the stack. */
export function horizontalExtreme(f: FunctionBody, v: number, op: 'f32x4.max' | 'f32x4.min' = 'f32x4.max'): void {
  const w = f.local('v128');
  f.get(v).get(v).get(v).shuffleLanes([2, 3, 0, 1]).op(op).set(w);
  f.get(w).get(w).get(w).shuffleLanes([1, 0, 3, 2]).op(op).f32x4ExtractLane(0);
}
