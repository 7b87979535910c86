"""Reference models and values for packages/vit/test/*.test.ts.

Run from the repository root:  /usr/bin/python3 packages/vit/test/ref/make_vit_reference.py
(torch 1.13, CPU). `transformers` is not installed here, so ViTForImageClassification and
DeiTForImageClassificationWithTeacher are rebuilt below in plain PyTorch with exactly Hugging
Face's module structure, class names, parameter names and forward (pre-norm ViTLayer, exact
GELU, LayerNorm eps from the config, CLS head; DeiT: CLS + distillation tokens, two heads,
logits = their mean). A folder written here is therefore a transformers model folder.

Writes, beside this script:
  <name>/config.json             HF field names (model_type vit/deit, id2label, ...)
  <name>/model.safetensors       float32 weights, HF names (safetensors written by hand)
  <name>/expected.safetensors    what the TypeScript side must reproduce:
      pixel_values                 the input batch [B, C, H, W]
      logits                       the model's logits [B, labels]
      cls_logits, distillation_logits   (DeiT only) the two heads
      grad_weight                  w, a fixed [B, labels] tensor
      grad.pixel_values            d sum(logits * w) / d pixel_values
      grad.<parameter name>        d sum(logits * w) / d parameter, for every parameter
      interp.pixel_values, interp.logits   (vit-28 only) the model run at 56 px after its
                                   position embeddings were resized bicubically to 8x8
  vit_reference.json             parameter counts and names/shapes of the presets, the printed
                                 module tree of vit-tiny, position-embedding interpolation cases.

Weights are drawn in float32 (so the stored file holds exactly what the model used), then the
forward and backward run in float64: the expected values are the exact answer for those float32
weights, and the TypeScript float32 result is compared with that.
"""

import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.module import _addindent

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- safetensors (by hand)
# Copied from packages/nn/test/ref/make_safetensors.py (F32 only is needed here): tensors sorted
# by name (all one dtype), compact JSON, header padded with spaces to 8 bytes.
def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    payload = b""
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [len(payload), len(payload) + len(data)]}
        payload += data
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(payload)


# ---------------------------------------------------------------- printing like torch >= 2.1
# torch 1.13's ModuleList prints every child; torch >= 2.1 (and @bitvit/nn) fold repeated ones as
# "(0-11): 12 x ViTLayer(...)". This is torch 2.1's ModuleList.__repr__, verbatim.
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
        local_repr = f"({start_id}): {b}"
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


# ---------------------------------------------------------------- the models, as transformers writes them
# Class names are HF's (ViTLayer, DeiTSelfAttention, ...): a family prefix is set per instance.
class Config:
    def __init__(self, model_type="vit", hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, layer_norm_eps=1e-12, image_size=224, patch_size=16,
                 num_channels=3, qkv_bias=True, num_labels=1000):
        self.model_type = model_type
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.layer_norm_eps = layer_norm_eps
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.qkv_bias = qkv_bias
        self.num_labels = num_labels
        self.family = "DeiT" if model_type == "deit" else "ViT"

    def to_json(self):
        # The fields transformers' ViTConfig.to_dict() writes (plus those our ViTConfig models).
        return {
            "architectures": ["DeiTForImageClassificationWithTeacher" if self.model_type == "deit"
                              else "ViTForImageClassification"],
            "attention_probs_dropout_prob": 0.0,
            "encoder_stride": self.patch_size,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0,
            "hidden_size": self.hidden_size,
            "id2label": {str(i): f"class_{i}" for i in range(self.num_labels)},
            "image_size": self.image_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "label2id": {f"class_{i}": i for i in range(self.num_labels)},
            "layer_norm_eps": self.layer_norm_eps,
            "model_type": self.model_type,
            "num_attention_heads": self.num_attention_heads,
            "num_channels": self.num_channels,
            "num_hidden_layers": self.num_hidden_layers,
            "patch_size": self.patch_size,
            "qkv_bias": self.qkv_bias,
            "torch_dtype": "float32",
            "transformers_version": "4.46.0",
        }


class Named(nn.Module):
    def __init__(self, name):
        super().__init__()
        self._hf_name = name

    def _get_name(self):
        return self._hf_name


class GELUActivation(nn.Module):
    """transformers.activations.GELUActivation: the exact erf GELU (prints as GELUActivation())."""

    def forward(self, x):
        return F.gelu(x)


