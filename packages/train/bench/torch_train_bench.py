"""PyTorch's side of the training benchmark (train.bench.ts): the same ViT as @bitvit/vit builds
(Hugging Face ViTForImageClassification layout: conv patch embedding, CLS token, position
embeddings, pre-norm layers with query/key/value/output, exact-GELU MLP, final LayerNorm,
classifier on the CLS token), float or BitNet b1.58 QAT, trained with AdamW on a fixed random batch.

Two ways to run it:

  --serve   read one JSON request per line on stdin, answer one JSON line each on stdout, so the
            TypeScript benchmark can take turns with it step by step (load from other processes
            then hits every framework alike):
              {"op": "info"}                                          -> versions, BLAS, threads
              {"op": "build", "key": k, "config": {...}, "batch": b, "qat": bool}
              {"op": "step", "key": k, "threads": n}                  -> {"ms": ..., "loss": ...}
              {"op": "free", "key": k}
  otherwise: time one model itself and print one JSON object, e.g.
      OPENBLAS_NUM_THREADS=1 /usr/bin/python3 torch_train_bench.py --preset mnist --qat --threads 2,1

The config keys are @bitvit/vit's ViTConfig field names (hiddenSize, numHiddenLayers, ...).
Set OPENBLAS_NUM_THREADS=1 before starting: torch's own thread pool (set_num_threads) is what
should use the cores, and OpenBLAS starting its own threads inside it oversubscribes two cores.
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The presets the benchmark uses (@bitvit/vit presets.ts), for the standalone mode.
PRESETS = {
    "mnist": dict(hiddenSize=64, numHiddenLayers=4, numAttentionHeads=4, intermediateSize=128,
                  imageSize=28, patchSize=7, numChannels=1, numLabels=10, layerNormEps=1e-12),
    "tiny-32": dict(hiddenSize=192, numHiddenLayers=12, numAttentionHeads=3, intermediateSize=768,
                    imageSize=32, patchSize=4, numChannels=3, numLabels=10, layerNormEps=1e-12),
}


class BitLinear(nn.Linear):
    """BITNET.md section 1: absmean ternary weights per tensor, per-token absmax int8 activations,
    both through the straight-through estimator (x + (q(x) - x).detach()). torch.round rounds
    half to even, as the sheet asks."""

    def forward(self, x):
        act_scale = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
        xq = x + ((x * act_scale).round().clamp(-128, 127) / act_scale - x).detach()
        w = self.weight
        weight_scale = w.abs().mean().clamp(min=1e-5)
        wq = w + ((w / weight_scale).round().clamp(-1, 1) * weight_scale - w).detach()
        return F.linear(xq, wq, self.bias)


class Layer(nn.Module):
    def __init__(self, c, linear):
        super().__init__()
        d = c["hiddenSize"]
        self.heads = c["numAttentionHeads"]
        self.layernorm_before = nn.LayerNorm(d, eps=c["layerNormEps"])
        self.query, self.key, self.value, self.attn_out = (linear(d, d) for _ in range(4))
        self.layernorm_after = nn.LayerNorm(d, eps=c["layerNormEps"])
        self.fc1 = linear(d, c["intermediateSize"])
        self.fc2 = linear(c["intermediateSize"], d)

    def attention(self, x):
        b, t, d = x.shape
        dh = d // self.heads
        split = lambda y: y.view(b, t, self.heads, dh).transpose(1, 2)  # [B, heads, T, dh]
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dh), dim=-1)
        return self.attn_out((probs @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.attention(self.layernorm_before(x))
        return x + self.fc2(F.gelu(self.fc1(self.layernorm_after(x))))  # exact (erf) GELU


class ViT(nn.Module):
    def __init__(self, c, qat):
        super().__init__()
        d = c["hiddenSize"]
        linear = BitLinear if qat else nn.Linear  # every Linear, classifier included; conv and norms stay float
        patches = (c["imageSize"] // c["patchSize"]) ** 2
        self.projection = nn.Conv2d(c["numChannels"], d, c["patchSize"], stride=c["patchSize"])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.zeros(1, patches + 1, d))
        self.layers = nn.ModuleList(Layer(c, linear) for _ in range(c["numHiddenLayers"]))
        self.layernorm = nn.LayerNorm(d, eps=c["layerNormEps"])
        self.classifier = linear(d, c["numLabels"])
        for name, p in self.named_parameters():  # Hugging Face's init: trunc normal(0.02), biases 0, norms 1
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "layernorm" in name:
                nn.init.ones_(p)
            else:
                nn.init.trunc_normal_(p, std=0.02)

    def forward(self, pixels):
        x = self.projection(pixels).flatten(2).transpose(1, 2)  # [B, patches, d]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.position_embeddings
        for layer in self.layers:
            x = layer(x)
        return self.classifier(self.layernorm(x)[:, 0])


class Job:
    """One model, its optimizer and a fixed random batch: step() is forward + backward + AdamW."""

    def __init__(self, c, batch, qat):
        torch.manual_seed(0)
        self.model = ViT(c, qat)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)  # weight decay 0.01, as ours
        self.x = torch.randn(batch, c["numChannels"], c["imageSize"], c["imageSize"])
        self.y = torch.randint(0, c["numLabels"], (batch,))

    def step(self, threads):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        return {"ms": (time.perf_counter() - start) * 1000, "loss": value}


def info():
    import os
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "blas": next((line.strip() for line in torch.__config__.show().splitlines() if "BLAS_INFO" in line), "?")[:60],
        "default_threads": torch.get_num_threads(),
    }


def serve():
    jobs = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if req["op"] == "info":
                out = info()
            elif req["op"] == "build":
                jobs[req["key"]] = Job(req["config"], req["batch"], req["qat"])
                out = {"params": sum(p.numel() for p in jobs[req["key"]].model.parameters())}
            elif req["op"] == "step":
                out = jobs[req["key"]].step(req["threads"])
            elif req["op"] == "free":
                jobs.pop(req["key"], None)
                out = {}
            else:
                out = {"error": f"unknown op {req['op']!r}"}
        except Exception as e:  # answer, so the benchmark can say what went wrong and go on
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


def standalone(args):
    torch.set_num_interop_threads(1)
    job = Job(PRESETS[args.preset], args.batch, args.qat)
    result = {"info": info(), "preset": args.preset, "qat": args.qat, "batch": args.batch, "rows": []}
    for threads in (int(t) for t in args.threads.split(",")):
        for _ in range(args.warmup):
            job.step(threads)
        ms = [job.step(threads)["ms"] for _ in range(args.rounds)]
        med = statistics.median(ms)
        result["rows"].append({"threads": threads, "median_ms": med, "min_ms": min(ms), "images_per_s": args.batch * 1000 / med})
    print(json.dumps(result))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--serve", action="store_true")
    p.add_argument("--preset", choices=sorted(PRESETS), default="mnist")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--qat", action="store_true")
    p.add_argument("--threads", default="2,1")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    if a.serve:
        torch.set_num_interop_threads(1)
        serve()
    else:
        a.batch = a.batch or (128 if a.preset == "mnist" else 64)
        standalone(a)
