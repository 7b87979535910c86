// The GEMM call's arguments, their defaults, and the checks every path runs first.
import type { PackedOperand } from './packed.js';

/** C = op(A) @ op(B) (+ C if accumulate) (+ bias), row-major float32.
 *  op(A) is M x K: A is M x K row-major when !transA, K x M row-major when transA.
 *  op(B) is K x N: B is K x N row-major when !transB, N x K row-major when transB.
 *  batch > 1: matrices i at offsets aOff + i*strideA, bOff + i*strideB, cOff + i*strideC
 *  (a stride of 0 broadcasts that operand). Batch items run in order, so with strideC = 0 the
 *  items write (or, with accumulate, add) into the same C one after another.
 *  bias: N floats from biasOff added to every row of every item's C, last (after C's old value
 *  when accumulating): a Linear's bias, fused into the GEMM's store instead of a pass of its own. */
export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  A: Float32Array;
  aOff?: number;
  strideA?: number;
  B: Float32Array;
  bOff?: number;
  strideB?: number;
  C: Float32Array;
  cOff?: number;
  strideC?: number;
  batch?: number;
  accumulate?: boolean;
  bias?: Float32Array | null;
  biasOff?: number;
  /** op(B) already packed (WasmGemm.packB, from this B): the SIMD path reads it instead of copying
   *  and packing B again; the TypeScript path reads B. Only for one B (batch 1 or strideB 0). */
  packedB?: PackedOperand | null;
}

/** GemmArgs with every default filled in. */
export type GemmCall = Required<GemmArgs>;

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 0;
}

/** Fills the defaults and checks that every matrix of every batch item lies inside its array. */
export function resolveGemmArgs(args: GemmArgs): GemmCall {
  const { transA, transB, M, N, K, A, B, C } = args;
  const batch = args.batch ?? 1;
  const call: GemmCall = {
    transA, transB, M, N, K, A, B, C, batch,
    aOff: args.aOff ?? 0,
    bOff: args.bOff ?? 0,
    cOff: args.cOff ?? 0,
    strideA: args.strideA ?? M * K,
    strideB: args.strideB ?? K * N,
    strideC: args.strideC ?? M * N,
    accumulate: args.accumulate ?? false,
    bias: args.bias ?? null,
    biasOff: args.biasOff ?? 0,
    packedB: args.packedB ?? null,
  };
  const where = `gemm(M=${M}, N=${N}, K=${K}, batch=${batch}, transA=${transA}, transB=${transB})`;
  for (const [name, n] of [['M', M], ['N', N], ['K', K], ['batch', batch]] as const) {
    if (!isCount(n)) throw new Error(`${where}: ${name} must be a non-negative integer, got ${n}`);
  }
  const operands = [
    ['A', A, call.aOff, call.strideA, M * K],
    ['B', B, call.bOff, call.strideB, K * N],
    ['C', C, call.cOff, call.strideC, M * N],
  ] as const;
  for (const [name, array, offset, stride, size] of operands) {
    if (!(array instanceof Float32Array)) throw new Error(`${where}: ${name} must be a Float32Array`);
    if (!isCount(offset) || !isCount(stride)) {
      throw new Error(`${where}: ${name} offset ${offset} and stride ${stride} must be non-negative integers`);
    }
    if (batch === 0 || size === 0) continue;
    const end = offset + (batch - 1) * stride + size;
    if (end > array.length) {
      throw new Error(`${where}: ${name} needs elements up to ${end} (offset ${offset}, stride ${stride}, ${size} per matrix) but has ${array.length}`);
    }
  }
  if (call.bias !== null) {
    if (!(call.bias instanceof Float32Array)) throw new Error(`${where}: bias must be a Float32Array`);
    if (!isCount(call.biasOff) || call.biasOff + N > call.bias.length) {
      throw new Error(`${where}: bias needs ${N} elements from offset ${call.biasOff} but has ${call.bias.length}`);
    }
  }
  const packed = call.packedB;
  if (packed && (packed.K !== K || packed.N !== N || (batch > 1 && call.strideB !== 0))) {
    throw new Error(`${where}: packedB holds a ${packed.K}x${packed.N} op(B)${batch > 1 && call.strideB !== 0 ? ', and the items have Bs of their own' : ''}`);
  }
  if (batch > 1 && call.strideC !== 0 && call.strideC < M * N) {
    throw new Error(`${where}: strideC ${call.strideC} makes the ${M}x${N} outputs overlap (use 0 or at least ${M * N})`);
  }
  return call;
}
