"""Reference data for packages/nn/test/safetensors.test.ts.

Run from the repository root:  /usr/bin/python3 packages/nn/test/ref/make_safetensors.py

Writes, beside this script:
  safetensors_torch.safetensors  a file built byte by byte from torch tensors the
                                 way the format specifies and the Rust writer
                                 (safetensors.torch.save_file) lays it out: tensors
                                 sorted by descending dtype alignment then name,
                                 compact JSON, __metadata__ first, header padded
                                 with spaces to 8 bytes. (The `safetensors` pip
                                 package is not installed here, so we do it by hand.)
  safetensors_torch.json         what every tensor in it holds, and torch's own
                                 float16/bfloat16 rounding of edge values.

JSON cannot hold NaN or inf, and I64 values exceed 2^53, so floats are written
as [value] with specials as the strings "NaN", "Infinity", "-Infinity", and
integers of I64 tensors as decimal strings. Float16/bfloat16 tensors also list
their raw 16-bit patterns.
"""

import json
import math
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))

# The Rust crate's Dtype enum order (increasing alignment); it writes in reverse.
DTYPE_ORDER = ["BOOL", "U8", "I8", "I16", "F16", "BF16", "I32", "F32", "F64", "I64"]
TORCH_DTYPE = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
    torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
    torch.float32: "F32", torch.float64: "F64", torch.int64: "I64",
}


def raw_bytes(t):
    """The little-endian bytes of a contiguous tensor (numpy has no bfloat16: go through int16)."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    data = t.numpy().tobytes()
    assert np.little_endian
    return data


def write_safetensors(path, tensors, metadata):
    items = sorted(tensors.items(), key=lambda kv: (-DTYPE_ORDER.index(TORCH_DTYPE[kv[1].dtype]), kv[0]))
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    payload = b""
    for name, t in items:
        data = raw_bytes(t)
        header[name] = {"dtype": TORCH_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(payload), len(payload) + len(data)]}
        payload += data
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(payload)


def json_float(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x  # a float32/16 widened to double is exact; json writes -0.0 as -0.0


def expected(t):
    entry = {"dtype": TORCH_DTYPE[t.dtype], "shape": list(t.shape)}
    flat = t.reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16):
        entry["bits"] = [int(b) & 0xFFFF for b in flat.view(torch.int16).tolist()]
    if t.is_floating_point():
        entry["values"] = [json_float(v) for v in flat.float().tolist()] if t.dtype != torch.float64 \
            else [json_float(v) for v in flat.tolist()]
    elif t.dtype == torch.int64:
        entry["values"] = [str(v) for v in flat.tolist()]
    else:
        entry["values"] = [int(v) for v in flat.tolist()]
    return entry


def main():
    g = torch.Generator().manual_seed(0)
    specials = torch.tensor([0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), 65504.0,
                             1e-8, 6e-5, 3.0e38])
    tensors = {
        "vit.encoder.layer.0.attention.attention.query.weight": torch.randn(4, 6, generator=g),
        "f16.weight": (torch.randn(3, 5, generator=g) * 100).half(),
        "f16.specials": specials.half(),
        "bf16.weight": torch.randn(2, 7, generator=g).bfloat16(),
        "bf16.specials": specials.bfloat16(),
        "f32.specials": specials,
        "f64.values": torch.randn(5, generator=g, dtype=torch.float64),
        "i8.codes": torch.tensor([[-1, 0, 1], [1, -1, 0], [-128, 127, 0]], dtype=torch.int8),
        "u8.packed": torch.tensor([0, 1, 2, 127, 128, 255, 170], dtype=torch.uint8),
        "i16.values": torch.tensor([-32768, -1, 0, 1, 32767], dtype=torch.int16),
        "i32.labels": torch.tensor([-(2 ** 31), -7, 0, 9, 2 ** 31 - 1], dtype=torch.int32),
        "i64.step": torch.tensor([-(2 ** 63), -1, 0, 2 ** 53 + 1, 2 ** 63 - 1], dtype=torch.int64),
        "bool.mask": torch.tensor([True, False, False, True]),
        "scalar.temperature": torch.tensor(0.75),  # shape []
        "empty.bias": torch.zeros(0, 3),  # zero elements
        "0": torch.tensor([1, 2], dtype=torch.int32),  # an integer-like name: key order trap in JS
    }
    metadata = {"format": "pt", "bitvit.note": "héllo \"quoted\" \\ ✓", "epoch": "3"}
    write_safetensors(os.path.join(HERE, "safetensors_torch.safetensors"), tensors, metadata)

    # Torch's rounding of float32 edge values to float16 and bfloat16.
    edges = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.0, 65519.996, 65520.0, -65520.0, 1e10,
             1e-8, -1e-8, 2.0 ** -24, 2.0 ** -25, 1.5 * 2.0 ** -25, 3 * 2.0 ** -25, 5 * 2.0 ** -25,
             2.0 ** -14, 2.0 ** -14 - 2.0 ** -25, 2.0 ** -14 - 2.0 ** -24, 6.1e-5, 5.96e-8,
             1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 2049.0, 2051.0, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8,
             256.5, 257.0, 3.3895314e38, 3.4028235e38, 1e-40, -1e-45,
             1 / 3, math.pi, -math.e, 0.1, float("inf"), float("-inf"), float("nan"), -float("nan")]
    x = torch.tensor(edges, dtype=torch.float32)
    x = torch.cat([x, torch.randn(200, generator=g) * torch.logspace(-9, 6, 200)])
    # Every float16 pattern is a float32 exactly, so numpy must agree with torch
    # everywhere but NaN payloads; check it here rather than trust one library.
    f16 = x.half().view(torch.int16).numpy().view(np.uint16)
    with np.errstate(over="ignore"):  # overflow to inf is the point of some edges
        np_f16 = x.numpy().astype(np.float16).view(np.uint16)
    finite = ~np.isnan(x.numpy())
    assert (f16[finite] == np_f16[finite]).all(), "torch and numpy disagree on float16 rounding"
    # Note: torch's vectorized CPU path turns every NaN into bfloat16 0xffff,
    # its scalar path into 0x7fc0; both are NaN, so the test only asks for a NaN.
    half_rounding = {
        "inputs": [json_float(v) for v in x.tolist()],
        "input_bits": [int(b) & 0xFFFFFFFF for b in x.view(torch.int32).tolist()],
        "f16_bits": [int(b) for b in f16.tolist()],
        "bf16_bits": [int(b) & 0xFFFF for b in x.bfloat16().view(torch.int16).tolist()],
    }

    out = {
        "generator": "packages/nn/test/ref/make_safetensors.py, torch " + torch.__version__,
        "metadata": metadata,
        "tensors": {name: expected(t) for name, t in tensors.items()},
        "half_rounding": half_rounding,
    }
    with open(os.path.join(HERE, "safetensors_torch.json"), "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
