// Emits the GEMM compute kernel as a WebAssembly SIMD module (see wasm-builder.ts for the format).
//
// The kernel only multiplies *packed* operands (pack.ts lays them out), in the BLIS style:
//   packed A: panels of MR rows of op(A); panel i holds op(A)[i*MR + r][k] at float (i*K + k)*MR + r
//   packed B: strips of NR columns of op(B); strip j holds op(B)[k][j*NR + c] at float (j*K + k)*NR + c
// Rows and columns past M and N are packed as zeros, so every tile is a full MR x NR tile and the
// kernel needs no edge cases; C is a padded buffer (ceil(M/MR)*MR rows, row stride ldc) in memory.
//
// One call of gemmUnit(record) computes C[tile rows, tile cols] += A_panels @ B_strips over all K:
//   for each K block of KC:                 (A and B slices stay in L1/L2 across the loops below)
//     for each strip j:                     (the kc x NR strip of B stays in L1 ...)
//       for each panel i:                   (... while kc x MR panels of A stream past it)
//         micro-kernel: MR x NR accumulators in registers, kc rank-1 updates, then C += acc
// The micro-kernel keeps MR * NR/4 f32x4 accumulators; per k it loads NR/4 vectors of B, splats MR
// scalars of A and does MR * NR/4 multiply-adds. x64 has 16 vector registers, which bounds MR x NR.

import { ModuleBuilder, type FunctionBody } from './wasm-builder.js';

export interface KernelShape {
  /** rows of a micro tile */
  mr: number;
  /** columns of a micro tile, a multiple of 4 (f32x4 lanes) */
  nr: number;
  /** K block: how many rank-1 updates run before moving to the next tile */
  kc: number;
}

/** Byte offsets of the fields of a unit record (i32 each) that gemmUnit reads. */
export const UNIT = {
  a: 0, // byte address of the first A panel
  b: 4, // byte address of the first B strip
  c: 8, // byte address of C[tile row 0][tile col 0]
  ldc: 12, // C row stride in bytes
  mPanels: 16, // how many MR-row panels (>= 1)
  nPanels: 20, // how many NR-column strips (>= 1)
  k: 24, // the full K (>= 1): panel and strip strides are K*MR and K*NR floats
  bytes: 32,
} as const;

export interface KernelOptions extends KernelShape {
  /** use f32x4.relaxed_madd (one fused instruction) instead of f32x4.mul + f32x4.add */
  relaxed: boolean;
  /** memory pages (64 KiB) the imported memory declares, and whether it is shared (threads) */
  initialPages: number;
  maximumPages: number;
  shared: boolean;
}

/** Builds the module bytes; it imports env.memory and exports gemmUnit(record: i32). */
export function buildGemmModule(o: KernelOptions): Uint8Array<ArrayBuffer> {
  if (o.nr % 4 !== 0) throw new Error(`buildGemmModule: nr ${o.nr} is not a multiple of 4`);
  const mod = new ModuleBuilder().importMemory(o.initialPages, o.maximumPages, o.shared);
  emitGemmUnit(mod.addFunction('gemmUnit', ['i32'], []), o);
  return mod.build();
}

