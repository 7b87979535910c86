"""Reference values for packages/nn/test/{layers,losses,optim,schedule,module}.test.ts.

Run from the repository root:  /usr/bin/python3 packages/nn/test/ref/make_nn_reference.py
(torch 1.13, CPU, float32). Writes nn_reference.json beside this script.

Every case stores the inputs and weights it used, so the TypeScript side loads the
exact same float32 values. Tensors are {"shape": [...], "data": [flat row-major
values]}, each value printed with 9 significant digits, which round-trips float32.
Gradients come from backpropagating sum(y * gy) with a random upstream gradient gy
(stored too), which is what `y.backward(gy)` does on the TypeScript side.
"""

import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)


def enc(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]}


def randn(*shape, scale=1.0, offset=0.0):
    return torch.randn(*shape) * scale + offset


def leaf(t):
    return t.clone().requires_grad_(True)


def run_case(inputs, params, fn):
    """fn(inputs..., params...) -> y; returns y, gy and every gradient, all encoded."""
    xs = {k: leaf(v) for k, v in inputs.items()}
    ps = {k: leaf(v) for k, v in params.items()}
    y = fn(**xs, **ps)
    gy = torch.randn(y.shape)
    (y * gy).sum().backward()
    out = {"inputs": {k: enc(v) for k, v in inputs.items()},
           "params": {k: enc(v) for k, v in params.items()},
           "y": enc(y), "gy": enc(gy),
           "grads": {k: enc(t.grad) for k, t in {**xs, **ps}.items()}}
    return out


# ---------------------------------------------------------------- layers
layers = {}

layers["linear_bias"] = run_case(
    {"x": randn(2, 3, 5)}, {"weight": randn(4, 5, scale=0.4), "bias": randn(4, scale=0.4)},
    lambda x, weight, bias: F.linear(x, weight, bias))
layers["linear_nobias"] = run_case(
    {"x": randn(2, 3, 5)}, {"weight": randn(4, 5, scale=0.4)},
    lambda x, weight: F.linear(x, weight))

for name, eps in [("layernorm_eps1e-12", 1e-12), ("layernorm_eps1e-5", 1e-5)]:
    # Row 0 has an offset and a small spread (the mean subtraction matters), row 1 a large
    # scale, row 2 a variance of ~1e-6, where eps 1e-5 changes the output and 1e-12 does not.
    ln_x = randn(2, 3, 8) * torch.tensor([0.5, 10.0, 1e-3]).reshape(1, 3, 1) + torch.tensor([3.0, -2.0, 0.0]).reshape(1, 3, 1)
    case = run_case(
        {"x": ln_x}, {"weight": randn(8, scale=0.3, offset=1.0), "bias": randn(8, scale=0.3)},
        lambda x, weight, bias, eps=eps: F.layer_norm(x, (8,), weight, bias, eps))
    case["eps"] = eps
    layers[name] = case

# Rows of very different scale, one tiny, so eps is visible in the output.
rms_x = randn(2, 3, 8) * torch.tensor([1.0, 10.0, 1e-3]).reshape(1, 3, 1)
case = run_case(
    {"x": rms_x}, {"weight": randn(8, scale=0.3, offset=1.0)},
    lambda x, weight: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * weight)
case["eps"] = 1e-6
layers["rmsnorm"] = case

layers["gelu"] = run_case(
    {"x": torch.cat([torch.linspace(-6, 6, 25), randn(15, scale=2.0)])}, {},
    lambda x: F.gelu(x))

# Patch embedding: Conv2d with kernel = stride = 4 on [2,3,8,8].
conv_w, conv_b, conv_x = randn(6, 3, 4, 4, scale=0.2), randn(6, scale=0.2), randn(2, 3, 8, 8)
layers["conv2d"] = run_case({"x": conv_x}, {"weight": conv_w, "bias": conv_b},
                            lambda x, weight, bias: F.conv2d(x, weight, bias, stride=4))
