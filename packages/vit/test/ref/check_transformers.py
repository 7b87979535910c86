"""The reference folders against the real Hugging Face `transformers`, and two folders it writes.

make_vit_reference.py rebuilt ViTForImageClassification / DeiTForImageClassificationWithTeacher in
plain torch because transformers is not installed here. This script runs where it is installed
(checked with transformers 5.17, torch 2.11, on the CPU of the GPU device machine), from the
repository root:

    python3 packages/vit/test/ref/check_transformers.py --out OUT

1. Each committed folder (vit-28, vit-32, deit-28, deit-32) is loaded with transformers'
   from_pretrained (float32, eval; loading info recorded: missing/unexpected/mismatched keys) and
   run on its committed pixel_values: attn_implementation "eager" and "sdpa", each in float32
   and in float64. Each head is compared with the committed values (which are the
   float64 answer rounded to float32): max |diff|, max |expected|, and their ratio.
2. transformers itself builds two small models (ViTConfig / DeiTConfig, seed 0), every parameter
   is then redrawn from a seeded generator (transformers' init leaves biases at 0 and LayerNorms
   at 1/0, which would leave those tensors unchecked and the logits near 0), and save_pretrained
   writes them. The saved folder is loaded back with from_pretrained and run in float64 (eager)
   on a seeded batch (B=2); that answer, rounded to float32, is the expected value:
       OUT/hf-vit/{config.json, model.safetensors, expected.safetensors}
       OUT/hf-deit/{config.json, model.safetensors, expected.safetensors}
   expected.safetensors: pixel_values, logits (DeiT also cls_logits, distillation_logits).
3. OUT/summary.json (also printed): versions, every comparison, the loading info, and what
   save_pretrained wrote (file names, config.json, tensor names).
Copy OUT/hf-* to packages/vit/test/ref/ and OUT/summary.json to
packages/vit/test/ref/transformers_check.json.
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import traceback

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher, ViTConfig, ViTForImageClassification

HERE = os.path.dirname(os.path.abspath(__file__))
OLD_FOLDERS = ["vit-28", "vit-32", "deit-28", "deit-32"]
CLASSES = {
    "ViTForImageClassification": ViTForImageClassification,
    "DeiTForImageClassificationWithTeacher": DeiTForImageClassificationWithTeacher,
}


def heads_of(cls):
    if cls is DeiTForImageClassificationWithTeacher:
        return ["logits", "cls_logits", "distillation_logits"]
    return ["logits"]


def load(cls, folder, attn):
    model, info = cls.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn, output_loading_info=True)
    model.eval()
    info = {k: sorted(str(x) for x in v) for k, v in info.items()}
    return model, info


def forward(model, pixels, dtype):
    model = model.to(dtype)
    with torch.no_grad():
        out = model(pixel_values=pixels.to(dtype))
    return {h: getattr(out, h).detach().double() for h in heads_of(type(model))}


def compare(actual, expected):
    """Per head: max |a - e|, max |e|, and max |a - e| / max |e| (the tests' relError)."""
    out = {}
    for h, e in expected.items():
        e = e.double()
        a = actual[h]
        if tuple(a.shape) != tuple(e.shape):
            out[h] = {"error": f"shape {list(a.shape)} vs expected {list(e.shape)}"}
            continue
        d = (a - e).abs().max().item()
        m = e.abs().max().item()
        out[h] = {"max_abs_diff": d, "max_abs_expected": m, "rel": d / m}
    return out


def worst(cmp):
    return max(v.get("rel", math.inf) for v in cmp.values())


def check_old(name):
    folder = os.path.join(HERE, name)
    with open(os.path.join(folder, "config.json")) as f:
        arch = json.load(f)["architectures"][0]
    cls = CLASSES[arch]
    committed = load_file(os.path.join(folder, "expected.safetensors"))
    pixels = committed["pixel_values"]
    expected = {h: committed[h] for h in heads_of(cls)}
    result = {"class": arch, "pixel_values_shape": list(pixels.shape)}
    for attn in ["eager", "sdpa"]:
        try:
            model, info = load(cls, folder, attn)
            result[f"loading_info_{attn}"] = info
            result["config_layer_norm_eps"] = model.config.layer_norm_eps
            result["config_qkv_bias"] = model.config.qkv_bias
            result[f"float32_{attn}"] = compare(forward(model, pixels, torch.float32), expected)
            result[f"float64_{attn}"] = compare(forward(model, pixels, torch.float64), expected)
        except Exception:
            result[f"error_{attn}"] = traceback.format_exc()
    runs = [k for k in ["float32_eager", "float32_sdpa", "float64_eager", "float64_sdpa"] if k in result]
    result["worst_rel"] = {k: worst(result[k]) for k in runs}
    return result


def redraw(model, g):
    """Every parameter gets its own values (as make_vit_reference.py's randomize does)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name.endswith(("cls_token", "distillation_token", "position_embeddings")):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))


def make_hf(kind, out_dir):
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=10)
    if kind == "vit":
        cls, config = ViTForImageClassification, ViTConfig(image_size=28, patch_size=7, num_channels=1, **common)
    else:
        cls, config = DeiTForImageClassificationWithTeacher, DeiTConfig(image_size=32, patch_size=8, num_channels=3, **common)
    torch.manual_seed(0)
    model = cls(config).eval()
    g = torch.Generator().manual_seed(1 if kind == "vit" else 2)
    redraw(model, g)
    pixels = torch.randn(2, config.num_channels, config.image_size, config.image_size, generator=g)

    result = {"class": cls.__name__}
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        result["save_pretrained_files"] = sorted(os.listdir(tmp))
        with open(os.path.join(tmp, "config.json")) as f:
            result["config_json"] = json.load(f)
        saved = load_file(os.path.join(tmp, "model.safetensors"))
        result["tensors"] = {k: [str(v.dtype), list(v.shape)] for k, v in sorted(saved.items())}
        eager, info = load(cls, tmp, "eager")
        result["loading_info"] = info
        exact = forward(eager, pixels, torch.float64)
        result["reloaded_vs_built_float64"] = compare(forward(model, pixels, torch.float64), exact)
        eager32, _ = load(cls, tmp, "eager")
        result["float32_eager_vs_float64_eager"] = compare(forward(eager32, pixels, torch.float32), exact)
        try:
            sdpa, _ = load(cls, tmp, "sdpa")
            result["float32_sdpa_vs_float64_eager"] = compare(forward(sdpa, pixels, torch.float32), exact)
            result["float64_sdpa_vs_float64_eager"] = compare(forward(sdpa, pixels, torch.float64), exact)
        except Exception:
            result["error_sdpa"] = traceback.format_exc()
        os.makedirs(out_dir, exist_ok=True)
        for f in ["config.json", "model.safetensors"]:
            shutil.copyfile(os.path.join(tmp, f), os.path.join(out_dir, f))
    expected = {"pixel_values": pixels.float().contiguous()}
    for h, v in exact.items():
        expected[h] = v.float().contiguous()
    save_file(expected, os.path.join(out_dir, "expected.safetensors"), metadata={"format": "pt"})
    result["expected"] = {k: list(v.shape) for k, v in expected.items()}
    result["max_abs_logit"] = exact["logits"].abs().max().item()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(4)
    summary = {
        "script": "packages/vit/test/ref/check_transformers.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "device": "cpu",
        "rel": "max |transformers - expected| / max |expected| over each head",
        "reference_folders": {},
        "written_folders": {},
    }
    for name in OLD_FOLDERS:
        try:
            summary["reference_folders"][name] = check_old(name)
        except Exception:
            summary["reference_folders"][name] = {"error": traceback.format_exc()}
    for kind in ["vit", "deit"]:
        try:
            summary["written_folders"][f"hf-{kind}"] = make_hf(kind, os.path.join(args.out, f"hf-{kind}"))
        except Exception:
            summary["written_folders"][f"hf-{kind}"] = {"error": traceback.format_exc()}
    text = json.dumps(summary, indent=2, sort_keys=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
