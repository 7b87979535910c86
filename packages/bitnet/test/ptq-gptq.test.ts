// GPTQ on a ternary grid: the linear algebra (Cholesky of H^-1, the Hessian), and the claim
// that matters - on correlated inputs it lowers the layer's output error below plain rounding
// to the same grid.
import { describe, expect, it } from 'vitest';
import { Generator, Tensor, randn } from '@bitvit/tensor';
import { fitTernary } from '../src/ptq/fit.js';
import { HessianAccumulator, cholesky, gptqTernary, refitScalesToOutputs, roundToGrid, upperCholeskyOfInverse } from '../src/ptq/gptq.js';
import { dequantize, type TernaryWeights } from '../src/ptq/ternary-weights.js';

/** X [n, cols] with strongly correlated columns: a few latent factors mixed, plus a little noise. */
function correlatedInputs(n: number, cols: number, factors: number, g: Generator): Float64Array {
  const mix = randn([factors, cols], { generator: g }).data;
  const x = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: factors }, () => g.normal());
    for (let c = 0; c < cols; c++) {
      let v = 0.1 * g.normal();
      for (let f = 0; f < factors; f++) v += z[f]! * mix[f * cols + c]!;
      x[i * cols + c] = v;
    }
  }
  return x;
}

function hessianOf(x: Float64Array, n: number, cols: number): Float64Array {
  const acc = new HessianAccumulator(cols);
  acc.add(new Tensor(Float32Array.from(x), [n, cols]));
  return acc.hessian();
}

/** ||X W^T - X Wq^T||_F for the float weights and their quantized twin. */
function outputError(x: Float64Array, n: number, w: ArrayLike<number>, wq: ArrayLike<number>, rows: number, cols: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let c = 0; c < cols; c++) d += x[i * cols + c]! * (w[r * cols + c]! - wq[r * cols + c]!);
      s += d * d;
    }
  }
  return Math.sqrt(s);
}

const withCodes = (q: TernaryWeights, codes: Int8Array): TernaryWeights => ({ ...q, planes: [{ codes, alpha: q.planes[0]!.alpha }] });

describe('linear algebra', () => {
  it('cholesky: L L^T = A; null for a matrix that is not positive definite', () => {
    const A = Float64Array.of(4, 2, 2, 3);
    const L = cholesky(A, 2)!;
    expect(Array.from(L)).toEqual([2, 0, 1, Math.sqrt(2)]);
    expect(cholesky(Float64Array.of(1, 2, 2, 1), 2)).toBeNull();
  });

  it('upperCholeskyOfInverse: U upper triangular with U^T U = (H + damp mean(diag) I)^-1', () => {
    const g = new Generator(3);
    const n = 7;
    const H = hessianOf(correlatedInputs(40, n, 3, g), 40, n);
    const damp = 0.05;
    const U = upperCholeskyOfInverse(H, n, damp);
    let meanDiag = 0;
    for (let i = 0; i < n; i++) meanDiag += H[i * n + i]! / n;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(U[i * n + j]).toBe(0);
    // (U^T U) (H + damp) = I
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) {
          let utu = 0;
          for (let m = 0; m < n; m++) utu += U[m * n + i]! * U[m * n + k]!;
          s += utu * (H[k * n + j]! + (k === j ? damp * meanDiag : 0));
        }
        expect(s).toBeCloseTo(i === j ? 1 : 0, 8);
      }
    }
  });

  it('raises the dampening for a singular Hessian, and says so when even that fails', () => {
    // Rank one (one input direction only): singular without dampening, fine with it.
    const H = Float64Array.of(1, 1, 1, 1);
    expect(() => upperCholeskyOfInverse(H, 2, 0)).toThrow(/not positive definite even with dampening 0/);
    expect(upperCholeskyOfInverse(H, 2, 0.01).every(Number.isFinite)).toBe(true);
  });

  it('HessianAccumulator: H = 2/n X^T X over every batch, leading dims flattened', () => {
    const acc = new HessianAccumulator(2);
    acc.add(new Tensor(Float32Array.of(1, 2, 3, 4), [1, 2, 2])); // rows (1,2), (3,4)
    acc.add(new Tensor(Float32Array.of(0, 1), [1, 2]));
    // X^T X = [[1+9+0, 2+12+0], [2+12+0, 4+16+1]] = [[10, 14], [14, 21]], n = 3
    expect(Array.from(acc.hessian())).toEqual([20 / 3, 28 / 3, 28 / 3, 14]);
    expect(() => acc.add(new Tensor(new Float32Array(3), [1, 3]))).toThrow(/does not end in 2 features/);
    expect(() => new HessianAccumulator(2).hessian()).toThrow(/no calibration inputs/);
  });
});

