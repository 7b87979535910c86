// The row kernels in WebAssembly SIMD: softmax, logSoftmax and layerNorm over the last dim with
// their backwards (and attention.ts, which calls softmax), and BitNet's two fake quantizers (per group of consecutive values). The math
// is cpu/nn.ts's, line for line; there it is in float64 scalars, here in f32x4 vectors.
//
// Rows are rarely a multiple of four long (17 tokens, 10 classes), so every pass over a row runs
// its body twice in the emitted code: on whole vectors, then on each leftover float splatted into
// all four lanes, where sums go to separate "tail" accumulators that count lane 0 only. Leftover
// results are stored one float at a time, so a row never writes into the next one (threads may
// own neighbouring rows).
import type { FunctionBody, ModuleBuilder } from './builder.js';
import { at, repeat, rowBounds, whileBelow } from './loops.js';
import * as vm from './vmath.js';
import { emitAttention } from './attention.js';

/** How a row pass loads and stores: four floats, or one float splatted (and lane 0 stored). */
interface Access {
  tail: boolean;
  load(base: number): void;
  store(base: number, value: () => void): void;
}

/** One pass over a row: body(access) for each whole vector, then for each leftover float. */
function rowPass(f: FunctionBody, j: number, vecEnd: number, rowEnd: number, body: (a: Access) => void): void {
  const access = (tail: boolean): Access => ({
    tail,
    load: (base) => void (tail ? at(f, base, j).v128Load32Splat() : at(f, base, j).v128Load()),
    store: (base, value) => {
      at(f, base, j);
      value();
      if (tail) f.f32x4ExtractLane(0).f32Store();
      else f.v128Store();
    },
  });
  f.i32(0).set(j);
  whileBelow(f, j, vecEnd, 16, () => body(access(false)));
  whileBelow(f, j, rowEnd, 4, () => body(access(true)));
}

/** acc += the vector on the stack; a tail adds to its own accumulator (summed from lane 0 only). */
function accumulate(f: FunctionBody, a: Access, acc: number, tailAcc: number): void {
  const target = a.tail ? tailAcc : acc;
  f.get(target).op('f32x4.add').set(target);
}

/** The row total of a vector accumulator and its tail accumulator, as an f32 on the stack. */
function rowTotal(f: FunctionBody, acc: number, tailAcc: number): void {
  vm.horizontalSum(f, acc);
  f.get(tailAcc).f32x4ExtractLane(0).op('f32.add');
}

/** The common frame of a row kernel: locals for the walk, and the loop over rows. */
function rowKernel(f: FunctionBody, rows: number, cols: number) {
  const r = f.local('i32'), j = f.local('i32'), vecEnd = f.local('i32'), rowEnd = f.local('i32');
  rowBounds(f, cols, vecEnd, rowEnd);
  return {
    j, rowEnd,
    pass: (body: (a: Access) => void) => rowPass(f, j, vecEnd, rowEnd, body),
    eachRow: (body: () => void, advance: number[]) =>
      repeat(f, r, rows, () => {
        body();
        for (const p of advance) f.get(p).get(rowEnd).op('i32.add').set(p);
      }),
    /** Pushes the address of the row's entry in a per-row array of floats (mean, rstd, scale). */
    perRow: (base: number) => f.get(base).get(r).i32(2).op('i32.shl').op('i32.add'),
  };
}

/**
 * Sets `max` (v128, all lanes) to the largest value of the row at `src`, passing over NaN as the
 * reference's `if (x > max)` does (a NaN still turns the whole row NaN through exp). pmax is that
 * test and one instruction on x64; f32x4.max orders NaN and -0 in several.
 */
function rowMax(f: FunctionBody, k: ReturnType<typeof rowKernel>, src: number, max: number): void {
  const acc = f.local('v128'), tailAcc = f.local('v128');
  f.f32x4(-Infinity).tee(acc).set(tailAcc);
  k.pass((a) => {
    const target = a.tail ? tailAcc : acc;
    f.get(target);
    a.load(src);
    f.op('f32x4.pmax').set(target);
  });
  f.get(acc).get(tailAcc).op('f32x4.pmax').set(acc);
  vm.horizontalExtreme(f, acc);
  f.op('f32x4.splat').set(max);
}

