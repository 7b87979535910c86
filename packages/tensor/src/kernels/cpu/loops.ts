// The strided loop every broadcasting or reducing kernel runs on: walk an output shape in
// row-major order, carrying an offset into each operand, and hand the innermost dim to a
// row function. Dims that are contiguous in every operand are merged first, so the common
// cases (same shape, bias row, scalar) become one long row.
import type { Shape } from '../../shape.js';

/** Merge adjacent dims where every operand's strides are contiguous, and drop size-1 dims. */
export function collapseDims(shape: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    const mergeable =
      last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * n);
    if (mergeable) {
      outShape[last] = outShape[last]! * n;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
    } else {
      outShape.push(n);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    strides.forEach((_, k) => outStrides[k]!.push(0));
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Call row(offsets, inner) for every innermost row of `shape`, where offsets[k] is operand k's
 * offset at the row's start; operand k advances by strides[k][last] along the row.
 */
export function forEachRow(
  shape: Shape,
  strides: number[][],
  row: (offsets: number[], n: number, innerStrides: number[]) => void,
): void {
  const c = collapseDims(shape, strides);
  const nd = c.shape.length;
  const inner = c.shape[nd - 1]!;
  const innerStrides = c.strides.map((s) => s[nd - 1]!);
  const offsets = c.strides.map(() => 0);
  const counter = new Array<number>(nd).fill(0);
  let rows = 1;
  for (let d = 0; d < nd - 1; d++) rows *= c.shape[d]!;
  for (let r = 0; r < rows; r++) {
    row(offsets, inner, innerStrides);
    // odometer over the outer dims
    for (let d = nd - 2; d >= 0; d--) {
      counter[d]!++;
      for (let k = 0; k < offsets.length; k++) offsets[k]! += c.strides[k]![d]!;
      if (counter[d]! < c.shape[d]!) break;
      for (let k = 0; k < offsets.length; k++) offsets[k]! -= c.strides[k]![d]! * c.shape[d]!;
      counter[d] = 0;
    }
  }
}