describe('gptqTernary', () => {
  const g = new Generator(11);
  const rows = 12;
  const cols = 24;
  const n = 512;
  const x = correlatedInputs(n, cols, 4, g);
  const H = hessianOf(x, n, cols);
  const w = randn([rows, cols], { generator: g, std: 0.3 }).data;

  for (const [gran, sym] of [['tensor', true], ['channel', true], ['channel', false]] as const) {
    it(`lowers ||XW^T - XWq^T|| below plain rounding on the same grid (${gran}, ${sym ? 'sym' : 'asym'})`, () => {
      const grid = fitTernary(w, rows, cols, 'twn-refit', gran, sym);
      const rtn = withCodes(grid, roundToGrid(w, grid));
      const gptq = gptqTernary(w, grid, H);
      const gptqOrdered = gptqTernary(w, grid, H, { actOrder: true });
      expect(gptq.planes[0]!.alpha).toEqual(grid.planes[0]!.alpha); // the grid is kept
      const eRtn = outputError(x, n, w, dequantize(rtn), rows, cols);
      const eGptq = outputError(x, n, w, dequantize(gptq), rows, cols);
      const eOrdered = outputError(x, n, w, dequantize(gptqOrdered), rows, cols);
      expect(eGptq).toBeLessThan(0.8 * eRtn);
      expect(eOrdered).toBeLessThan(0.8 * eRtn);
      // The output-error scale refit after it lowers the error again (it is the minimiser for the codes).
      const eRefit = outputError(x, n, w, dequantize(refitScalesToOutputs(w, gptq, H)), rows, cols);
      expect(eRefit).toBeLessThanOrEqual(eGptq * (1 + 1e-9));
    });
  }

  it('equals plain rounding when the inputs are uncorrelated (H = c I: no error to pass on)', () => {
    const grid = fitTernary(w, rows, cols, 'twn', 'channel', true);
    const Hdiag = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) Hdiag[i * cols + i] = 3;
    expect(Array.from(gptqTernary(w, grid, Hdiag).planes[0]!.codes)).toEqual(Array.from(roundToGrid(w, grid)));
  });

  it('gives the same codes for every block size (blocks only group rows for memory traffic)', () => {
    const grid = fitTernary(w, rows, cols, 'twn-refit', 'channel', true);
    const a = gptqTernary(w, grid, H, { blockSize: 1 }).planes[0]!.codes;
    const b = gptqTernary(w, grid, H, { blockSize: 5 }).planes[0]!.codes;
    const c = gptqTernary(w, grid, H, { blockSize: 64 }).planes[0]!.codes;
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).toEqual(Array.from(a));
  });

  it('works through a dead input (a column that is always zero)', () => {
    const xd = Float64Array.from(x);
    for (let i = 0; i < n; i++) xd[i * cols + 5] = 0;
    const Hd = hessianOf(xd, n, cols);
    const grid = fitTernary(w, rows, cols, 'twn-refit', 'channel', true);
    const q = gptqTernary(w, grid, Hd);
    expect(outputError(xd, n, w, dequantize(q), rows, cols)).toBeLessThan(outputError(xd, n, w, dequantize(withCodes(grid, roundToGrid(w, grid))), rows, cols));
  });

  it('checks its arguments', () => {
    const grid = fitTernary(w, rows, cols, 'twn', 'tensor', true);
    expect(() => gptqTernary(w, grid, new Float64Array(4))).toThrow(/Hessian of 4 values for 24 input features/);
    expect(() => gptqTernary(w.subarray(1), grid, H)).toThrow(/287 weights for a \[12, 24\] grid/);
  });
});