// softmax(src, dst, rows, cols): exp(x - max) / sum exp(x - max) per row.
function emitSoftmax(mod: ModuleBuilder): FunctionBody {
  const f = mod.addFunction('softmax', ['i32', 'i32', 'i32', 'i32']);
  const [src, dst, rows, cols] = [0, 1, 2, 3];
  const k = rowKernel(f, rows, cols);
  const max = f.local('v128'), x = f.local('v128'), e = f.local('v128'), acc = f.local('v128'), tailAcc = f.local('v128');
  const inv = f.local('v128');
  k.eachRow(() => {
    rowMax(f, k, src, max);
    f.f32x4(0).tee(acc).set(tailAcc);
    k.pass((a) => {
      a.load(src);
      f.get(max).op('f32x4.sub').set(x);
      vm.exp(f, x);
      f.set(e);
      a.store(dst, () => f.get(e));
      f.get(e);
      accumulate(f, a, acc, tailAcc);
    });
    f.f32(1);
    rowTotal(f, acc, tailAcc);
    f.op('f32.div').op('f32x4.splat').set(inv);
    k.pass((a) => a.store(dst, () => { a.load(dst); f.get(inv).op('f32x4.mul'); }));
  }, [src, dst]);
  return f;
}

// softmaxBackward(y, g, dst, rows, cols): y * (g - sum(g*y)) per row.
function emitSoftmaxBackward(mod: ModuleBuilder): FunctionBody {
  const f = mod.addFunction('softmaxBackward', ['i32', 'i32', 'i32', 'i32', 'i32']);
  const [y, g, dst, rows, cols] = [0, 1, 2, 3, 4];
  const k = rowKernel(f, rows, cols);
  const acc = f.local('v128'), tailAcc = f.local('v128'), dot = f.local('v128');
  k.eachRow(() => {
    f.f32x4(0).tee(acc).set(tailAcc);
    k.pass((a) => {
      a.load(g);
      a.load(y);
      f.op('f32x4.mul');
      accumulate(f, a, acc, tailAcc);
    });
    rowTotal(f, acc, tailAcc);
    f.op('f32x4.splat').set(dot);
    k.pass((a) => a.store(dst, () => {
      a.load(y);
      a.load(g);
      f.get(dot).op('f32x4.sub').op('f32x4.mul');
    }));
  }, [y, g, dst]);
  return f;
}

// logSoftmax(src, dst, rows, cols): x - max - log(sum exp(x - max)) per row.
function emitLogSoftmax(mod: ModuleBuilder): void {
  const f = mod.addFunction('logSoftmax', ['i32', 'i32', 'i32', 'i32']);
  const [src, dst, rows, cols] = [0, 1, 2, 3];
  const k = rowKernel(f, rows, cols);
  const max = f.local('v128'), x = f.local('v128'), acc = f.local('v128'), tailAcc = f.local('v128'), lse = f.local('v128');
  k.eachRow(() => {
    rowMax(f, k, src, max);
    f.f32x4(0).tee(acc).set(tailAcc);
    k.pass((a) => {
      a.load(src);
      f.get(max).op('f32x4.sub').set(x);
      vm.exp(f, x);
      accumulate(f, a, acc, tailAcc);
    });
    rowTotal(f, acc, tailAcc);
    f.op('f32x4.splat').set(lse);
    vm.log(f, lse);
    f.get(max).op('f32x4.add').set(lse);
    k.pass((a) => a.store(dst, () => { a.load(src); f.get(lse).op('f32x4.sub'); }));
  }, [src, dst]);
}

// logSoftmaxBackward(y, g, dst, rows, cols): g - exp(y) * sum(g) per row.
function emitLogSoftmaxBackward(mod: ModuleBuilder): void {
  const f = mod.addFunction('logSoftmaxBackward', ['i32', 'i32', 'i32', 'i32', 'i32']);
  const [y, g, dst, rows, cols] = [0, 1, 2, 3, 4];
  const k = rowKernel(f, rows, cols);
  const acc = f.local('v128'), tailAcc = f.local('v128'), sum = f.local('v128'), v = f.local('v128');
  k.eachRow(() => {
    f.f32x4(0).tee(acc).set(tailAcc);
    k.pass((a) => {
      a.load(g);
      accumulate(f, a, acc, tailAcc);
    });
    rowTotal(f, acc, tailAcc);
    f.op('f32x4.splat').set(sum);
    k.pass((a) => a.store(dst, () => {
      a.load(y);
      f.set(v);
      a.load(g);
      vm.exp(f, v);
      f.get(sum).op('f32x4.mul').op('f32x4.sub');
    }));
  }, [y, g, dst]);
}