layers["conv2d_tokens"] = run_case({"x": conv_x}, {"weight": conv_w, "bias": conv_b},
                                   lambda x, weight, bias: F.conv2d(x, weight, bias, stride=4).flatten(2).transpose(1, 2))


# Multi-head attention with separate q/k/v/out Linear layers (Hugging Face ViT's layout).
class TorchMHA(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.output = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        b, t, d = x.shape
        split = lambda y: y.reshape(b, t, self.heads, d // self.heads).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.output((probs @ v).permute(0, 2, 1, 3).reshape(b, t, d))


mha = TorchMHA(8, 2)
mha_x = randn(2, 5, 8)
mha_params = {n: p.detach().clone() for n, p in mha.named_parameters()}


layers["attention"] = run_case({"x": mha_x}, mha_params, lambda x, **p: torch.nn.utils.stateless.functional_call(mha, p, (x,)))
layers["attention"]["heads"] = 2
# Cross-check the hand-written attention against torch's own MultiheadAttention with the same weights.
with torch.no_grad():
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    ref.in_proj_weight.copy_(torch.cat([mha.query.weight, mha.key.weight, mha.value.weight]))
    ref.in_proj_bias.copy_(torch.cat([mha.query.bias, mha.key.bias, mha.value.bias]))
    ref.out_proj.weight.copy_(mha.output.weight)
    ref.out_proj.bias.copy_(mha.output.bias)
    assert torch.allclose(ref(mha_x, mha_x, mha_x, need_weights=False)[0], mha(mha_x), atol=1e-6)

layers["mlp"] = run_case(
    {"x": randn(2, 3, 8)},
    {"fc1.weight": randn(16, 8, scale=0.3), "fc1.bias": randn(16, scale=0.3),
     "fc2.weight": randn(8, 16, scale=0.3), "fc2.bias": randn(8, scale=0.3)},
    lambda x, **p: F.linear(F.gelu(F.linear(x, p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"]))

# ---------------------------------------------------------------- losses
losses = {}


def loss_case(fn, **tensors):
    """Value and gradients of a scalar loss. Float inputs are leaves; integer ones (targets) are not.
    The distillation losses detach the teacher, so it gets no gradient and none is stored."""
    leaves = {k: leaf(v) for k, v in tensors.items() if v.dtype == torch.float32}
    args = {k: leaves.get(k, v) for k, v in tensors.items()}
    value = fn(**args)
    value.backward()
    return {"inputs": {k: enc(v) if v.dtype == torch.float32 else v.tolist() for k, v in tensors.items()},
            "value": float(value), "grads": {k: enc(t.grad) for k, t in leaves.items() if t.grad is not None}}


logits = randn(4, 5, scale=3.0)
targets = torch.tensor([2, 0, 4, 1])
teacher = randn(4, 5, scale=3.0)
losses["cross_entropy"] = loss_case(lambda logits, targets: F.cross_entropy(logits, targets), logits=logits, targets=targets)
losses["cross_entropy_ls0.1"] = loss_case(lambda logits, targets: F.cross_entropy(logits, targets, label_smoothing=0.1),
                                          logits=logits, targets=targets)
for T in (1.0, 3.0):
    losses[f"soft_distillation_T{T:g}"] = loss_case(
        lambda student, teacher, T=T: F.kl_div(F.log_softmax(student / T, dim=-1), F.log_softmax(teacher.detach() / T, dim=-1),
                                               reduction="batchmean", log_target=True) * T * T,
        student=logits, teacher=teacher)
    losses[f"soft_distillation_T{T:g}"]["temperature"] = T
losses["hard_distillation"] = loss_case(lambda student, teacher: F.cross_entropy(student, teacher.detach().argmax(-1)),
                                        student=logits, teacher=teacher)
losses["mse"] = loss_case(lambda input, target: F.mse_loss(input, target), input=randn(3, 4), target=randn(3, 4))
huge = torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
losses["cross_entropy_huge"] = loss_case(lambda logits, targets: F.cross_entropy(logits, targets), logits=huge,
                                         targets=torch.tensor([2, 1]))
losses["cross_entropy_huge_ls0.1"] = loss_case(lambda logits, targets: F.cross_entropy(logits, targets, label_smoothing=0.1),
                                               logits=huge, targets=torch.tensor([2, 1]))
losses["soft_distillation_huge_T3"] = loss_case(
    lambda student, teacher: F.kl_div(F.log_softmax(student / 3, dim=-1), F.log_softmax(teacher.detach() / 3, dim=-1),
                                      reduction="batchmean", log_target=True) * 9,
    student=huge, teacher=huge.flip(-1))

# ---------------------------------------------------------------- optimizers
# A fixed small problem: y = x W^T + b fitted to random targets with MSE, 5 steps.
opt_problem = {"x": randn(6, 4), "y": randn(6, 3), "weight": randn(3, 4, scale=0.5), "bias": randn(3, scale=0.5)}


def run_optimizer(make, lrs=None, steps=5):
    w, b = leaf(opt_problem["weight"]), leaf(opt_problem["bias"])
    opt = make(w, b)
    out = {"weight": [], "bias": [], "loss": []}
    for step in range(steps):
        if lrs is not None:
            for g in opt.param_groups:
                g["lr"] = lrs[step]
        opt.zero_grad()
        loss = F.mse_loss(F.linear(opt_problem["x"], w, b), opt_problem["y"])
        loss.backward()
        opt.step()
        out["loss"].append(float(loss))
        out["weight"].append(enc(w))
        out["bias"].append(enc(b))
    return out


sched_lrs = [0.002, 0.004, 0.006, 0.005, 0.003]
optimizers = {
    "problem": {k: enc(v) for k, v in opt_problem.items()},
    "sgd": run_optimizer(lambda w, b: torch.optim.SGD([w, b], lr=0.1)),
    "sgd_momentum_wd": run_optimizer(lambda w, b: torch.optim.SGD([w, b], lr=0.1, momentum=0.9, weight_decay=0.01)),
    "sgd_nesterov_wd": run_optimizer(lambda w, b: torch.optim.SGD([w, b], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": run_optimizer(lambda w, b: torch.optim.Adam([w, b], lr=0.01)),
    "adam_l2": run_optimizer(lambda w, b: torch.optim.Adam([w, b], lr=0.01, weight_decay=0.01)),
    "adamw": run_optimizer(lambda w, b: torch.optim.AdamW([w, b], lr=0.01, weight_decay=0.05)),
    "adamw_groups": run_optimizer(lambda w, b: torch.optim.AdamW(
        [{"params": [w], "weight_decay": 0.05}, {"params": [b], "weight_decay": 0.0}], lr=0.01, betas=(0.9, 0.95))),
    "adamw_lr_schedule": run_optimizer(lambda w, b: torch.optim.AdamW([w, b], lr=0.0, weight_decay=0.05), lrs=sched_lrs),
    "adamw_lr_schedule_lrs": sched_lrs,
}

# clip_grad_norm_: one case that clips, one that does not.
clip = {}
for max_norm in (1.0, 100.0):
    g1, g2 = randn(3, 4), randn(5, scale=2.0)
    a, b = leaf(torch.zeros(3, 4)), leaf(torch.zeros(5))
    a.grad, b.grad = g1.clone(), g2.clone()
    norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
    clip[f"max{max_norm:g}"] = {"max_norm": max_norm, "grads": [enc(g1), enc(g2)], "norm": float(norm),
                                "clipped": [enc(a.grad), enc(b.grad)]}
optimizers["clip_grad_norm"] = clip

# ---------------------------------------------------------------- schedules
def lr_trace(make_sched, lr, steps):
    opt = torch.optim.SGD([leaf(torch.zeros(1))], lr=lr)
    sched = make_sched(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


schedules = {
    # stepSchedule(0.1, 3, 0.5)
    "step": lr_trace(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 0.1, 10),
    # warmupDecaySchedule({peakLr: 0.1, warmupSteps: 0, totalSteps: 10, minLr: 0.001, decay: 'cosine'})
    "cosine": lr_trace(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 0.1, 11),
    # warmupDecaySchedule({peakLr: 0.1, warmupSteps: 0, totalSteps: 10, minLr: 0.001, decay: 'linear'})
    "linear": lr_trace(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.01, total_iters=10), 0.1, 13),
    # the warmup of warmupDecaySchedule({peakLr: 0.1, warmupSteps: 5, ...}): (step + 1) / 5 * peak
    "warmup": lr_trace(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.2, end_factor=1.0, total_iters=4), 0.1, 5),
}

# ---------------------------------------------------------------- module printing and naming
# torch 1.13's ModuleList prints every child; torch >= 2.1 folds repeated ones as "(0-2): 3 x ...".
# This is torch 2.1's ModuleList.__repr__, verbatim, so the reference shows the folded form.
from torch.nn.modules.module import _addindent


def _modulelist_repr(self):
    list_of_reprs = [repr(item) for item in self]
    if len(list_of_reprs) == 0:
        return self._get_name() + "()"

    start_end_indices = [[0, 0]]
    repeated_blocks = [list_of_reprs[0]]
    for i, r in enumerate(list_of_reprs[1:], 1):
        if r == repeated_blocks[-1]:
            start_end_indices[-1][1] += 1
            continue

        start_end_indices.append([i, i])
        repeated_blocks.append(r)

    lines = []
    main_str = self._get_name() + "("
    for (start_id, end_id), b in zip(start_end_indices, repeated_blocks):
        local_repr = f"({start_id}): {b}"  # default repr

        if start_id != end_id:
            n = end_id - start_id + 1
            local_repr = f"({start_id}-{end_id}): {n} x {b}"

        local_repr = _addindent(local_repr, 2)
        lines.append(local_repr)

    main_str += "\n  " + "\n  ".join(lines) + "\n"
    main_str += ")"
    return main_str


if "__repr__" not in nn.ModuleList.__dict__:
    nn.ModuleList.__repr__ = _modulelist_repr


class MultiHeadAttention(nn.Module):  # the child names of @bitvit/nn's MultiHeadAttention
    def __init__(self, dim):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.attnDropout = nn.Dropout(0.0)
        self.output = nn.Linear(dim, dim)


class Mlp(nn.Module):  # the child names of @bitvit/nn's Mlp
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2, self.drop = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(0.1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(8, eps=1e-12)
        self.attn = MultiHeadAttention(8)
        self.norm2 = nn.LayerNorm(8, eps=1e-12)
        self.mlp = Mlp(8, 16)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, kernel_size=4, stride=4, bias=False)
        self.layer = nn.ModuleList([Block() for _ in range(3)])
        self.head = nn.Sequential(nn.LayerNorm(8), nn.Identity(), nn.Linear(8, 10))

    def extra_repr(self):
        return "depth=3"


seq = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8, eps=1e-12), nn.Dropout(0.1))
mlist = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2, bias=False), nn.ReLU(), nn.Tanh()])
encoder = Encoder()
module = {
    "sequential_repr": repr(seq),
    "modulelist_repr": repr(mlist),
    "encoder_repr": repr(encoder),
    "encoder_parameters": [[n, list(p.shape)] for n, p in encoder.named_parameters()],
    "encoder_state_dict_keys": list(encoder.state_dict().keys()),
    "encoder_num_parameters": sum(p.numel() for p in encoder.parameters()),
}

out = {"torch_version": torch.__version__, "layers": layers, "losses": losses, "optimizers": optimizers,
       "schedules": schedules, "module": module}
path = os.path.join(HERE, "nn_reference.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(f"wrote {path} ({os.path.getsize(path)} bytes)")
