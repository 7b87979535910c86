// The elementwise kernels in WebAssembly SIMD, four floats a step: unary maps, binary ops over
// broadcast rows, clamp and the GELU backward. Each op is a vector emitter over v128 locals; the
// loops around it are shared (loops.ts). Results match cpu/elementwise.ts exactly where f32
// arithmetic is exact or correctly rounded (add, mul, div, sqrt, compares, round, ...), and to
// about 1e-6 relative for the polynomial functions (exp, log, tanh, sigmoid, erf, gelu).
import type { BinaryOp, UnaryOp } from '../backend.js';
import type { FunctionBody, ModuleBuilder } from './builder.js';
import { at, repeat, rowBounds, walkRow, whileBelow } from './loops.js';
import * as vm from './vmath.js';

type Unary = (f: FunctionBody, x: number) => void;

export const UNARY: Record<UnaryOp, Unary> = {
  neg: (f, x) => f.get(x).op('f32x4.neg'),
  exp: vm.exp,
  log: vm.log,
  sqrt: (f, x) => f.get(x).op('f32x4.sqrt'),
  rsqrt: (f, x) => f.f32x4(1).get(x).op('f32x4.sqrt').op('f32x4.div'),
  abs: (f, x) => f.get(x).op('f32x4.abs'),
  // Math.sign: 1 above 0, -1 below, and x itself for +-0 and NaN
  sign: (f, x) => {
    f.f32x4(1).f32x4(-1).get(x).f32x4(0).op('f32x4.gt').op('v128.bitselect');
    f.get(x).get(x).f32x4(0).op('f32x4.gt').get(x).f32x4(0).op('f32x4.lt').op('v128.or').op('v128.bitselect');
  },
  tanh: vm.tanh,
  sigmoid: vm.sigmoid,
  // x > 0 ? x : 0 as a mask, so NaN and -0 give +0 as the reference's comparison does
  relu: (f, x) => f.get(x).get(x).f32x4(0).op('f32x4.gt').op('v128.and'),
  gelu: vm.gelu,
  erf: vm.erf,
  round: (f, x) => f.get(x).op('f32x4.nearest'), // IEEE round half to even, as torch.round
  square: (f, x) => f.get(x).get(x).op('f32x4.mul'),
  reciprocal: (f, x) => f.f32x4(1).get(x).op('f32x4.div'),
};

type Binary = (f: FunctionBody, a: number, b: number) => void;
const arith = (name: 'f32x4.add' | 'f32x4.sub' | 'f32x4.mul' | 'f32x4.div' | 'f32x4.max' | 'f32x4.min'): Binary =>
  (f, a, b) => f.get(a).get(b).op(name);
// comparisons give all-ones lanes for true: and-ed with 1.0 that is 1 or 0
const compare = (name: 'f32x4.gt' | 'f32x4.ge' | 'f32x4.lt' | 'f32x4.le' | 'f32x4.eq'): Binary =>
  (f, a, b) => f.get(a).get(b).op(name).f32x4(1).op('v128.and');

/** The binary ops with a SIMD kernel; pow stays in TypeScript (Math.pow has no short polynomial). */
export const BINARY: Partial<Record<BinaryOp, Binary>> = {
  add: arith('f32x4.add'), sub: arith('f32x4.sub'), mul: arith('f32x4.mul'), div: arith('f32x4.div'),
  // f32x4.max/min propagate NaN and order -0 below +0, as Math.max/min do
  maximum: arith('f32x4.max'), minimum: arith('f32x4.min'),
  gt: compare('f32x4.gt'), ge: compare('f32x4.ge'), lt: compare('f32x4.lt'), le: compare('f32x4.le'), eq: compare('f32x4.eq'),
};

/**
 * unary_<op>(src, dst, n): dst[i] = op(src[i]) for n floats, in whole vectors: the last one may
 * run up to three floats past n, into the padding every buffer has (runtime.ts).
 */
function emitUnary(mod: ModuleBuilder, name: UnaryOp, op: Unary): void {
  const f = mod.addFunction(`unary_${name}`, ['i32', 'i32', 'i32']);
  const [src, dst, n] = [0, 1, 2];
  const o = f.local('i32'), bytes = f.local('i32'), x = f.local('v128');
  f.get(n).i32(2).op('i32.shl').set(bytes);
  f.i32(0).set(o);
  whileBelow(f, o, bytes, 16, () => {
    at(f, src, o).v128Load().set(x);
    at(f, dst, o);
    op(f, x);
    f.v128Store();
  });
}

/**
 * binary_<op>(a, b, dst, rows, cols, aRow, bRow, aInner, bInner): `rows` rows of `cols` floats,
 * dst contiguous. Operand rows start aRow / bRow bytes apart; along a row an operand either
 * advances (inner 1) or repeats one value (inner 0: a bias column, a scalar). These two levels
 * cover what broadcasting leaves once contiguous dims are merged (cpu/loops.ts collapseDims).
 */