class PatchEmbeddings(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}PatchEmbeddings")
        self.projection = nn.Conv2d(c.num_channels, c.hidden_size, kernel_size=c.patch_size, stride=c.patch_size)

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class Embeddings(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}Embeddings")
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.hidden_size))
        if c.family == "DeiT":
            self.distillation_token = nn.Parameter(torch.zeros(1, 1, c.hidden_size))
        self.patch_embeddings = PatchEmbeddings(c)
        num_patches = (c.image_size // c.patch_size) ** 2
        extra = 2 if c.family == "DeiT" else 1
        self.position_embeddings = nn.Parameter(torch.zeros(1, num_patches + extra, c.hidden_size))
        self.dropout = nn.Dropout(0.0)

    def forward(self, pixel_values):
        x = self.patch_embeddings(pixel_values)
        b = x.shape[0]
        tokens = [self.cls_token.expand(b, -1, -1)]
        if hasattr(self, "distillation_token"):
            tokens.append(self.distillation_token.expand(b, -1, -1))
        x = torch.cat(tokens + [x], dim=1)
        return self.dropout(x + self.position_embeddings)


class SelfAttention(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}SelfAttention")
        self.num_attention_heads = c.num_attention_heads
        self.head_size = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size, bias=c.qkv_bias)
        self.key = nn.Linear(c.hidden_size, c.hidden_size, bias=c.qkv_bias)
        self.value = nn.Linear(c.hidden_size, c.hidden_size, bias=c.qkv_bias)
        self.dropout = nn.Dropout(0.0)

    def heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.num_attention_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)


class SelfOutput(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}SelfOutput")
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x):
        return self.dropout(self.dense(x))


class Attention(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}Attention")
        self.attention = SelfAttention(c)
        self.output = SelfOutput(c)

    def forward(self, x):
        return self.output(self.attention(x))


class Intermediate(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}Intermediate")
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.intermediate_act_fn = GELUActivation()

    def forward(self, x):
        return self.intermediate_act_fn(self.dense(x))


class Output(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}Output")
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x, input_tensor):
        return self.dropout(self.dense(x)) + input_tensor


class Layer(Named):
    """HF's ViTLayer: h = x + attention(layernorm_before(x)); out = h + output(intermediate(layernorm_after(h)))."""

    def __init__(self, c):
        super().__init__(f"{c.family}Layer")
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = Output(c)
        self.layernorm_before = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x):
        h = self.attention(self.layernorm_before(x)) + x
        return self.output(self.intermediate(self.layernorm_after(h)), h)


class Encoder(Named):
    def __init__(self, c):
        super().__init__(f"{c.family}Encoder")
        self.layer = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x):
        for layer in self.layer:
            x = layer(x)
        return x


class Model(Named):
    """ViTModel / DeiTModel with add_pooling_layer=False, as the classification heads build them."""

    def __init__(self, c):
        super().__init__(f"{c.family}Model")
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, pixel_values):
        return self.layernorm(self.encoder(self.embeddings(pixel_values)))


class ViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vit = Model(c)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, pixel_values):
        return {"logits": self.classifier(self.vit(pixel_values)[:, 0, :])}


class DeiTForImageClassificationWithTeacher(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.deit = Model(c)
        self.cls_classifier = nn.Linear(c.hidden_size, c.num_labels)
        self.distillation_classifier = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, pixel_values):
        seq = self.deit(pixel_values)
        cls_logits = self.cls_classifier(seq[:, 0, :])
        distillation_logits = self.distillation_classifier(seq[:, 1, :])
        return {"logits": (cls_logits + distillation_logits) / 2,
                "cls_logits": cls_logits, "distillation_logits": distillation_logits}


def build(c):
    return DeiTForImageClassificationWithTeacher(c) if c.model_type == "deit" else ViTForImageClassification(c)


def randomize(model, g):
    """Non-trivial random weights: every tensor (biases and LayerNorm gains included) gets its own values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name.endswith(("cls_token", "distillation_token", "position_embeddings")):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:  # Linear/Conv2d weights: about 1/sqrt(fan_in) so activations stay order 1
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def resize_pos(pos, prefix, new_grid, mode):
    """timm's resample_abs_pos_embed: the grid part as an image with `hidden` channels, F.interpolate(size=...)."""
    n, d = pos.shape[1], pos.shape[2]
    side = int(round(math.sqrt(n - prefix)))
    grid = pos[:, prefix:].reshape(1, side, side, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_grid, mode=mode, align_corners=False)
    return torch.cat([pos[:, :prefix], grid.permute(0, 2, 3, 1).reshape(1, -1, d)], dim=1)


# ---------------------------------------------------------------- the reference folders
CASES = {
    # 28x28x1 (MNIST-shaped), patch 7: 16 patches + CLS (+ distillation).
    "vit-28": Config("vit", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                     image_size=28, patch_size=7, num_channels=1, num_labels=10),
    "deit-28": Config("deit", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      image_size=28, patch_size=7, num_channels=1, num_labels=10),
    # 32x32x3, patch 8, no query/key/value biases, a larger LayerNorm eps (HF's 1e-12 is the default).
    "vit-32": Config("vit", hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=96,
                     image_size=32, patch_size=8, num_channels=3, qkv_bias=False, num_labels=5, layer_norm_eps=1e-6),
    "deit-32": Config("deit", hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=96,
                      image_size=32, patch_size=8, num_channels=3, qkv_bias=False, num_labels=5, layer_norm_eps=1e-6),
}
BATCH = 3