/**
 * layerNorm(src, dst, w, b, means, rstds, rows, cols, eps): y = (x - mean) * rstd * w + b with
 * rstd = 1/sqrt(var + eps), the biased variance; the caller passes ones for a missing weight and
 * zeros for a missing bias. All of it in f64 (two lanes a vector), as the reference computes it,
 * rounding only y: in f32 the few roundings on the way differed from the reference by a few ulps,
 * enough to move BitNet's int8 activation codes across a .5 step twice as often downstream.
 */
function emitLayerNorm(mod: ModuleBuilder): void {
  const f = mod.addFunction('layerNorm', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64']);
  const [src, dst, w, b, means, rstds, rows, cols, eps] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const k = rowKernel(f, rows, cols);
  const lo = f.local('v128'), hi = f.local('v128'), tail = f.local('f64'), x = f.local('v128');
  const mean = f.local('f64'), rstd = f.local('f64'), mean2 = f.local('v128'), rstd2 = f.local('v128');
  const half = f.local('v128');
  /** Lanes 0-1 (or 2-3) of local v as f64x2. */
  const promote = (v: number, high: boolean): void => {
    if (high) f.get(v).get(v).shuffleLanes([2, 3, 0, 1]);
    else f.get(v);
    f.op('f64x2.promote_low_f32x4');
  };
  /** Sums lanes 0-1 and 2-3 of the f64x2 on the stack's source (emit) into lo and hi. */
  const accumulate2 = (emit: (high: boolean) => void): void => {
    f.get(lo);
    emit(false);
    f.op('f64x2.add').set(lo);
    f.get(hi);
    emit(true);
    f.op('f64x2.add').set(hi);
  };
  const rowSum = (): void => {
    f.get(lo).get(hi).op('f64x2.add').set(lo);
    f.get(lo).f64x2ExtractLane(0).get(lo).f64x2ExtractLane(1).op('f64.add').get(tail).op('f64.add');
  };
  // (x - mean) for one half of local x, as f64x2
  const centered = (high: boolean): void => {
    promote(x, high);
    f.get(mean2).op('f64x2.sub');
  };
  k.eachRow(() => {
    // mean
    f.f64(0).op('f64x2.splat').tee(lo).set(hi).f64(0).set(tail);
    k.pass((a) => {
      a.load(src);
      f.set(x);
      if (a.tail) f.get(tail).get(x).f32x4ExtractLane(0).op('f64.promote_f32').op('f64.add').set(tail);
      else accumulate2((high) => promote(x, high));
    });
    rowSum();
    f.get(cols).op('f64.convert_i32_s').op('f64.div').tee(mean).op('f64x2.splat').set(mean2);
    // variance, two-pass: the mean of (x - mean)^2
    f.f64(0).op('f64x2.splat').tee(lo).set(hi).f64(0).set(tail);
    k.pass((a) => {
      a.load(src);
      f.set(x);
      if (a.tail) {
        f.get(tail).get(x).f32x4ExtractLane(0).op('f64.promote_f32').get(mean).op('f64.sub').tee(rstd).get(rstd).op('f64.mul');
        f.op('f64.add').set(tail);
      } else {
        accumulate2((high) => {
          centered(high);
          f.tee(half).get(half).op('f64x2.mul');
        });
      }
    });
    f.f64(1);
    rowSum();
    f.get(cols).op('f64.convert_i32_s').op('f64.div').get(eps).op('f64.add').op('f64.sqrt').op('f64.div').tee(rstd);
    f.op('f64x2.splat').set(rstd2);
    k.perRow(means).get(mean).op('f32.demote_f64').f32Store();
    k.perRow(rstds).get(rstd).op('f32.demote_f64').f32Store();
    // y = (x - mean) * rstd * w + b, rounded once
    k.pass((a) => a.store(dst, () => {
      a.load(src);
      f.set(x);
      a.load(w);
      f.set(lo);
      a.load(b);
      f.set(hi);
      for (const high of [false, true]) {
        centered(high);
        f.get(rstd2).op('f64x2.mul');
        promote(lo, high);
        f.op('f64x2.mul');
        promote(hi, high);
        f.op('f64x2.add').op('f32x4.demote_f64x2_zero');
      }
      f.shuffleLanes([0, 1, 4, 5]);
    }));
  }, [src, dst]);
}

/**
 * layerNormBackward(x, g, w, means, rstds, dx, dw, db, acc, rows, cols), with xhat = (x - mean) * rstd
 * and d = g * w (ones for a missing weight):
 *   dx = rstd * (d - mean(d) - xhat * mean(d * xhat)),  dw = sum over rows of g * xhat,  db = sum of g.
 * dw and db accumulate in f64 at acc (16*cols bytes of scratch: dw's sums, then db's).
 */
function emitLayerNormBackward(mod: ModuleBuilder): void {
  const f = mod.addFunction('layerNormBackward', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, g, w, means, rstds, dx, dw, db, acc, rows, cols] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const k = rowKernel(f, rows, cols);
  const { j, rowEnd } = k;
  const mean = f.local('v128'), rstd = f.local('v128'), xhat = f.local('v128'), gv = f.local('v128'), d = f.local('v128');
  const sumD = f.local('v128'), tailD = f.local('v128'), sumDX = f.local('v128'), tailDX = f.local('v128');
  const meanD = f.local('v128'), meanDX = f.local('v128'), t = f.local('v128'), dbAcc = f.local('i32');
  f.get(acc).get(cols).i32(3).op('i32.shl').op('i32.add').set(dbAcc);
  // the f64 sum for column j/4 (j in bytes) of dw at acc + 2j, of db at dbAcc + 2j
  const sumAt = (base: number): FunctionBody => f.get(base).get(j).i32(1).op('i32.shl').op('i32.add');
  const addTo = (base: number, value: number, a: Access): void => {
    if (a.tail) {
      sumAt(base);
      sumAt(base).f64Load().get(value).f32x4ExtractLane(0).op('f64.promote_f32').op('f64.add').f64Store();
      return;
    }
    sumAt(base);
    sumAt(base).v128Load().get(value).op('f64x2.promote_low_f32x4').op('f64x2.add').v128Store();
    sumAt(base);
    sumAt(base).v128Load(16).get(value).get(value).shuffleLanes([2, 3, 0, 1]).op('f64x2.promote_low_f32x4').op('f64x2.add').v128Store(16);
  };
  const xhatAndD = (a: Access): void => {
    a.load(x);
    f.get(mean).op('f32x4.sub').get(rstd).op('f32x4.mul').set(xhat);
    a.load(g);
    f.tee(gv);
    a.load(w);
    f.op('f32x4.mul').set(d);
  };
  f.i32(0).set(j);
  whileBelow(f, j, rowEnd, 4, () => {
    sumAt(acc).f64(0).f64Store();
    sumAt(dbAcc).f64(0).f64Store();
  });
  k.eachRow(() => {
    k.perRow(means).v128Load32Splat().set(mean);
    k.perRow(rstds).v128Load32Splat().set(rstd);
    f.f32x4(0).tee(sumD).tee(tailD).tee(sumDX).set(tailDX);
    k.pass((a) => {
      xhatAndD(a);
      f.get(d);
      accumulate(f, a, sumD, tailD);
      f.get(d).get(xhat).op('f32x4.mul');
      accumulate(f, a, sumDX, tailDX);
      f.get(gv).get(xhat).op('f32x4.mul').set(t);
      addTo(acc, t, a);
      addTo(dbAcc, gv, a);
    });
    rowTotal(f, sumD, tailD);
    f.get(cols).op('f32.convert_i32_s').op('f32.div').op('f32x4.splat').set(meanD);
    rowTotal(f, sumDX, tailDX);
    f.get(cols).op('f32.convert_i32_s').op('f32.div').op('f32x4.splat').set(meanDX);
    k.pass((a) => {
      xhatAndD(a);
      a.store(dx, () => {
        f.get(d).get(meanD).op('f32x4.sub').get(xhat).get(meanDX).op('f32x4.mul').op('f32x4.sub').get(rstd).op('f32x4.mul');
      });
    });
  }, [x, g, dx]);
  // round the column sums to f32
  k.pass((a) => {
    a.store(dw, () => void (a.tail ? sumAt(acc).f64Load().op('f32.demote_f64').op('f32x4.splat') : demote4(f, sumAt(acc))));
    a.store(db, () => void (a.tail ? sumAt(dbAcc).f64Load().op('f32.demote_f64').op('f32x4.splat') : demote4(f, sumAt(dbAcc))));
  });
}

/** Four f64 sums at the address on the stack (pushed by `address`, used twice) as one f32x4. */
function demote4(f: FunctionBody, address: FunctionBody): FunctionBody {
  const p = f.local('i32');
  address.set(p);
  f.get(p).v128Load().op('f32x4.demote_f64x2_zero');
  f.get(p).v128Load(16).op('f32x4.demote_f64x2_zero');
  return f.shuffleLanes([0, 1, 4, 5]);
}

/**
 * absmaxQuantize(src, dst, scales, groups, size, qmax, eps): per group of `size` floats,
 * s = qmax / max(max|x|, eps) (in f64, rounded to f32: the reference's Math.fround), then
 * q = clip(roundHalfEven(x * s), -qmax - 1, qmax) / s. Every step is one correctly rounded f32
 * operation, so the result is bit-identical to cpu/nn.ts.
 */
function emitAbsmaxQuantize(mod: ModuleBuilder): void {
  const f = mod.addFunction('absmaxQuantize', ['i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'f64']);
  const [src, dst, scales, groups, size, qmax, eps] = [0, 1, 2, 3, 4, 5, 6];
  const k = rowKernel(f, groups, size);
  const m = f.local('v128'), s = f.local('v128'), hi = f.local('v128'), lo = f.local('v128');
  f.get(qmax).op('f32.demote_f64').op('f32x4.splat').set(hi);
  f.f64(-1).get(qmax).op('f64.sub').op('f32.demote_f64').op('f32x4.splat').set(lo);
  k.eachRow(() => {
    // max |x|: pmax(m, v) is `v > m ? v : m`, the reference's test, so NaN is passed over as there
    f.f32x4(0).set(m);
    k.pass((a) => {
      f.get(m);
      a.load(src);
      f.op('f32x4.abs').op('f32x4.pmax').set(m);
    });
    f.get(qmax);
    vm.horizontalExtreme(f, m);
    f.op('f64.promote_f32').get(eps).op('f64.max').op('f64.div').op('f32.demote_f64').op('f32x4.splat').set(s);
    k.perRow(scales).get(s).f32x4ExtractLane(0).f32Store();
    // pmax/pmin clip as the reference's ternaries do (NaN kept)
    k.pass((a) => a.store(dst, () => {
      a.load(src);
      f.get(s).op('f32x4.mul').op('f32x4.nearest').get(lo).op('f32x4.pmax').get(hi).op('f32x4.pmin').get(s).op('f32x4.div');
    }));
  }, [src, dst]);
}

/**
 * ternaryQuantize(src, dst, scales, groups, size): per group with its scale s,
 * clip(roundHalfEven(x / s), -1, 1) * s; bit-identical to cpu/nn.ts as absmaxQuantize is.
 */
function emitTernaryQuantize(mod: ModuleBuilder): void {
  const f = mod.addFunction('ternaryQuantize', ['i32', 'i32', 'i32', 'i32', 'i32']);
  const [src, dst, scales, groups, size] = [0, 1, 2, 3, 4];
  const k = rowKernel(f, groups, size);
  const s = f.local('v128');
  k.eachRow(() => {
    k.perRow(scales).v128Load32Splat().set(s);
    k.pass((a) => a.store(dst, () => {
      a.load(src);
      f.get(s).op('f32x4.div').op('f32x4.nearest').f32x4(-1).op('f32x4.pmax').f32x4(1).op('f32x4.pmin').get(s).op('f32x4.mul');
    }));
  }, [src, dst]);
}

export function emitNn(mod: ModuleBuilder): void {
  emitAttention(mod, emitSoftmax(mod), emitSoftmaxBackward(mod));
  emitLogSoftmax(mod);
  emitLogSoftmaxBackward(mod);
  emitLayerNorm(mod);
  emitLayerNormBackward(mod);
  emitAbsmaxQuantize(mod);
  emitTernaryQuantize(mod);
}
