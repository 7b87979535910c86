"""The polynomial behind the SIMD GELU's fast path (src/kernels/wasm/vmath.ts, ERF_POLY).

erf(w) = w * P(w^2) for |w| <= 1.5, P of degree 7: least squares on 6000 Chebyshev nodes in
t = w^2, weighted by w (so the fit minimises erf's absolute error), in float64; the coefficients
are then rounded to f32 and the whole GELU, x * (1 + erf(x / sqrt 2)) / 2, is evaluated in f32
(one rounding per multiply-add) to check the error against float64 math.erf.

    /usr/bin/python3 packages/tensor/test/ref/fit_erf_poly.py

prints the coefficients (highest power first, as vmath.ts's estrin() takes them) and:
    max |erf error| 1.65e-07, max |gelu error| 3.05e-07, worst error / (1e-6 + 1e-6 |gelu|) 0.17
"""
import math

import numpy as np

W0, DEGREE, NODES = 1.5, 7, 6000

t = (np.cos(np.pi * (np.arange(NODES) + 0.5) / NODES) + 1) / 2 * W0 * W0
w = np.sqrt(t)
g = np.array([math.erf(x) / x for x in w])
V = np.vander(t, DEGREE + 1, increasing=True)
c, *_ = np.linalg.lstsq(V * w[:, None], g * w, rcond=None)
c32 = c.astype(np.float32)
print("ERF_POLY =", [float(v) for v in c32[::-1]])
print("ERF_POLY_X =", float(np.float32(W0 * math.sqrt(2))))

f32 = np.float32
xs = np.linspace(-W0 * math.sqrt(2), W0 * math.sqrt(2), 200001).astype(f32)
ww = (xs * f32(1 / math.sqrt(2))).astype(f32)
tt = ww * ww
p = np.full(tt.shape, c32[-1], dtype=np.float64)
for k in range(DEGREE - 1, -1, -1):  # Horner, one rounding per fused multiply-add
    p = (p * tt.astype(np.float64) + float(c32[k])).astype(f32).astype(np.float64)
e = (ww * p.astype(f32)).astype(f32)
phi = (f32(0.5) * e + f32(0.5)).astype(f32)
gelu = (xs * phi).astype(f32).astype(np.float64)
ref = np.array([0.5 * float(x) * (1 + math.erf(float(x) / math.sqrt(2))) for x in xs])
erf_err = np.abs(e.astype(np.float64) - np.array([math.erf(float(x)) for x in ww])).max()
gelu_err = np.abs(gelu - ref)
print(f"max |erf error| {erf_err:.3g}, max |gelu error| {gelu_err.max():.3g}, "
      f"worst error / (1e-6 + 1e-6 |gelu|) {(gelu_err / (1e-6 + 1e-6 * np.abs(ref))).max():.2g}")
