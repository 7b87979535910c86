// CPU batched matmul: resolves broadcasting of the batch dims, then hands each contiguous run of
// matrices to the GEMM kernel (kernels/gemm), which absorbs the transposes in its packing.
import { Tensor } from '../../tensor.js';
import { broadcastShapes, broadcastStrides, shapeStr, sizeOf, stridesOf } from '../../shape.js';
import { gemm } from '../gemm/index.js';
import type { PackedOperand } from '../gemm/packed.js';
import { allocFloats } from '../../storage.js';
import { collapseDims } from './loops.js';

export function matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null = null, packedB: PackedOperand | null = null): Tensor {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [aRows, aCols] = [a.shape[ra - 2]!, a.shape[ra - 1]!];
  const [bRows, bCols] = [b.shape[rb - 2]!, b.shape[rb - 1]!];
  const M = transA ? aCols : aRows;
  const K = transA ? aRows : aCols;
  const Kb = transB ? bCols : bRows;
  const N = transB ? bRows : bCols;
  if (K !== Kb) {
    const ta = transA ? '^T' : '';
    const tb = transB ? '^T' : '';
    throw new Error(`matmul: ${shapeStr(a.shape)}${ta} @ ${shapeStr(b.shape)}${tb}: inner dims ${K} and ${Kb} differ`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== N)) {
    throw new Error(`matmul: bias ${shapeStr(bias.shape)} does not match the product's ${N} columns`);
  }
  const biasData = bias ? bias.data : null;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = broadcastShapes('matmul', batchA, batchB);
  const out = allocFloats(sizeOf(batch) * M * N); // the GEMM writes every element
  const A = a.data;
  const B = b.data;

  // x[..., M, K] @ W[K, N] with no batch on b and no transpose of a: one tall GEMM (the Linear case).
  if (batchB.length === 0 && !transA) {
    gemm({ transA, transB, M: M * sizeOf(batchA), N, K, A, B, C: out, bias: biasData, packedB });
    return new Tensor(out, [...batch, M, N]);
  }
  const nb = sizeOf(batch);
  if (nb === 0) return new Tensor(out, [...batch, M, N]);
  // Batch dims that every operand walks with one stride merge into one (collapseDims): [128, 4]
  // heads of attention are one GEMM call of 512 items, not 128 calls of 4 (each call packs and
  // sets up its job, which costs more than 4 small products). What is left after merging (a
  // broadcast operand in the middle) loops here, one batched call per outer index.
  const c = collapseDims(batch, [
    broadcastStrides(batchA, batch).map((s) => s * M * K),
    broadcastStrides(batchB, batch).map((s) => s * K * N),
    stridesOf(batch).map((s) => s * M * N),
  ]);
  const [strideA, strideB, strideC] = c.strides as [number[], number[], number[]];
  const last = c.shape.length - 1;
  const inner = c.shape[last]!;
  const outerShape = c.shape.slice(0, last);
  const counter = outerShape.map(() => 0);
  let offA = 0, offB = 0, offC = 0;
  for (let p = 0; p < nb / inner; p++) {
    gemm({
      transA, transB, M, N, K,
      A, aOff: offA, strideA: strideA[last]!,
      B, bOff: offB, strideB: strideB[last]!,
      C: out, cOff: offC, strideC: strideC[last]!,
      batch: inner, bias: biasData,
    });
    for (let d = last - 1; d >= 0; d--) {
      counter[d]!++;
      offA += strideA[d]!;
      offB += strideB[d]!;
      offC += strideC[d]!;
      if (counter[d]! < outerShape[d]!) break;
      offA -= strideA[d]! * outerShape[d]!;
      offB -= strideB[d]! * outerShape[d]!;
      offC -= strideC[d]! * outerShape[d]!;
      counter[d] = 0;
    }
  }
  return new Tensor(out, [...batch, M, N]);
}
