"""PyTorch reference values for BitNet b1.58's quantizers and BitLinear (BITNET.md section 1).

Plain torch, written from the formulas, not from the TypeScript code:

    gamma = max(mean|W|, 1e-5)                 (per tensor, or per output row)
    Wq    = clip(round(W / gamma), -1, 1) * gamma
    s     = 127 / max(max|x|, 1e-5)            (per token, over the last dim; a true division)
    xq    = clip(round(x * s), -128, 127) / s
    y     = STE(xq) @ STE(Wq)^T + b,  STE(q) = x + (q - x).detach()

torch.round rounds half to even. The optional input norm is torch's LayerNorm (eps 1e-5) or an
RMSNorm written out (torch 1.13 has none): x * rsqrt(mean(x^2) + 1e-6) * weight.

Run with /usr/bin/python3 (torch 1.13):  python3 make_bitlinear_reference.py  -> bitlinear_reference.json
"""
import json
import os

import numpy as np
import torch

torch.manual_seed(0)


def f32list(t):
    """Float32 values as the shortest decimals that round-trip (JSON stays small, JS Math.fround restores them)."""
    return [float(repr(np.float32(v))) for v in t.detach().reshape(-1).tolist()]


def absmean_scale(w, per):
    a = w.abs()
    gamma = a.mean() if per == "tensor" else a.mean(dim=1, keepdim=True)
    return gamma.clamp(min=1e-5)


def weight_quant(w, per):
    gamma = absmean_scale(w, per)
    return (w / gamma).round().clamp(-1, 1) * gamma, gamma


def activation_quant(x):
    # A true division. The usual idiom `127.0 / t` is torch's __rtruediv__, t.reciprocal() * 127:
    # two roundings, which can put s one float32 ulp away from 127 / t (stored as s_idiom below).
    s = torch.div(torch.tensor(127.0), x.abs().max(dim=-1, keepdim=True).values.clamp(min=1e-5))
    return (x * s).round().clamp(-128, 127) / s, s


def rms_norm(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def bitlinear(x, w, b, norm, norm_w, norm_b, per, act_bits):
    if norm == "rmsnorm":
        xn = rms_norm(x, norm_w)
    elif norm == "layernorm":
        xn = torch.nn.functional.layer_norm(x, (x.shape[-1],), norm_w, norm_b, eps=1e-5)
    else:
        xn = x
    xq = xn if act_bits is None else xn + (activation_quant(xn)[0] - xn).detach()
    wq = w + (weight_quant(w, per)[0] - w).detach()
    return xq @ wq.t() + b


out = {"generator": "make_bitlinear_reference.py, torch " + torch.__version__}

# --- quantizers -------------------------------------------------------------------------------
W = torch.randn(4, 6) * 0.05
quant = {"W": {"shape": list(W.shape), "data": f32list(W)}}
for per in ("tensor", "channel"):
    wq, gamma = weight_quant(W, per)
    quant[f"weight_{per}"] = {"gamma": f32list(gamma), "wq": f32list(wq), "codes": f32list((W / gamma).round().clamp(-1, 1))}

# Exact halves: gamma = mean|W| = 1 (and 0.25, a power of two, so W / gamma stays exact).
halves = torch.tensor([[0.5, -0.5, 1.5, -1.5, 1.0, -1.0, 2.0, 0.0]])
for name, scale in (("halves_1", 1.0), ("halves_quarter", 0.25)):
    w = halves * scale
    wq, gamma = weight_quant(w, "tensor")
    quant[f"weight_{name}"] = {"W": f32list(w), "gamma": f32list(gamma), "wq": f32list(wq)}

Z = torch.zeros(2, 3)
wq, gamma = weight_quant(Z, "tensor")
quant["weight_zero"] = {"gamma": f32list(gamma), "wq": f32list(wq)}

X = torch.randn(3, 8) * 2.0
xq, s = activation_quant(X)
s_idiom = 127.0 / X.abs().max(dim=-1, keepdim=True).values.clamp(min=1e-5)
quant["act"] = {
    "X": {"shape": list(X.shape), "data": f32list(X)}, "s": f32list(s), "xq": f32list(xq), "codes": f32list((X * s).round()),
    "s_idiom": f32list(s_idiom),
}

# max|x| = 127 gives s = 1 and max|x| = 63.5 gives s = 2: x * s lands exactly on .5, 1.5, 2.5.
XH = torch.tensor([
    [127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -127.0],
    [63.5, 0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 3.25],
])
xq, s = activation_quant(XH)
quant["act_halves"] = {"X": f32list(XH), "s": f32list(s), "xq": f32list(xq), "codes": f32list((XH * s).round())}

XZ = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1e-7, -2e-7, 0.0, 5e-8]])
xq, s = activation_quant(XZ)
quant["act_tiny"] = {"X": f32list(XZ), "s": f32list(s), "xq": f32list(xq)}
out["quantizers"] = quant

# --- BitLinear forward and backward -----------------------------------------------------------
IN, OUT = 8, 5
x0 = torch.randn(2, 3, IN) * 1.5
w0 = torch.randn(OUT, IN) * 0.3
b0 = torch.randn(OUT) * 0.1
nw0 = 1.0 + 0.2 * torch.randn(IN)
nb0 = 0.1 * torch.randn(IN)
g0 = torch.randn(2, 3, OUT)
bl = {
    "x": {"shape": list(x0.shape), "data": f32list(x0)},
    "weight": {"shape": list(w0.shape), "data": f32list(w0)},
    "bias": f32list(b0),
    "norm_weight": f32list(nw0),
    "norm_bias": f32list(nb0),
    "grad_out": f32list(g0),
    "cases": [],
}
for norm in ("none", "rmsnorm", "layernorm"):
    for per in ("tensor", "channel"):
        for act_bits in (8, None):
            x = x0.clone().requires_grad_(True)
            w = w0.clone().requires_grad_(True)
            b = b0.clone().requires_grad_(True)
            nw = nw0.clone().requires_grad_(True)
            nb = nb0.clone().requires_grad_(True)
            y = bitlinear(x, w, b, norm, nw, nb, per, act_bits)
            y.backward(g0)
            case = {
                "input_norm": norm, "weight_scale": per, "activation_bits": act_bits,
                "y": f32list(y), "dx": f32list(x.grad), "dweight": f32list(w.grad), "dbias": f32list(b.grad),
            }
            if norm != "none":
                case["dnorm_weight"] = f32list(nw.grad)
            if norm == "layernorm":
                case["dnorm_bias"] = f32list(nb.grad)
            bl["cases"].append(case)
out["bitlinear"] = bl

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bitlinear_reference.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(f"wrote {path} ({os.path.getsize(path)} bytes)")
