// CPU batched matmul: resolves broadcasting of the batch dims, then hands each contiguous run of
// matrices to the GEMM kernel (kernels/gemm), which absorbs the transposes in its packing.
import { Tensor } from '../../tensor.js';
import { broadcastShapes, broadcastStrides, shapeStr, sizeOf, stridesOf } from '../../shape.js';
import { gemm } from '../gemm/index.js';

export function matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
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
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = broadcastShapes('matmul', batchA, batchB);
  const out = new Float32Array(sizeOf(batch) * M * N);
  const A = a.data;
  const B = b.data;

  // x[..., M, K] @ W[K, N] with no batch on b and no transpose of a: one tall GEMM (the Linear case).
  if (batchB.length === 0 && !transA) {
    gemm({ transA, transB, M: M * sizeOf(batchA), N, K, A, B, C: out });
    return new Tensor(out, [...batch, M, N]);
  }
  const strideA = broadcastStrides(batchA, batch).map((s) => s * M * K);
  const strideB = broadcastStrides(batchB, batch).map((s) => s * K * N);
  const nb = sizeOf(batch);
  if (nb === 0) return new Tensor(out, [...batch, M, N]);
  // The last batch dim walks with constant strides: one batched GEMM call per outer index.
  const inner = batch.length > 0 ? batch[batch.length - 1]! : 1;
  const outer = nb / inner;
  const outerShape = batch.slice(0, -1);
  const outerStridesOut = stridesOf(outerShape);
  for (let p = 0; p < outer; p++) {
    let offA = 0;
    let offB = 0;
    let rem = p;
    for (let d = 0; d < outerShape.length; d++) {
      const i = Math.floor(rem / outerStridesOut[d]!);
      rem -= i * outerStridesOut[d]!;
      offA += i * strideA[d]!;
      offB += i * strideB[d]!;
    }
    gemm({
      transA, transB, M, N, K,
      A, aOff: offA, strideA: batch.length > 0 ? strideA[batch.length - 1]! : 0,
      B, bOff: offB, strideB: batch.length > 0 ? strideB[batch.length - 1]! : 0,
      C: out, cOff: p * inner * M * N, strideC: M * N,
      batch: inner,
    });
  }
  return new Tensor(out, [...batch, M, N]);
}
