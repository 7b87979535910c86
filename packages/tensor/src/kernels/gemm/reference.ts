// The readable GEMM: plain TypeScript over Float32Array, register-tiled 4 x 4.
// It is the fallback where WebAssembly SIMD is missing, and the kernel the fast path is read
// against. Each 4 x 4 tile of C lives in 16 local variables (registers, once the JIT is done)
// through the whole K loop, so every loaded element of A is used 4 times and every element of
// B 4 times, instead of once each as in the naive triple loop.

import { resolveGemmArgs, type GemmArgs } from './args.js';

/** C = op(A) @ op(B) (+ C if accumulate) (+ bias); see GemmArgs. */
export function gemmReference(args: GemmArgs): void {
  const g = resolveGemmArgs(args);
  const { M, N, K } = g;
  // op(A)[i][k] = A[i*aRow + k*aCol] and op(B)[k][j] = B[k*bRow + j*bCol]: the transposes are
  // only a swap of the two strides.
  const aRow = g.transA ? 1 : K;
  const aCol = g.transA ? M : 1;
  const bRow = g.transB ? 1 : N;
  const bCol = g.transB ? K : 1;
  for (let item = 0; item < g.batch; item++) {
    const view: StridedGemm = {
      M, N, K, A: g.A, B: g.B, C: g.C, aRow, aCol, bRow, bCol,
      aOff: g.aOff + item * g.strideA,
      bOff: g.bOff + item * g.strideB,
      cOff: g.cOff + item * g.strideC,
      accumulate: g.accumulate,
    };
    multiplyTiled(view);
    // the bias last, as a separate add after the product would
    if (g.bias) {
      for (let i = 0; i < M; i++) {
        for (let j = 0, at = view.cOff + i * N; j < N; j++, at++) g.C[at] = g.C[at]! + g.bias[g.biasOff + j]!;
      }
    }
  }
}

interface StridedGemm {
  M: number; N: number; K: number;
  A: Float32Array; aOff: number; aRow: number; aCol: number;
  B: Float32Array; bOff: number; bRow: number; bCol: number;
  C: Float32Array; cOff: number;
  accumulate: boolean;
}

function multiplyTiled(g: StridedGemm): void {
  const { M, N, K, A, B, C, aRow, aCol, bRow, bCol, accumulate } = g;
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    for (let j = 0; j < N4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let a = g.aOff + i * aRow; // op(A)[i][k]
      let b = g.bOff + j * bCol; // op(B)[k][j]
      for (let k = 0; k < K; k++, a += aCol, b += bRow) {
        const a0 = A[a]!, a1 = A[a + aRow]!, a2 = A[a + 2 * aRow]!, a3 = A[a + 3 * aRow]!;
        const b0 = B[b]!, b1 = B[b + bCol]!, b2 = B[b + 2 * bCol]!, b3 = B[b + 3 * bCol]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      }
      store4(C, g.cOff + i * N + j, accumulate, c00, c01, c02, c03);
      store4(C, g.cOff + (i + 1) * N + j, accumulate, c10, c11, c12, c13);
      store4(C, g.cOff + (i + 2) * N + j, accumulate, c20, c21, c22, c23);
      store4(C, g.cOff + (i + 3) * N + j, accumulate, c30, c31, c32, c33);
    }
  }
  // The edges the 4 x 4 tiles did not cover: the last M % 4 rows, the last N % 4 columns.
  multiplyScalar(g, M4, M, 0, N);
  multiplyScalar(g, 0, M4, N4, N);
}

function store4(C: Float32Array, at: number, accumulate: boolean, v0: number, v1: number, v2: number, v3: number): void {
  if (accumulate) {
    C[at] = C[at]! + v0; C[at + 1] = C[at + 1]! + v1; C[at + 2] = C[at + 2]! + v2; C[at + 3] = C[at + 3]! + v3;
  } else {
    C[at] = v0; C[at + 1] = v1; C[at + 2] = v2; C[at + 3] = v3;
  }
}

/** One dot product per element, for C[i0..i1)[j0..j1). */
function multiplyScalar(g: StridedGemm, i0: number, i1: number, j0: number, j1: number): void {
  const { N, K, A, B, C, aRow, aCol, bRow, bCol } = g;
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) {
      let sum = 0;
      let a = g.aOff + i * aRow;
      let b = g.bOff + j * bCol;
      for (let k = 0; k < K; k++, a += aCol, b += bRow) sum += A[a]! * B[b]!;
      const at = g.cOff + i * N + j;
      C[at] = g.accumulate ? C[at]! + sum : sum;
    }
  }
}
