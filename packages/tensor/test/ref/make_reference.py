"""PyTorch reference values for packages/tensor/test/torch-reference.test.ts.

Run by hand from the repository root (Debian's python3-torch, torch 1.13, CPU):

    /usr/bin/python3 packages/tensor/test/ref/make_reference.py

It writes torch_reference.json beside this script; the tests read that file and never need
PyTorch. Commit both.

Every case stores its float32 inputs, so the TypeScript side computes on exactly the same
values. Tensors are {"shape": [...], "data": [flat row-major values]}; inputs are written with
9 significant digits, which round-trips float32 exactly. Each case's output `out` and the
gradients of sum(out * w), for a fixed random `w` (stored too, and fed to backward() as the
seed), are computed in float64 from those float32 inputs: that is the exact answer the float32
kernels approximate. The script also checks that PyTorch's own float32 results lie within the
tolerance the tests use (rtol 1e-5, atol 1e-6) of these values, so the tolerance is one a
float32 PyTorch user meets too, and fails loudly otherwise.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "torch_reference.json")
RTOL, ATOL = 1e-5, 1e-6

gen = torch.Generator().manual_seed(20240617)


def randn(*shape, scale=1.0, offset=0.0):
    return (torch.randn(tuple(shape), generator=gen) * scale + offset).to(torch.float32)


def enc_input(t):
    t = t.detach().to(torch.float32).contiguous().reshape(-1)
    data = [float(f"{v:.9g}") for v in t.tolist()]
    assert torch.equal(torch.tensor(data, dtype=torch.float32), t), "9 digits must round-trip float32"
    return data


def enc_exact(t):
    # float64 results: 10 significant digits are far finer than the 1e-5 tolerance
    return [float(f"{v:.10g}") for v in t.detach().to(torch.float64).contiguous().reshape(-1).tolist()]


def tensor_json(t, exact=False):
    return {"shape": list(t.shape), "data": enc_exact(t) if exact else enc_input(t)}


def check_float32(name, got32, want64):
    diff = (got32.double() - want64).abs()
    bound = ATOL + RTOL * want64.abs()
    worst = (diff - bound).max().item()
    if worst > 0:
        raise SystemExit(f"{name}: torch float32 differs from float64 by more than the test tolerance ({diff.max().item():.3g})")


def case(name, fn, inputs, consts=None, grad=True):
    """fn(**inputs, **consts) -> out. inputs are differentiated; consts (indices, flags) are not."""
    consts = consts or {}
    results = {}
    for dtype in (torch.float64, torch.float32):
        xs = {k: v.to(dtype).clone().requires_grad_(grad) for k, v in inputs.items()}
        out = fn(**xs, **consts)
        if dtype == torch.float64:
            w = randn(*out.shape)
        if grad:
            (out * w.to(dtype)).sum().backward()
        results[dtype] = (out.detach(), {k: x.grad for k, x in xs.items()})
    out64, grads64 = results[torch.float64]
    out32, grads32 = results[torch.float32]
    check_float32(f"{name} out", out32, out64)
    entry = {
        "inputs": {k: tensor_json(v) for k, v in inputs.items()},
        "consts": {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in consts.items()},
        "out": tensor_json(out64, exact=True),
    }
    if grad:
        for k in inputs:
            check_float32(f"{name} grad {k}", grads32[k], grads64[k])
        entry["w"] = tensor_json(w)
        entry["grads"] = {k: tensor_json(g, exact=True) for k, g in grads64.items()}
    return name, entry


cases = dict([
    # softmax / logSoftmax: along the last dim and a middle dim; large logits test the max shift.
    case("softmax_last", lambda x: F.softmax(x, dim=-1), {"x": randn(4, 7, scale=3)}),
    case("softmax_dim1", lambda x: F.softmax(x, dim=1), {"x": randn(2, 5, 3, scale=2)}),
    case("logSoftmax_last_large", lambda x: F.log_softmax(x, dim=-1), {"x": randn(3, 10, scale=4, offset=60)}),
    case("logSoftmax_dim0", lambda x: F.log_softmax(x, dim=0), {"x": randn(6, 4, scale=2)}),
    # layerNorm over the last dim, with the two eps values the models use; a row of tiny
    # variance (std 1e-3) makes eps matter: 1e-5 is then 10x the variance, 1e-12 negligible.
    case("layerNorm_eps1e-5", lambda x, weight, bias: F.layer_norm(x, (16,), weight, bias, 1e-5),
         {"x": randn(3, 4, 16, scale=2, offset=0.5), "weight": randn(16, scale=0.5, offset=1), "bias": randn(16, scale=0.3)}),
    case("layerNorm_eps1e-12", lambda x, weight, bias: F.layer_norm(x, (16,), weight, bias, 1e-12),
         {"x": randn(5, 16), "weight": randn(16, scale=0.5, offset=1), "bias": randn(16, scale=0.3)}),
    case("layerNorm_tinyvar_eps1e-5", lambda x, weight, bias: F.layer_norm(x, (12,), weight, bias, 1e-5),
         {"x": randn(3, 12, scale=1e-3, offset=0.01), "weight": randn(12, scale=0.5, offset=1), "bias": randn(12, scale=0.3)}),
    case("layerNorm_noaffine", lambda x: F.layer_norm(x, (8,), None, None, 1e-5), {"x": randn(6, 8, scale=3)}),
    # gelu, exact erf form, over a wide range
    case("gelu", lambda x: F.gelu(x), {"x": torch.cat([torch.linspace(-5, 5, 41), randn(40, scale=2)])}),
    # matmul chains: (A@B).relu()@C, 2-D and batched with broadcast batch dims
    case("matmul_chain", lambda a, b, c: torch.relu(a @ b) @ c,
         {"a": randn(5, 8), "b": randn(8, 6, scale=0.5), "c": randn(6, 3)}),
    case("matmul_chain_batched", lambda a, b, c: torch.relu(a @ b) @ c,
         {"a": randn(2, 1, 4, 8), "b": randn(3, 8, 6, scale=0.5), "c": randn(6, 5)}),
    # attention: softmax(q k^T / sqrt(d)) v, batch 2, 3 heads, 5 tokens, head width 4
    case("attention", lambda q, k, v: F.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1) @ v,
         {"q": randn(2, 3, 5, 4), "k": randn(2, 3, 5, 4), "v": randn(2, 3, 5, 4)}),
    case("linear", lambda x, weight, bias: F.linear(x, weight, bias),
         {"x": randn(2, 3, 8), "weight": randn(5, 8, scale=0.4), "bias": randn(5)}),
    # cross entropy as the MLP bench writes it: -mean(gather(logSoftmax(logits), target))
    case("cross_entropy", lambda logits, target: F.cross_entropy(logits, target),
         {"logits": randn(6, 10, scale=2)}, {"target": torch.tensor([3, 0, 9, 3, 7, 1])}),
    # var with Bessel's correction (torch default) and without
    case("var_dim1_keepdim", lambda x: torch.var(x, dim=1, keepdim=True), {"x": randn(3, 5, 4, scale=2)}),
    case("var_all", lambda x: torch.var(x), {"x": randn(4, 6)}),
    case("var_dims02_unbiased0", lambda x: torch.var(x, dim=(0, 2), unbiased=False), {"x": randn(3, 5, 4)}),
    # round: half to even, sign of zero kept; no gradient
    case("round", lambda x: torch.round(x),
         {"x": torch.tensor([-3.5, -2.5, -1.5, -0.5, -0.4, 0.5, 1.5, 2.5, 3.5, 0.49999997, 1.4999999, -7.5, 1048576.5, 2.7, -2.7])},
         grad=False),
])

doc = {
    "generator": "packages/tensor/test/ref/make_reference.py",
    "torch": torch.__version__,
    "note": "inputs float32 (9 digits); out and grads (of sum(out * w)) computed in float64 from them",
    "cases": cases,
}
with open(OUT, "w") as f:
    json.dump(doc, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {OUT}: {len(cases)} cases, {os.path.getsize(OUT)} bytes")
