// TEMPORARY: a plain GEMM with the kernels/gemm signature, until kernels/gemm/index.ts lands.
export interface GemmArgs {
  transA: boolean; transB: boolean; M: number; N: number; K: number;
  A: Float32Array; aOff?: number; strideA?: number;
  B: Float32Array; bOff?: number; strideB?: number;
  C: Float32Array; cOff?: number; strideC?: number;
  batch?: number; accumulate?: boolean;
}
export function gemm(g: GemmArgs): void {
  const { transA, transB, M, N, K, A, B, C } = g;
  for (let bi = 0; bi < (g.batch ?? 1); bi++) {
    const ao = (g.aOff ?? 0) + bi * (g.strideA ?? 0);
    const bo = (g.bOff ?? 0) + bi * (g.strideB ?? 0);
    const co = (g.cOff ?? 0) + bi * (g.strideC ?? 0);
    if (!g.accumulate) C.fill(0, co, co + M * N);
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const av = transA ? A[ao + k * M + i]! : A[ao + i * K + k]!;
        if (av === 0) continue;
        for (let j = 0; j < N; j++) C[co + i * N + j]! += av * (transB ? B[bo + j * K + k]! : B[bo + k * N + j]!);
      }
    }
  }
}