function emitBinary(mod: ModuleBuilder, name: BinaryOp, op: Binary): void {
  const f = mod.addFunction(`binary_${name}`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [a, b, dst, rows, cols, aRow, bRow, aInner, bInner] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const r = f.local('i32'), j = f.local('i32'), vecEnd = f.local('i32'), rowEnd = f.local('i32');
  const va = f.local('v128'), vb = f.local('v128');
  rowBounds(f, cols, vecEnd, rowEnd);
  const store = (): void => { f.v128Store(); };
  const storeLane0 = (): void => { f.f32x4ExtractLane(0).f32Store(); };
  // one row with the operands loaded as `load` says; the tail computes one float in lane 0
  const row = (loadA: boolean, loadB: boolean): void => {
    walkRow(f, j, vecEnd, rowEnd, () => {
      if (loadA) at(f, a, j).v128Load().set(va);
      if (loadB) at(f, b, j).v128Load().set(vb);
      at(f, dst, j);
      op(f, va, vb);
      store();
    }, () => {
      if (loadA) at(f, a, j).v128Load32Splat().set(va);
      if (loadB) at(f, b, j).v128Load32Splat().set(vb);
      at(f, dst, j);
      op(f, va, vb);
      storeLane0();
    });
  };
  repeat(f, r, rows, () => {
    f.get(aInner).get(bInner).op('i32.and').if();
    row(true, true);
    f.else().get(bInner).op('i32.eqz').if();
    f.get(b).v128Load32Splat().set(vb);
    row(true, false);
    f.else();
    f.get(a).v128Load32Splat().set(va);
    row(false, true);
    f.end().end();
    f.get(a).get(aRow).op('i32.add').set(a);
    f.get(b).get(bRow).op('i32.add').set(b);
    f.get(dst).get(rowEnd).op('i32.add').set(dst);
  });
}

/** clamp(src, dst, n, lo, hi): v < lo ? lo : v > hi ? hi : v, NaN kept (pmax/pmin are those ternaries). */
function emitClamp(mod: ModuleBuilder): void {
  const f = mod.addFunction('clamp', ['i32', 'i32', 'i32', 'f32', 'f32']);
  const [src, dst, n, lo, hi] = [0, 1, 2, 3, 4];
  const o = f.local('i32'), bytes = f.local('i32'), vlo = f.local('v128'), vhi = f.local('v128');
  f.get(lo).op('f32x4.splat').set(vlo).get(hi).op('f32x4.splat').set(vhi);
  f.get(n).i32(2).op('i32.shl').set(bytes);
  f.i32(0).set(o);
  whileBelow(f, o, bytes, 16, () => {
    at(f, dst, o);
    at(f, src, o).v128Load().get(vlo).op('f32x4.pmax').get(vhi).op('f32x4.pmin');
    f.v128Store();
  });
}

/** geluBackward(x, g, dst, n): dst = g * gelu'(x), in whole vectors like unary. */
function emitGeluBackward(mod: ModuleBuilder): void {
  const f = mod.addFunction('geluBackward', ['i32', 'i32', 'i32', 'i32']);
  const [x, g, dst, n] = [0, 1, 2, 3];
  const o = f.local('i32'), bytes = f.local('i32'), v = f.local('v128');
  f.get(n).i32(2).op('i32.shl').set(bytes);
  f.i32(0).set(o);
  whileBelow(f, o, bytes, 16, () => {
    at(f, x, o).v128Load().set(v);
    at(f, dst, o);
    vm.geluGrad(f, v);
    at(f, g, o).v128Load().op('f32x4.mul');
    f.v128Store();
  });
}

/**
 * geluBackwardFromOutput(x, y, g, dst, n): dst = g * gelu'(x) with y = gelu(x) given, so
 * Phi(x) = y / x needs no erf. y / x is Phi to about an ulp while y is a normal float; below
 * |x| = 1e-8 (where y could be subnormal) Phi is 0.5 in f32.
 */
function emitGeluBackwardFromOutput(mod: ModuleBuilder): void {
  const f = mod.addFunction('geluBackwardFromOutput', ['i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, y, g, dst, n] = [0, 1, 2, 3, 4];
  const o = f.local('i32'), bytes = f.local('i32'), v = f.local('v128'), cdf = f.local('v128');
  f.get(n).i32(2).op('i32.shl').set(bytes);
  f.i32(0).set(o);
  whileBelow(f, o, bytes, 16, () => {
    at(f, x, o).v128Load().set(v);
    // Phi = |x| < 1e-8 ? 0.5 : y / x
    f.f32x4(0.5);
    at(f, y, o).v128Load().get(v).op('f32x4.div');
    f.get(v).op('f32x4.abs').f32x4(1e-8).op('f32x4.lt').op('v128.bitselect').set(cdf);
    at(f, dst, o);
    vm.geluGradFromCdf(f, v, cdf);
    at(f, g, o).v128Load().op('f32x4.mul');
    f.v128Store();
  });
}

export function emitElementwise(mod: ModuleBuilder): void {
  for (const [name, op] of Object.entries(UNARY)) emitUnary(mod, name as UnaryOp, op);
  for (const [name, op] of Object.entries(BINARY)) emitBinary(mod, name as BinaryOp, op);
  emitClamp(mod);
  emitGeluBackward(mod);
  emitGeluBackwardFromOutput(mod);
}
