// Emits the GEMM kernels as a WebAssembly SIMD module (see ../wasm/builder.ts for the format).
//
// The scheme is BLIS's (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS
// Functionality", 2015). The operands are first copied as they are into the memory (wasm-gemm.ts),
// then *packed* into the order the micro-kernel reads them, which is also where the transposes go:
//   packed B: strips of NR columns of op(B); strip j holds op(B)[k][j*NR + c] at float
//             (j*K + k)*NR + c. Packed once per call, shared by all threads (packTask).
//   packed A: panels of MR rows of op(A), one K block at a time; panel i holds op(A)[i*MR + r][k]
//             at float (i*kc + k)*MR + r. Packed by each unit into its thread's scratch.
// Packed panels are contiguous, so the micro-kernel walks both with constant steps, and no
// leading dimension (a power of two maps every row of A to the same cache sets) gets in the way.
// Rows past M and columns past N are packed from whatever lies past the end of the copies (the
// caller leaves zeros there); they only land in padding rows and columns of the C buffer, which
// nobody reads, so every tile is a full MR x NR tile and the kernel has no edge cases.
//
// One call of gemmUnit(record, scratch) computes a block of C (MR*mPanels rows, NR*nPanels cols):
//   for each K block of KC:
//     pack the block's rows of op(A), kc deep, into scratch (MR-row panels; stays in L2)
//     for each strip j of B:                (the kc x NR strip of B stays in L1 ...)
//       for each panel i of A:              (... while the panels of A stream past it)
//         micro-kernel: MR x NR accumulators in registers, kc rank-1 updates, then
//         C = acc on the first K block (unless loadC: accumulate into C), C += acc after,
//         and on the last K block the bias row added last, if there is one
// The micro-kernel keeps MR * NR/4 f32x4 accumulators; per k it loads NR/4 vectors of B, splats MR
// scalars of A and does MR * NR/4 multiply-adds. x64 has 16 vector registers, which bounds MR x NR.

import { ModuleBuilder, type FunctionBody } from '../wasm/builder.js';

export interface KernelShape {
  /** rows of a micro tile, a multiple of 4 */
  mr: number;
  /** columns of a micro tile, a multiple of 4 (f32x4 lanes) */
  nr: number;
  /** K block: how many rank-1 updates run before moving to the next tile */
  kc: number;
}

/** Byte offsets of the fields of a compute unit record (i32 each) that gemmUnit reads. */
export const UNIT = {
  a: 0, // byte address of op(A)[first row of the block][0] in the copy of A
  aLd: 4, // bytes between rows of A as stored (A's row length * 4)
  aKContiguous: 8, // 1: op(A)[i][k..k+1] are neighbours (A not transposed); 0: op(A)[i..i+1][k] are
  b: 12, // byte address of the block's first packed B strip
  c: 16, // byte address of C[first row][first column] of the block
  ldc: 20, // C row stride in bytes
  mPanels: 24, // how many MR-row panels (>= 1)
  nPanels: 28, // how many NR-column strips (>= 1)
  k: 32, // the full K (>= 1); packed B strips are K*NR floats apart
  loadC: 36, // 1: add to C from the first K block on (accumulate); 0: the first block overwrites C
  bias: 40, // byte address of the bias of the block's first column (NR*nPanels floats), 0: none
  bytes: 48,
} as const;

/** Byte offsets of the fields of a packing task record (i32 each) that packTask reads: pack
 *  `panels` strips of B (NR rows of op(B) transposed, `depth` = K deep) from src to dst. */
