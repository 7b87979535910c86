// Packing: copy an operand into the layout the micro-kernel streams through (wasm-kernel.ts).
//
// Both operands pack the same way. A matrix X with `rows` rows of `depth` = K elements, where
// X[r][k] = src[off + r*rowStride + k*colStride], is cut into panels of `width` rows; panel p is
// stored k-major: dst[dstOff + (p*depth + k)*width + r] = X[p*width + r][k], rows past the end = 0.
//   A: X = op(A) (M x K), width MR.   B: X = op(B) transposed (N x K), width NR.
// This is where the transposes go: a transposed operand only swaps rowStride and colStride, and
// after packing the kernel sees the same layout in all four transA/transB cases.

export interface StridedMatrix {
  src: Float32Array;
  off: number;
  rows: number;
  depth: number;
  rowStride: number;
  colStride: number;
}

/** Floats that packing `rows` rows of `depth` into panels of `width` writes. */
export function packedSize(rows: number, depth: number, width: number): number {
  return Math.ceil(rows / width) * width * depth;
}

export function packPanels(x: StridedMatrix, width: number, dst: Float32Array, dstOff: number): void {
  const { src, off, rows, depth, rowStride, colStride } = x;
  for (let r0 = 0; r0 < rows; r0 += width) {
    const panel = dstOff + r0 * depth; // (r0/width) * depth * width
    const live = Math.min(width, rows - r0);
    if (colStride === 1) {
      // Each row is contiguous along k: copy row by row, writing with stride `width`.
      for (let r = 0; r < live; r++) {
        const from = off + (r0 + r) * rowStride;
        for (let k = 0, to = panel + r; k < depth; k++, to += width) dst[to] = src[from + k]!;
      }
    } else {
      // Rows are the fast index: for each k the panel's `live` values sit side by side (when
      // rowStride is 1), so reads and writes both run forward.
      for (let k = 0; k < depth; k++) {
        const from = off + r0 * rowStride + k * colStride;
        const to = panel + k * width;
        for (let r = 0; r < live; r++) dst[to + r] = src[from + r * rowStride]!;
      }
    }
    if (live < width) {
      for (let k = 0; k < depth; k++) dst.fill(0, panel + k * width + live, panel + (k + 1) * width);
    }
  }
}
