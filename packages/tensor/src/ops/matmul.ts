// Matrix products. matmul follows torch.matmul (1-D operands promoted, batch dims broadcast);
// the transposed forms let attention (q @ k^T) and every backward avoid copying a transpose.
import { record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { shapeStr } from '../shape.js';
import { kernels } from '../kernels/index.js';
import { packOperandB } from '../kernels/gemm/index.js';
import type { PackedOperand } from '../kernels/gemm/packed.js';
import { sumToShape } from './elementwise.js';
import { reshape } from './shape.js';

export interface MatmulOptions {
  /** Use a^T (of the last two dims) in place of a. */
  transA?: boolean;
  /** Use b^T (of the last two dims) in place of b. */
  transB?: boolean;
}

/**
 * op(a) @ op(b). With C = A B: dA = G B^T and dB = A^T G; the transposed cases follow by
 * swapping roles, so every backward is again one matmul with transpose flags (no copies).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: scalar operands ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}; use mul`);
  // torch.matmul: a 1-D left operand is a row vector, a 1-D right operand a column vector; both dims are dropped after.
  if (a.ndim === 1 || b.ndim === 1) {
    const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
    const b2 = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
    const out = matmul(a2, b2, opts);
    const shape = out.shape.filter((_, i) => !(a.ndim === 1 && i === out.ndim - 2) && !(b.ndim === 1 && i === out.ndim - 1));
    return reshape(out, shape);
  }
  const ta = opts.transA ?? false;
  const tb = opts.transB ?? false;
  const k = kernels();
  return record('matmul', k.matmul(a, b, ta, tb), [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) ga = ta ? k.matmul(b, g, tb, true) : k.matmul(g, b, false, !tb);
    if (b.requiresGrad) gb = tb ? k.matmul(g, a, true, ta) : k.matmul(a, g, !ta, false);
    return [ga && sumToShape(ga, a.shape), gb && sumToShape(gb, b.shape)];
  });
}

/**
 * y = x @ w^T + b with w of shape [out, in] (PyTorch's Linear layout). The leading dims of x
 * are flattened into one tall matrix, so the weight gradient is a single GEMM, not a batch of them.
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null, packed: PackedLinearWeight | null = null): Tensor {
  const inF = x.shape[x.ndim - 1]!;
  if (weight.ndim !== 2 || weight.shape[1] !== inF) {
    throw new Error(`linear: input ${shapeStr(x.shape)} does not match weight ${shapeStr(weight.shape)} (expected [out, ${inF}])`);
  }
  const outF = weight.shape[0]!;
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) {
    throw new Error(`linear: bias ${shapeStr(bias.shape)} does not match weight ${shapeStr(weight.shape)}`);
  }
  const k = kernels();
  const rows = x.size / inF;
  const x2 = new Tensor(x.deviceStorage ?? x.data, [rows, inF]);
  // the bias goes in with the product's store; a prepacked weight spares the GEMM packing it
  const y2 = k.matmul(x2, weight, false, true, bias, packed?.holds(weight) && k.name === 'cpu' ? packed.operand : null);
  const y = new Tensor(y2.deviceStorage ?? y2.data, [...x.shape.slice(0, -1), outF]);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record('linear', y, inputs, (g) => {
    const g2 = new Tensor(g.deviceStorage ?? g.data, [rows, outF]);
    const gx = x.requiresGrad ? k.matmul(g2, weight, false, false) : null; // [rows,out] @ [out,in]
    const gw = weight.requiresGrad ? k.matmul(g2, x2, true, false) : null; // [out,rows] @ [rows,in]
    const gb = bias?.requiresGrad ? k.reduce('sum', g2, [0], false) : null;
    return [gx && new Tensor(gx.deviceStorage ?? gx.data, x.shape), gw, gb];
  });
}

/**
 * A Linear weight [out, in] packed once for the CPU backend's GEMM (prepackLinearWeight), for
 * inference: linear(x, weight, bias, packed) then skips copying and packing the weight, which at
 * batch 1 was ~15% of a ViT's forward (vit-tiny-32 float32 ~20 -> ~17 ms). The products are the
 * same floats. It holds the weight's values at packing: once the weight has changed (its
 * `version` moved on) linear() ignores it and packs as usual.
 */
export class PackedLinearWeight {
  constructor(
    readonly weight: Tensor,
    /** weight.version when packed */
    readonly version: number,
    private readonly values: Float32Array,
    readonly operand: PackedOperand,
  ) {}

  /** Whether this still holds `w`'s values: the same tensor, storage and version. */
  holds(w: Tensor): boolean {
    return w === this.weight && w.version === this.version && w.deviceStorage === null && w.data === this.values;
  }
}

/** Packs a Linear weight [out, in] for linear()'s `packed` argument; null where the CPU backend's
 *  GEMM is not the WebAssembly one (nothing to prepack) or the weight lives on another device. */
export function prepackLinearWeight(weight: Tensor): PackedLinearWeight | null {
  if (weight.ndim !== 2) throw new Error(`prepackLinearWeight: weight ${shapeStr(weight.shape)} is not [out, in]`);
  if (kernels().name !== 'cpu' || weight.deviceStorage) return null;
  const [out, inF] = weight.shape as [number, number];
  const operand = packOperandB(weight.data, true, inF, out);
  return operand ? new PackedLinearWeight(weight, weight.version, weight.data, operand) : null;
}