function emitGemmUnit(f: FunctionBody, o: KernelOptions): void {
  const { mr, nr, kc: KC } = o;
  const nv = nr / 4; // f32x4 vectors per tile row
  const record = 0;
  const a = f.local('i32'); // the unit record's fields (see UNIT)
  const b = f.local('i32');
  const c = f.local('i32');
  const ldc = f.local('i32');
  const mPanels = f.local('i32');
  const nPanels = f.local('i32');
  const K = f.local('i32');
  const aPanelStride = f.local('i32'); // bytes between A panels: K * MR * 4
  const bStripStride = f.local('i32'); // bytes between B strips: K * NR * 4
  const kLeft = f.local('i32');
  const kc = f.local('i32'); // this K block's length
  const aK = f.local('i32'); // A and B at the start of this K block
  const bK = f.local('i32');
  const j = f.local('i32');
  const bj = f.local('i32');
  const cj = f.local('i32');
  const i = f.local('i32');
  const ai = f.local('i32');
  const ci = f.local('i32');
  const k = f.local('i32');
  const pa = f.local('i32');
  const pb = f.local('i32');
  const crow = f.local('i32');
  const acc: number[][] = [];
  for (let r = 0; r < mr; r++) acc.push(Array.from({ length: nv }, () => f.local('v128')));
  const bv = Array.from({ length: nv }, () => f.local('v128'));
  const av = f.local('v128');

  // read the unit record
  const fields: [number, number][] = [[a, UNIT.a], [b, UNIT.b], [c, UNIT.c], [ldc, UNIT.ldc], [mPanels, UNIT.mPanels], [nPanels, UNIT.nPanels], [K, UNIT.k]];
  for (const [local, offset] of fields) f.get(record).i32Load(offset).set(local);
  f.get(K).i32Const(mr * 4).i32Mul().set(aPanelStride);
  f.get(K).i32Const(nr * 4).i32Mul().set(bStripStride);
  f.get(K).set(kLeft).get(a).set(aK).get(b).set(bK);

  // Every loop below is a do-while: the counts are >= 1 (the caller guarantees it).
  f.loop(); // K blocks
  {
    // kc = min(KC, kLeft)
    f.i32Const(KC).get(kLeft).get(kLeft).i32Const(KC).i32GtS().select().set(kc);
    f.get(bK).set(bj).get(c).set(cj).get(nPanels).set(j);
    f.loop(); // strips of B
    {
      f.get(aK).set(ai).get(cj).set(ci).get(mPanels).set(i);
      f.loop(); // panels of A
      {
        emitMicroKernel();
        f.get(ai).get(aPanelStride).i32Add().set(ai);
        f.get(ci).get(ldc).i32Const(mr).i32Mul().i32Add().set(ci);
        f.get(i).i32Const(1).i32Sub().tee(i).brIf(0);
      }
      f.end();
      f.get(bj).get(bStripStride).i32Add().set(bj);
      f.get(cj).i32Const(nr * 4).i32Add().set(cj);
      f.get(j).i32Const(1).i32Sub().tee(j).brIf(0);
    }
    f.end();
    f.get(aK).get(kc).i32Const(mr * 4).i32Mul().i32Add().set(aK);
    f.get(bK).get(kc).i32Const(nr * 4).i32Mul().i32Add().set(bK);
    f.get(kLeft).get(kc).i32Sub().tee(kLeft).i32Const(0).i32GtS().brIf(0);
  }
  f.end();

  /** MR x NR tile: acc = sum over kc of (A column k) x (B row k), then C += acc. */
  function emitMicroKernel(): void {
    for (const row of acc) for (const v of row) f.v128Zero().set(v);
    f.get(ai).set(pa).get(bj).set(pb).get(kc).set(k);
    f.loop();
    {
      for (let v = 0; v < nv; v++) f.get(pb).v128Load(16 * v).set(bv[v]!);
      for (let r = 0; r < mr; r++) {
        f.get(pa).v128Load32Splat(4 * r).set(av);
        for (let v = 0; v < nv; v++) {
          const accumulator = acc[r]![v]!;
          if (o.relaxed) f.get(av).get(bv[v]!).get(accumulator).f32x4RelaxedMadd().set(accumulator);
          else f.get(accumulator).get(av).get(bv[v]!).f32x4Mul().f32x4Add().set(accumulator);
        }
      }
      f.get(pa).i32Const(mr * 4).i32Add().set(pa);
      f.get(pb).i32Const(nr * 4).i32Add().set(pb);
      f.get(k).i32Const(1).i32Sub().tee(k).brIf(0);
    }
    f.end();
    f.get(ci).set(crow);
    for (let r = 0; r < mr; r++) {
      for (let v = 0; v < nv; v++) {
        f.get(crow).get(crow).v128Load(16 * v).get(acc[r]![v]!).f32x4Add().v128Store(16 * v);
      }
      if (r < mr - 1) f.get(crow).get(ldc).i32Add().set(crow);
    }
  }
}
