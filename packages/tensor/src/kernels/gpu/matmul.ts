// Matrix multiply on the device: C[b] = op(A[b]) @ op(B[b]), op = identity or transpose.
//
// One thread per output element (this.thread = column, row, batch), a dot
// product over K inside. Transposes cost nothing: they only change the
// strides the dot product walks, so backward's A^T @ G and G @ B^T run the
// same kernel as forward. A 2-D B is shared by every batch (x @ W^T).
//
// Why not shared-memory tiles, as CUDA matmuls do: gpu.js kernels are
// per-output-element functions with no workgroup memory, and a thread that
// computes a 2x2 or 4x1 tile has to return Array(4), which WebGPU pipeline
// results and our flat-array inputs do not take. The loop is unrolled by 4
// instead, which lets the shader compiler keep four products in flight.
import { type GpuArray, sizeOf } from './device.js';
import { broadcastShapes } from './elementwise.js';
import { expand } from './layout.js';

export interface MatmulOptions {
  /** use A^T: A holds [batch, K, M] instead of [batch, M, K] */
  transA?: boolean;
  /** use B^T: B holds [batch, N, K] instead of [batch, K, N] */
  transB?: boolean;
}

interface MatmulConstants {
  /** K / 4 rounded down, and K % 4: the unrolled loop and what it leaves */
  blocks: number;
  remainder: number;
  aBatch: number;
  aRow: number;
  aK: number;
  bBatch: number;
  bCol: number;
  bK: number;
}

// c[batch][row][col] = sum_k a[batch, row, k] * b[batch, k, col], addressed through strides.
function matmulKernel(this: { thread: { x: number; y: number; z: number }; constants: MatmulConstants }, a: Float32Array, b: Float32Array): number {
  const col = this.thread.x;
  const row = this.thread.y;
  const batch = this.thread.z;
  let aIndex = batch * this.constants.aBatch + row * this.constants.aRow;
  let bIndex = batch * this.constants.bBatch + col * this.constants.bCol;
  const aK = this.constants.aK;
  const bK = this.constants.bK;
  let sum = 0;
  for (let block = 0; block < this.constants.blocks; block++) {
    sum += a[aIndex]! * b[bIndex]! + a[aIndex + aK]! * b[bIndex + bK]! + a[aIndex + 2 * aK]! * b[bIndex + 2 * bK]! + a[aIndex + 3 * aK]! * b[bIndex + 3 * bK]!;
    aIndex += 4 * aK;
    bIndex += 4 * bK;
  }
  // the K % 4 products left over (loop counters start from literals: WGSL only increments integers)
  for (let rest = 0; rest < this.constants.remainder; rest++) {
    sum += a[aIndex]! * b[bIndex]!;
    aIndex += aK;
    bIndex += bK;
  }
  return sum;
}

/**
 * Batched matmul over the last two dims: A is [..., M, K] (transposed: [..., K, M]), B is
 * [..., K, N] (transposed: [..., N, K]), and the leading dims broadcast as in NumPy. An operand
 * whose leading dims hold one matrix is shared by the whole batch at no cost ([B, T, D] @ W);
 * one that broadcasts partly ([B, 1, M, K] @ [1, H, K, N]) is expanded to the full batch first.
 */
export function matmul(a: GpuArray, b: GpuArray, options: MatmulOptions = {}): GpuArray {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const where = `matmul: [${a.shape.join(',')}]${transA ? '^T' : ''} @ [${b.shape.join(',')}]${transB ? '^T' : ''}`;
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`${where}: both operands need at least 2 dims`);
  const aBatchDims = a.shape.slice(0, -2);
  const bBatchDims = b.shape.slice(0, -2);
  const [aRows, aCols] = a.shape.slice(-2) as [number, number];
  const [bRows, bCols] = b.shape.slice(-2) as [number, number];
  const [M, K] = transA ? [aCols, aRows] : [aRows, aCols];
  const [KB, N] = transB ? [bCols, bRows] : [bRows, bCols];
  if (K !== KB) throw new Error(`${where}: inner dims ${K} and ${KB} differ`);
  const batchDims = broadcastShapes(aBatchDims, bBatchDims, 'matmul');
  const batch = sizeOf(batchDims);
  // an operand with one matrix is shared (batch stride 0); one with a full batch is walked; any
  // other broadcast is materialised
  const fit = (x: GpuArray, dims: readonly number[]): GpuArray => {
    const own = sizeOf(dims);
    return own === 1 || own === batch ? x : expand(x, [...batchDims, ...x.shape.slice(-2)]);
  };
  const aFull = fit(a, aBatchDims);
  const bFull = fit(b, bBatchDims);
  const aShared = sizeOf(aBatchDims) === 1 && batch > 1;
  const bShared = sizeOf(bBatchDims) === 1 && batch > 1;
  const constants: MatmulConstants = {
    blocks: Math.floor(K / 4),
    remainder: K % 4,
    aBatch: aShared ? 0 : M * K,
    aRow: transA ? 1 : K,
    aK: transA ? M : 1,
    bBatch: bShared ? 0 : K * N,
    bCol: transB ? K : 1,
    bK: transB ? 1 : N,
  };
  const key = `matmul:${batch}x${M}x${K}x${N}:${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}:${aShared ? '' : 'a'}${bShared ? '' : 'b'}`;
  const kernel = a.device.kernel(key, {
    source: matmulKernel,
    output: [N, M, batch],
    constants: { ...constants },
    loopMaxIterations: Math.ceil(K / 4),
  });
  const out = a.device.run(key, kernel, [...batchDims, M, N], [aFull, bFull]);
  if (aFull !== a) aFull.dispose();
  if (bFull !== b) bFull.dispose();
  return out;
}
