"""PyTorch reference values for the PTQ weight quantizers (BITNET.md section 2).

Plain torch, written independently of the TypeScript code: absmean, TWN, the least-squares
scale refit, the asymmetric (per-row zero point) variants and two ternary planes, per tensor
and per output channel. The least-squares fits use torch.linalg.lstsq on the full design
matrix (not the centering trick the TypeScript uses), so the two derivations check each other.

Run with /usr/bin/python3 (torch 1.13):  python3 make_ptq_reference.py  -> ptq_reference.json
"""
import json
import os

import torch

torch.manual_seed(0)


def absmean(w, per):
    a = w.abs()
    gamma = (a.mean() if per == "tensor" else a.mean(dim=1, keepdim=True)).clamp(min=1e-5)
    codes = torch.round(w / gamma).clamp(-1, 1)  # torch.round: half to even
    return codes, gamma.reshape(-1)


def twn(w, per):
    a = w.double().abs()
    m = a.mean() if per == "tensor" else a.mean(dim=1, keepdim=True)
    delta = 0.7 * m
    keep = a > delta
    codes = torch.sign(w.double()) * keep
    if per == "tensor":
        alpha = (a * keep).sum() / keep.sum()
    else:
        alpha = (a * keep).sum(dim=1) / keep.sum(dim=1)
    return codes.float(), alpha.reshape(-1).float()


def lstsq_fit(w, planes, per, zero_point):
    """Minimise ||W - beta 1^T - sum_k alpha_k T_k|| with scales per tensor or per row, beta per row."""
    rows, cols = w.shape
    w = w.double()
    planes = [p.double() for p in planes]
    K = len(planes)
    if per == "channel":
        alphas = torch.zeros(K, rows, dtype=torch.float64)
        beta = torch.zeros(rows, dtype=torch.float64)
        for r in range(rows):
            cols_ = [p[r] for p in planes] + ([torch.ones(cols, dtype=torch.float64)] if zero_point else [])
            A = torch.stack(cols_, dim=1)
            x = torch.linalg.lstsq(A, w[r].unsqueeze(1)).solution.squeeze(1)
            alphas[:, r] = x[:K]
            if zero_point:
                beta[r] = x[K]
        return [alphas[k].float() for k in range(K)], (beta.float() if zero_point else None)
    # per tensor: K shared scales, one zero point per row -> one big design matrix
    n_extra = rows if zero_point else 0
    A = torch.zeros(rows * cols, K + n_extra, dtype=torch.float64)
    for k in range(K):
        A[:, k] = planes[k].reshape(-1)
    if zero_point:
        for r in range(rows):
            A[r * cols:(r + 1) * cols, K + r] = 1
    x = torch.linalg.lstsq(A, w.reshape(-1, 1)).solution.squeeze(1)
    alphas = [x[k:k + 1].float() for k in range(K)]
    beta = x[K:].float() if zero_point else None
    return alphas, beta


def quantize(w, method, per, symmetric):
    rows, cols = w.shape
    if method == "two-plane":
        start = w if symmetric else w - w.mean(dim=1, keepdim=True)
        t1, _ = twn(start, per)
        (a1,), b1 = lstsq_fit(w, [t1], per, not symmetric)
        a1r = a1.reshape(-1, 1) if per == "channel" else a1
        resid = w - (b1.reshape(-1, 1) if b1 is not None else 0) - a1r * t1
        t2, _ = twn(resid, per)
        alphas, beta = lstsq_fit(w, [t1, t2], per, not symmetric)
        return [t1, t2], alphas, beta
    beta = None if symmetric else w.mean(dim=1)
    target = w if symmetric else w - beta.reshape(-1, 1)
    codes, alpha = (absmean if method.startswith("absmean") else twn)(target, per)
    if method.endswith("-refit"):
        (alpha,), beta = lstsq_fit(w, [codes], per, not symmetric)
    return [codes], [alpha], beta


def dequant(planes, alphas, beta, per):
    out = torch.zeros_like(planes[0], dtype=torch.float64)
    for t, a in zip(planes, alphas):
        out += (a.double().reshape(-1, 1) if per == "channel" else a.double()) * t.double()
    if beta is not None:
        out += beta.double().reshape(-1, 1)
    return out.float()


def case_matrices():
    # Half-to-even: mean|W| = 1 exactly, W/gamma hits +-0.5 and +-1.5.
    ties = torch.tensor([[0.5, -0.5, 1.5, -1.5], [1.5, -1.5, 0.5, -0.5]], dtype=torch.float32)
    # Random rows with different spreads and offsets (so per-channel and zero points matter).
    r1 = torch.randn(6, 10) * torch.tensor([0.05, 0.1, 0.2, 0.4, 0.8, 1.6]).reshape(-1, 1)
    r1 += torch.tensor([0.0, 0.05, -0.1, 0.2, 0.0, -0.5]).reshape(-1, 1)
    r2 = torch.randn(5, 16) * 0.3 + torch.randn(5, 1) * 0.1
    return {"ties": ties, "random6x10": r1, "random5x16": r2}


def main():
    methods = ["absmean", "twn", "absmean-refit", "twn-refit", "two-plane"]
    out = {"torch": torch.__version__, "cases": []}
    for name, w in case_matrices().items():
        results = {}
        for method in methods:
            for per in ["tensor", "channel"]:
                for symmetric in [True, False]:
                    planes, alphas, beta = quantize(w, method, per, symmetric)
                    results[f"{method}/{per}/{'sym' if symmetric else 'asym'}"] = {
                        "codes": [p.to(torch.int64).reshape(-1).tolist() for p in planes],
                        "alpha": [a.reshape(-1).tolist() for a in alphas],
                        "beta": None if beta is None else beta.tolist(),
                        "dequantized": dequant(planes, alphas, beta, per).reshape(-1).tolist(),
                    }
        out["cases"].append({"name": name, "rows": w.shape[0], "cols": w.shape[1], "w": w.reshape(-1).tolist(), "results": results})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ptq_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