def make_case(name, c, seed):
    g = torch.Generator().manual_seed(seed)
    model = build(c)
    randomize(model, g)
    pixels = torch.randn(BATCH, c.num_channels, c.image_size, c.image_size, generator=g)
    w = torch.randn(BATCH, c.num_labels, generator=g)

    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "model.safetensors"), dict(model.state_dict()), {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(c.to_json(), f, indent=2, sort_keys=True)
        f.write("\n")

    # Forward and backward in float64 on the float32 values.
    model = model.double()
    x = pixels.double().requires_grad_(True)
    out = model(x)
    (out["logits"] * w.double()).sum().backward()
    expected = {"pixel_values": pixels, "grad_weight": w, "grad.pixel_values": x.grad}
    for k, v in out.items():
        expected[k] = v.detach()
    for pname, p in model.named_parameters():
        expected[f"grad.{pname}"] = p.grad

    if name == "vit-28":
        # The same weights at 56 px: position embeddings resized 4x4 -> 8x8 bicubically (timm's way).
        big = Config(**{k: getattr(c, k) for k in ("model_type", "hidden_size", "num_hidden_layers",
                                                       "num_attention_heads", "intermediate_size",
                                                       "layer_norm_eps", "patch_size", "num_channels",
                                                       "qkv_bias", "num_labels")}, image_size=56)
        model56 = build(big).double()
        sd = {k: v.double() for k, v in model.state_dict().items()}
        sd["vit.embeddings.position_embeddings"] = resize_pos(
            model.vit.embeddings.position_embeddings.detach().float(), 1, (8, 8), "bicubic").double()
        model56.load_state_dict(sd)
        px56 = torch.randn(2, 1, 56, 56, generator=g)
        with torch.no_grad():
            expected["interp.pixel_values"] = px56
            expected["interp.logits"] = model56(px56.double())["logits"]

    write_safetensors(os.path.join(folder, "expected.safetensors"), expected, {"generator": "make_vit_reference.py"})
    scale = out["logits"].abs().max().item()
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, max |logit| {scale:.3f}")


# ---------------------------------------------------------------- presets: counts, names, printed tree
# The sizes of packages/vit/src/presets.ts (the study's at 224 px / patch 16, plus the small ones).
PRESET_SIZES = {
    "tiny": dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
                 image_size=224, patch_size=16, num_channels=3, num_labels=1000),
    "small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                  image_size=224, patch_size=16, num_channels=3, num_labels=1000),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 image_size=224, patch_size=16, num_channels=3, num_labels=1000),
    "mnist": dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128,
                  image_size=28, patch_size=7, num_channels=1, num_labels=10),
    "mnist-p4": dict(hidden_size=64, num_hidden_layers=6, num_attention_heads=4, intermediate_size=128,
                     image_size=28, patch_size=4, num_channels=1, num_labels=10),
    "cifar": dict(hidden_size=128, num_hidden_layers=6, num_attention_heads=4, intermediate_size=256,
                  image_size=32, patch_size=4, num_channels=3, num_labels=10),
    "tiny-32": dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
                    image_size=32, patch_size=4, num_channels=3, num_labels=10),
}


def preset_info():
    counts, shapes = {}, {}
    for size, kw in PRESET_SIZES.items():
        for family in ("vit", "deit"):
            model = build(Config(family, **kw))  # ViT-base: 350 MB for a moment
            name = f"{family}-{size}"
            counts[name] = sum(p.numel() for p in model.parameters())
            if size in ("tiny", "base"):
                shapes[name] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    return counts, shapes


def interpolation_cases(g):
    cases = []
    for (side, new_grid) in [(4, (7, 7)), (7, (4, 4)), (4, (6, 3))]:
        for prefix in (1, 2):
            pos = torch.randn(1, prefix + side * side, 8, generator=g)
            for mode in ("bicubic", "bilinear"):
                out = resize_pos(pos, prefix, new_grid, mode)
                cases.append({"mode": mode, "prefix": prefix, "new_grid": list(new_grid),
                              "pos": {"shape": list(pos.shape), "data": [float(f"{v:.9g}") for v in pos.reshape(-1).tolist()]},
                              "out": {"shape": list(out.shape), "data": [float(f"{v:.9g}") for v in out.reshape(-1).tolist()]}})
    return cases


def main():
    for i, (name, c) in enumerate(CASES.items()):
        make_case(name, c, seed=100 + i)
    counts, shapes = preset_info()
    tree = repr(build(Config("vit", **PRESET_SIZES["tiny"])))
    info = {
        "generator": "packages/vit/test/ref/make_vit_reference.py, torch " + torch.__version__,
        "param_counts": counts,
        "state_dict_shapes": shapes,
        "vit_tiny_repr": tree,
        "interpolation": interpolation_cases(torch.Generator().manual_seed(7)),
    }
    with open(os.path.join(HERE, "vit_reference.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    for k, v in counts.items():
        print(f"{k}: {v:,}")


if __name__ == "__main__":
    main()