export const PACK = {
  src: 0, // byte address of the strips' first row in the copy of B
  ld: 4, // bytes between rows of B as stored
  kContiguous: 8, // 1: op(B)[k..k+1][j] are neighbours (B transposed); 0: op(B)[k][j..j+1] are
  panels: 12,
  depth: 16,
  dst: 20,
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

/** Builds the module bytes. It imports env.memory and exports gemmUnit(record, scratch),
 *  packTask(record), the packers packA / packB, moveRows and copyRows (see emitMoveRows, emitCopyRows). */
export function buildGemmModule(o: KernelOptions): Uint8Array<ArrayBuffer> {
  if (o.nr % 4 !== 0 || o.mr % 4 !== 0) throw new Error(`buildGemmModule: mr ${o.mr} and nr ${o.nr} must be multiples of 4`);
  const mod = new ModuleBuilder().importMemory(o.initialPages, o.maximumPages, o.shared);
  const packParams = ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'] as const;
  const packA = mod.addFunction('packA', [...packParams], []);
  emitPack(packA, o.mr);
  const packB = mod.addFunction('packB', [...packParams], []);
  emitPack(packB, o.nr);
  emitPackTask(mod.addFunction('packTask', ['i32'], []), packB);
  emitGemmUnit(mod.addFunction('gemmUnit', ['i32', 'i32'], []), o, packA);
  emitMoveRows(mod.addFunction('moveRows', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []));
  emitCopyRows(mod.addFunction('copyRows', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []));
  return mod.build();
}

/**
 * pack(src, ld, panels, depth, dst, kContiguous): packs `panels` panels of `width` rows of a
 * matrix X, `depth` deep, into dst[((p*depth + k)*width + r)]. X[r][k] lies at
 *   src + r*ld + k*4   when kContiguous (each row of X runs along k: 4 x 4 blocks get transposed)
 *   src + k*ld + r*4   otherwise        (the width values for one k are neighbours: plain copy)
 */
function emitPack(f: FunctionBody, width: number): void {
  const [src, ld, panels, depth, dst, kContiguous] = [0, 1, 2, 3, 4, 5];
  const local = (): number => f.local('i32');
  const p = local(), k = local(), from = local(), to = local();
  const row = Array.from({ length: width }, local); // kContiguous: one pointer per row of the panel
  const v = Array.from({ length: width }, () => f.local('v128'));
  const t = Array.from({ length: 4 }, () => f.local('v128'));
  const groups = width / 4;

  f.get(src).set(from).get(dst).set(to).get(panels).set(p);
  f.loop(); // panels
  f.get(kContiguous).if();
  {
    for (let r = 0; r < width; r++) {
      if (r === 0) f.get(from).set(row[0]!);
      else f.get(row[r - 1]!).get(ld).op('i32.add').set(row[r]!);
    }
    // 4 k at a time: load 4 floats from each row, transpose each 4 x 4 block, store 4 k-rows
    f.get(depth).i32(2).op('i32.shr_u').tee(k).if();
    f.loop();
    {
      for (let r = 0; r < width; r++) f.get(row[r]!).v128Load().set(v[r]!).get(row[r]!).i32(16).op('i32.add').set(row[r]!);
      for (let g = 0; g < groups; g++) {
        const [x0, x1, x2, x3] = v.slice(4 * g, 4 * g + 4) as [number, number, number, number];
        // [a0 a1 a2 a3] [b..] [c..] [d..]  ->  [a0 b0 a1 b1] [a2 b2 a3 b3] [c0 d0 c1 d1] [c2 d2 c3 d3]
        f.get(x0).get(x1).shuffleLanes([0, 4, 1, 5]).set(t[0]!);
        f.get(x0).get(x1).shuffleLanes([2, 6, 3, 7]).set(t[1]!);
        f.get(x2).get(x3).shuffleLanes([0, 4, 1, 5]).set(t[2]!);
        f.get(x2).get(x3).shuffleLanes([2, 6, 3, 7]).set(t[3]!);
        // -> [a0 b0 c0 d0] ... [a3 b3 c3 d3]: k-row q of the group, stored at (q*width + 4g) floats
        const out: [number, number, [number, number, number, number]][] = [
          [0, 2, [0, 1, 4, 5]], [0, 2, [2, 3, 6, 7]], [1, 3, [0, 1, 4, 5]], [1, 3, [2, 3, 6, 7]],
        ];
        out.forEach(([lo, hi, lanes], q) => {
          f.get(to).get(t[lo]!).get(t[hi]!).shuffleLanes(lanes).v128Store((q * width + 4 * g) * 4);
        });
      }
      f.get(to).i32(4 * width * 4).op('i32.add').set(to);
      f.get(k).i32(1).op('i32.sub').tee(k).brIf(0);
    }
    f.end();
    f.end();
    // the last depth % 4 k, one float at a time
    f.get(depth).i32(3).op('i32.and').tee(k).if();
    f.loop();
    {
      for (let r = 0; r < width; r++) {
        f.get(to).get(row[r]!).f32Load().f32Store(r * 4);
        f.get(row[r]!).i32(4).op('i32.add').set(row[r]!);
      }
      f.get(to).i32(width * 4).op('i32.add').set(to);
      f.get(k).i32(1).op('i32.sub').tee(k).brIf(0);
    }
    f.end();
    f.end();
    f.get(from).get(ld).i32(width).op('i32.mul').op('i32.add').set(from); // next panel: width rows on
  }
  f.else();
  {
    f.get(from).set(row[0]!).get(depth).set(k);
    f.loop(); // one k: width neighbouring floats
    {
      for (let g = 0; g < groups; g++) f.get(to).get(row[0]!).v128Load(16 * g).v128Store(16 * g);
      f.get(row[0]!).get(ld).op('i32.add').set(row[0]!);
      f.get(to).i32(width * 4).op('i32.add').set(to);
      f.get(k).i32(1).op('i32.sub').tee(k).brIf(0);
    }
    f.end();
    f.get(from).i32(width * 4).op('i32.add').set(from); // next panel: width columns on
  }
  f.end();
  f.get(p).i32(1).op('i32.sub').tee(p).brIf(0);
  f.end();
}

/**
 * moveRows(src, srcLd, dst, dstLd, rows, rowBytes): copies `rows` rows of rowBytes between row
 * strides srcLd and dstLd (bytes), in place if need be: it squeezes the padded C buffers together
 * before they go out in one copy, and spreads C out to them when accumulating. Squeezing (the
 * rows get closer) runs from the first row, spreading from the last, so that no row is
 * overwritten before it has moved. (In place, dst <= src when squeezing and >= when spreading.)
 */
function emitMoveRows(f: FunctionBody): void {
  const [src, srcLd, dst, dstLd, rows, rowBytes] = [0, 1, 2, 3, 4, 5];
  f.get(rows).op('i32.eqz').if().return().end();
  // forward when dstLd < srcLd, or the strides are equal and dst <= src
  f.get(dstLd).get(srcLd).op('i32.lt_u').get(dstLd).get(srcLd).op('i32.eq').get(dst).get(src).op('i32.le_u').op('i32.and').op('i32.or').if();
  {
    f.loop();
    f.get(dst).get(src).get(rowBytes).memoryCopy();
    f.get(src).get(srcLd).op('i32.add').set(src);
    f.get(dst).get(dstLd).op('i32.add').set(dst);
    f.get(rows).i32(1).op('i32.sub').tee(rows).brIf(0);
    f.end();
  }
  f.else();
  {
    // start from the last row
    f.get(src).get(rows).i32(1).op('i32.sub').get(srcLd).op('i32.mul').op('i32.add').set(src);
    f.get(dst).get(rows).i32(1).op('i32.sub').get(dstLd).op('i32.mul').op('i32.add').set(dst);
    f.loop();
    f.get(dst).get(src).get(rowBytes).memoryCopy();
    f.get(src).get(srcLd).op('i32.sub').set(src);
    f.get(dst).get(dstLd).op('i32.sub').set(dst);
    f.get(rows).i32(1).op('i32.sub').tee(rows).brIf(0);
    f.end();
  }
  f.end();
}

/**
 * copyRows(src, srcLd, dst, dstLd, rows, rowBytes): copies `rows` rows of rowBytes (a multiple of
 * 4) between row strides srcLd and dstLd (bytes); source and destination must not overlap. It
 * moves a C buffer's rows into a C tensor in the heap, which for attention is hundreds of
 * thousands of short rows a training step (17 floats): a vector loop costs a few nanoseconds a
 * row where memory.copy, a call out of the module, cost about 40.
 */
function emitCopyRows(f: FunctionBody): void {
  const [src, srcLd, dst, dstLd, rows, rowBytes] = [0, 1, 2, 3, 4, 5];
  const i = f.local('i32'), vecEnd = f.local('i32');
  f.get(rows).op('i32.eqz').if().return().end();
  f.get(rowBytes).i32(-16).op('i32.and').set(vecEnd);
  f.loop();
  {
    f.i32(0).set(i);
    f.block().loop(); // whole vectors
    f.get(i).get(vecEnd).op('i32.ge_u').brIf(1);
    f.get(dst).get(i).op('i32.add').get(src).get(i).op('i32.add').v128Load().v128Store();
    f.inc(i, 16).br(0).end().end();
    f.block().loop(); // the last floats
    f.get(i).get(rowBytes).op('i32.ge_u').brIf(1);
    f.get(dst).get(i).op('i32.add').get(src).get(i).op('i32.add').f32Load().f32Store();
    f.inc(i, 4).br(0).end().end();
    f.get(src).get(srcLd).op('i32.add').set(src);
    f.get(dst).get(dstLd).op('i32.add').set(dst);
    f.get(rows).i32(1).op('i32.sub').tee(rows).brIf(0);
  }
  f.end();
}

/** packTask(record): one packing task of the pool; the record's fields are PACK's. */
function emitPackTask(f: FunctionBody, packB: FunctionBody): void {
  for (const field of [PACK.src, PACK.ld, PACK.panels, PACK.depth, PACK.dst, PACK.kContiguous]) f.get(0).i32Load(field);
  f.call(packB);
}

function emitGemmUnit(f: FunctionBody, o: KernelOptions, packA: FunctionBody): void {
  const { mr, nr, kc: KC } = o;
  const nv = nr / 4; // f32x4 vectors per tile row
  const [record, scratch] = [0, 1]; // the parameters
  const local = (): number => f.local('i32');
  // the unit record's fields (see UNIT)
  const a = local(), aLd = local(), aKContiguous = local(), b = local(), c = local(), ldc = local();
  const mPanels = local(), nPanels = local(), K = local(), loadC = local(), bias = local();
  const fields = { a, aLd, aKContiguous, b, c, ldc, mPanels, nPanels, k: K, loadC, bias };
  for (const [name, index] of Object.entries(fields)) f.get(record).i32Load(UNIT[name as keyof typeof fields]).set(index);

  const bStripStride = local(); // bytes between B strips: K * NR floats
  const kLeft = local();
  const kc = local(); // this K block's length
  const aK = local(); // A (as stored) and packed B at the start of this K block
  const bK = local();
  const j = local(), bj = local(), cj = local(), biasj = local(); // strip loop
  const addBias = local(); // 1 on the last K block when there is a bias
  const i = local(), ai = local(), ci = local(); // panel loop
  const k = local(), pa = local(), pb = local(), crow = local(); // micro-kernel
  const acc: number[][] = [];
  for (let r = 0; r < mr; r++) acc.push(Array.from({ length: nv }, () => f.local('v128')));
  const bv = Array.from({ length: nv }, () => f.local('v128'));
  const av = f.local('v128');

  f.get(K).i32(nr * 4).op('i32.mul').set(bStripStride);
  f.get(K).set(kLeft).get(a).set(aK).get(b).set(bK);

  // Every loop below is a do-while: the counts are >= 1 (the caller guarantees it).
  f.loop(); // K blocks
  {
    // kc = min(KC, kLeft)
    f.i32(KC).get(kLeft).get(kLeft).i32(KC).op('i32.gt_s').op('select').set(kc);
    f.get(aK).get(aLd).get(mPanels).get(kc).get(scratch).get(aKContiguous).call(packA);
    // the last K block (kLeft <= KC) adds the bias
    f.get(bias).i32(0).op('i32.ne').get(kLeft).i32(KC).op('i32.le_s').op('i32.and').set(addBias);
    f.get(bK).set(bj).get(c).set(cj).get(bias).set(biasj).get(nPanels).set(j);
    f.loop(); // strips of B
    {
      f.get(scratch).set(ai).get(cj).set(ci).get(mPanels).set(i);
      f.loop(); // panels of A
      {
        emitMicroKernel();
        f.get(ai).get(kc).i32(mr * 4).op('i32.mul').op('i32.add').set(ai);
        f.get(ci).get(ldc).i32(mr).op('i32.mul').op('i32.add').set(ci);
        f.get(i).i32(1).op('i32.sub').tee(i).brIf(0);
      }
      f.end();
      f.get(bj).get(bStripStride).op('i32.add').set(bj);
      f.get(cj).i32(nr * 4).op('i32.add').set(cj);
      f.get(biasj).i32(nr * 4).op('i32.add').set(biasj);
      f.get(j).i32(1).op('i32.sub').tee(j).brIf(0);
    }
    f.end();
    // A moves kc along k: kc floats when k runs along its rows, kc rows otherwise
    f.get(aK).get(kc).i32(4).op('i32.mul').get(kc).get(aLd).op('i32.mul').get(aKContiguous).op('select').op('i32.add').set(aK);
    f.get(bK).get(kc).i32(nr * 4).op('i32.mul').op('i32.add').set(bK);
    f.i32(1).set(loadC); // later K blocks add to what the first one stored
    f.get(kLeft).get(kc).op('i32.sub').tee(kLeft).i32(0).op('i32.gt_s').brIf(0);
  }
  f.end();

  /** MR x NR tile: acc = sum over kc of (A column k) x (B row k), then C = acc or C += acc. */
  function emitMicroKernel(): void {
    for (const row of acc) for (const v of row) f.f32x4(0).set(v);
    f.get(ai).set(pa).get(bj).set(pb).get(kc).set(k);
    f.loop();
    {
      for (let v = 0; v < nv; v++) f.get(pb).v128Load(16 * v).set(bv[v]!);
      for (let r = 0; r < mr; r++) {
        f.get(pa).v128Load32Splat(4 * r).set(av);
        for (let v = 0; v < nv; v++) {
          const accumulator = acc[r]![v]!;
          if (o.relaxed) f.get(av).get(bv[v]!).get(accumulator).op('f32x4.relaxed_madd').set(accumulator);
          else f.get(accumulator).get(av).get(bv[v]!).op('f32x4.mul').op('f32x4.add').set(accumulator);
        }
      }
      f.get(pa).i32(mr * 4).op('i32.add').set(pa);
      f.get(pb).i32(nr * 4).op('i32.add').set(pb);
      f.get(k).i32(1).op('i32.sub').tee(k).brIf(0);
    }
    f.end();
    // the bias row (its NR floats for this strip) in the B registers, free once the k loop is done
    f.get(addBias).if();
    for (let v = 0; v < nv; v++) f.get(biasj).v128Load(16 * v).set(bv[v]!);
    emitStores(true);
    f.else();
    emitStores(false);
    f.end();
  }

  /** C = acc, or C += acc when loadC (two copies of the store code, picked by an if); + bias. */
  function emitStores(withBias: boolean): void {
    for (const add of [true, false]) {
      if (add) f.get(loadC).if();
      else f.else();
      f.get(ci).set(crow);
      for (let r = 0; r < mr; r++) {
        for (let v = 0; v < nv; v++) {
          f.get(crow);
          if (add) f.get(crow).v128Load(16 * v).get(acc[r]![v]!).op('f32x4.add');
          else f.get(acc[r]![v]!);
          if (withBias) f.get(bv[v]!).op('f32x4.add');
          f.v128Store(16 * v);
        }
        if (r < mr - 1) f.get(crow).get(ldc).op('i32.add').set(crow);
      }
    }
    f.end();
  }
}
