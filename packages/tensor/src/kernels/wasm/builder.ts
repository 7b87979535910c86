// The WebAssembly module builder every emitted kernel uses: the elementwise, reduction and
// normalisation kernels (kernels/wasm/*), the GEMM (kernels/gemm/wasm-kernel.ts) and, exported
// from @bitvit/tensor as `wasm`, the packed ternary kernel of @bitvit/bitnet. The binary format
// is written byte by byte from TypeScript, so no toolchain and no prebuilt binary. Instructions
// go by their text-format names, so emitter code reads like a .wat listing:
//
//   f.get(x).get(y).op('i32.add').set(z);       // z = x + y
//
// Format reference: https://webassembly.github.io/spec/core/binary/ (5.4 instructions, 5.5
// modules), the fixed-width SIMD proposal's opcode table (all SIMD opcodes follow 0xfd, written
// as LEB128, so those from 0x80 up take two bytes) and the relaxed-SIMD proposal's.

export type ValType = 'i32' | 'f32' | 'f64' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128: 7 bits a byte, low bits first, high bit set on every byte but the last. */
export function u32leb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates): stop once the remaining bits are all sign bits. */
export function s32leb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function f32Bytes(value: number): number[] {
  return [...new Uint8Array(Float32Array.of(value).buffer)];
}

function f64Bytes(value: number): number[] {
  return [...new Uint8Array(Float64Array.of(value).buffer)];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...u32leb(bytes.length), ...bytes];
}

function vec(items: number[][]): number[] {
  return [...u32leb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...u32leb(body.length), ...body];
}

// The SIMD instructions without immediates that the kernels use, by their text-format names.
const SIMD = {
  'i8x16.splat': 0x0f, 'i16x8.splat': 0x10, 'i32x4.splat': 0x11, 'f32x4.splat': 0x13, 'f64x2.splat': 0x14,
  'i8x16.swizzle': 0x0e,
  'f32x4.eq': 0x41, 'f32x4.ne': 0x42, 'f32x4.lt': 0x43, 'f32x4.gt': 0x44, 'f32x4.le': 0x45, 'f32x4.ge': 0x46,
  'v128.not': 0x4d, 'v128.and': 0x4e, 'v128.andnot': 0x4f, 'v128.or': 0x50, 'v128.xor': 0x51,
  'v128.bitselect': 0x52, 'v128.any_true': 0x53,
  'f32x4.demote_f64x2_zero': 0x5e, 'f64x2.promote_low_f32x4': 0x5f,
  'i8x16.narrow_i16x8_s': 0x65, 'i16x8.narrow_i32x4_s': 0x85,
  'i8x16.shl': 0x6b, 'i8x16.shr_s': 0x6c, 'i8x16.shr_u': 0x6d, 'i8x16.add': 0x6e, 'i8x16.sub': 0x71,
  'i16x8.extend_low_i8x16_s': 0x87, 'i16x8.extend_high_i8x16_s': 0x88,
  'i16x8.shl': 0x8b, 'i16x8.shr_s': 0x8c, 'i16x8.shr_u': 0x8d, 'i16x8.add': 0x8e, 'i16x8.sub': 0x91, 'i16x8.mul': 0x95,
  'i32x4.extend_low_i16x8_s': 0xa7, 'i32x4.extend_high_i16x8_s': 0xa8,
  'f32x4.ceil': 0x67, 'f32x4.floor': 0x68, 'f32x4.trunc': 0x69, 'f32x4.nearest': 0x6a,
  'i32x4.shl': 0xab, 'i32x4.shr_s': 0xac, 'i32x4.shr_u': 0xad, 'i32x4.add': 0xae, 'i32x4.sub': 0xb1,
  'i32x4.gt_s': 0x3b, 'i32x4.eq': 0x37, 'i32x4.dot_i16x8_s': 0xba,
  'f32x4.abs': 0xe0, 'f32x4.neg': 0xe1, 'f32x4.sqrt': 0xe3, 'f32x4.add': 0xe4, 'f32x4.sub': 0xe5,
  'f32x4.mul': 0xe6, 'f32x4.div': 0xe7, 'f32x4.min': 0xe8, 'f32x4.max': 0xe9,
  // pmin(a, b) = b < a ? b : a and pmax(a, b) = a < b ? b : a: the C ternaries, NaN in a kept
  'f32x4.pmin': 0xea, 'f32x4.pmax': 0xeb,
  'f64x2.add': 0xf0, 'f64x2.sub': 0xf1, 'f64x2.mul': 0xf2,
  'i32x4.trunc_sat_f32x4_s': 0xf8, 'f32x4.convert_i32x4_s': 0xfa,
  // relaxed SIMD (Node 22+, Chrome 114+): relaxed_swizzle may do anything for indices >= 16 (one
  // instruction less on x86), relaxed_madd(a, b, c) = a*b + c, fused where the CPU has FMA;
  // relaxed_dot_i8x16_i7x16_s(a, b): lane j of the i16x8 is a[2j]*b[2j] + a[2j+1]*b[2j+1], a signed
  // bytes, b bytes in 0..127 (x86: one pmaddubsw)
  // relaxed_trunc_f32x4_s: trunc_sat where the value fits (x86: one cvttps2dq, where trunc_sat
  // takes a fix-up sequence for out-of-range lanes)
  'i8x16.relaxed_swizzle': 0x100, 'i32x4.relaxed_trunc_f32x4_s': 0x101, 'f32x4.relaxed_madd': 0x105,
  'i16x8.relaxed_dot_i8x16_i7x16_s': 0x112,
} as const;
export type SimdOp = keyof typeof SIMD;

// Scalar instructions without immediates, by their text-format names.
const SCALAR = {
  'drop': 0x1a, 'select': 0x1b,
  'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.ne': 0x47, 'i32.lt_s': 0x48, 'i32.lt_u': 0x49, 'i32.gt_s': 0x4a,
  'i32.gt_u': 0x4b, 'i32.le_s': 0x4c, 'i32.le_u': 0x4d, 'i32.ge_s': 0x4e, 'i32.ge_u': 0x4f,
  'f32.eq': 0x5b, 'f32.ne': 0x5c, 'f32.lt': 0x5d, 'f32.gt': 0x5e, 'f32.le': 0x5f, 'f32.ge': 0x60,
  'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.div_u': 0x6e, 'i32.and': 0x71, 'i32.or': 0x72,
  'i32.shl': 0x74, 'i32.shr_s': 0x75, 'i32.shr_u': 0x76,
  'f32.abs': 0x8b, 'f32.neg': 0x8c, 'f32.nearest': 0x90, 'f32.sqrt': 0x91, 'f32.add': 0x92, 'f32.sub': 0x93,
  'f32.mul': 0x94, 'f32.div': 0x95, 'f32.min': 0x96, 'f32.max': 0x97,
  'f64.add': 0xa0, 'f64.sub': 0xa1, 'f64.mul': 0xa2, 'f64.div': 0xa3, 'f64.max': 0xa5, 'f64.sqrt': 0x9f,
  'f32.convert_i32_s': 0xb2, 'f32.demote_f64': 0xb6, 'f64.convert_i32_s': 0xb7, 'f64.promote_f32': 0xbb,
} as const;
export type ScalarOp = keyof typeof SCALAR;

/**
 * The body of one function. Each method appends one instruction and returns `this`, so a line of
 * emitter code reads like a line of the text format: `f.get(x).v128Load().op('f32x4.abs')`.
 * Locals are numbered: the parameters first, then those declared with `local()`.
 */
/** Where a module's vector constants come from (ModuleBuilder's options). */
export interface BuilderOptions {
  /** Load non-zero v128 constants from this byte address (Heap.constant) instead of v128.const. */
  constants?: (bytes: readonly number[]) => number;
  /** mulAdd() emits f32x4.relaxed_madd (one fused multiply-add; relaxed SIMD must validate). */
  relaxedSimd?: boolean;
}

export class FunctionBody {
  readonly code: number[] = [];
  private readonly locals: ValType[] = [];
  constructor(readonly params: readonly ValType[], readonly index: number, private readonly options: BuilderOptions = {}) {}

  /** Declares a local of the given type and returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  private emit(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }
  private simd(opcode: number, ...immediates: number[]): this {
    return this.emit(0xfd, ...u32leb(opcode), ...immediates);
  }
  /** memarg: alignment as log2 of bytes (a hint only), then the constant byte offset. */
  private memarg(alignLog2: number, offset: number): number[] {
    return [...u32leb(alignLog2), ...u32leb(offset)];
  }

  /** An instruction without immediates, by its text-format name ('f32x4.add', 'i32.shl', ...). */
  op(name: SimdOp | ScalarOp): this {
    if (name in SIMD) return this.simd(SIMD[name as SimdOp]);
    return this.emit(SCALAR[name as ScalarOp]);
  }

  // control flow; blocks take and leave nothing on the stack (block type 0x40)
  block(): this { return this.emit(0x02, 0x40); }
  loop(): this { return this.emit(0x03, 0x40); }
  if(): this { return this.emit(0x04, 0x40); }
  else(): this { return this.emit(0x05); }
  end(): this { return this.emit(0x0b); }
  br(depth: number): this { return this.emit(0x0c, ...u32leb(depth)); }
  brIf(depth: number): this { return this.emit(0x0d, ...u32leb(depth)); }
  return(): this { return this.emit(0x0f); }
  call(fn: FunctionBody): this { return this.emit(0x10, ...u32leb(fn.index)); }

  // locals
  get(index: number): this { return this.emit(0x20, ...u32leb(index)); }
  set(index: number): this { return this.emit(0x21, ...u32leb(index)); }
  tee(index: number): this { return this.emit(0x22, ...u32leb(index)); }
  /** `local += step` for an i32 local. */
  inc(index: number, step: number): this { return this.get(index).i32(step).op('i32.add').set(index); }

  // constants
  i32(value: number): this { return this.emit(0x41, ...s32leb(value)); }
  f32(value: number): this { return this.emit(0x43, ...f32Bytes(value)); }
  f64(value: number): this { return this.emit(0x44, ...f64Bytes(value)); }
  /** A v128 constant of four equal f32 lanes. */
  f32x4(value: number): this {
    const lane = f32Bytes(value);
    return this.v128Constant([...lane, ...lane, ...lane, ...lane]);
  }
  /** A v128 constant of four equal i32 lanes (bit masks, exponent biases). */
  i32x4(value: number): this {
    const lane = [...new Uint8Array(Int32Array.of(value).buffer)];
    return this.v128Constant([...lane, ...lane, ...lane, ...lane]);
  }
  /** v128.const, or a load from the constant table where the module has one; zero stays a
   *  v128.const (V8 makes it with one xor). */
  private v128Constant(bytes: number[]): this {
    const table = this.options.constants;
    if (!table || bytes.every((b) => b === 0)) return this.simd(0x0c, ...bytes);
    return this.i32(table(bytes)).v128Load();
  }
  /** a * b + c for three emitters of one f32x4 each: f32x4.relaxed_madd where the module allows
   *  it (fused, one rounding), else a multiply and an add. */
  mulAdd(a: () => void, b: () => void, c: () => void): this {
    a();
    b();
    if (this.options.relaxedSimd) {
      c();
      return this.op('f32x4.relaxed_madd');
    }
    this.op('f32x4.mul');
    c();
    return this.op('f32x4.add');
  }
  /** A v128 constant from its 16 bytes, lane 0 first (lookup tables, per-byte masks). */
  v128Bytes(bytes: readonly number[]): this {
    if (bytes.length !== 16) throw new Error(`FunctionBody.v128Bytes: expected 16 bytes, got ${bytes.length}`);
    return this.simd(0x0c, ...bytes.map((b) => b & 0xff));
  }

  // memory; `offset` is a constant added to the address on the stack
  i32Load(offset = 0): this { return this.emit(0x28, ...this.memarg(2, offset)); }
  f32Load(offset = 0): this { return this.emit(0x2a, ...this.memarg(2, offset)); }
  f64Load(offset = 0): this { return this.emit(0x2b, ...this.memarg(3, offset)); }
  i32Store(offset = 0): this { return this.emit(0x36, ...this.memarg(2, offset)); }
  f32Store(offset = 0): this { return this.emit(0x38, ...this.memarg(2, offset)); }
  f64Store(offset = 0): this { return this.emit(0x39, ...this.memarg(3, offset)); }
  v128Load(offset = 0): this { return this.simd(0x00, ...this.memarg(4, offset)); }
  v128Store(offset = 0): this { return this.simd(0x0b, ...this.memarg(4, offset)); }
  /** Loads one byte into all sixteen lanes. */
  v128Load8Splat(offset = 0): this { return this.simd(0x07, ...this.memarg(0, offset)); }
  /** Loads two bytes (an i16) into all eight i16 lanes. */
  v128Load16Splat(offset = 0): this { return this.simd(0x08, ...this.memarg(1, offset)); }
  /** Loads one f32 (or i32) into all four lanes. */
  v128Load32Splat(offset = 0): this { return this.simd(0x09, ...this.memarg(2, offset)); }
  /** memory.copy(dst, src, bytes) from the bulk-memory proposal: memmove, overlap allowed. */
  memoryCopy(): this { return this.emit(0xfc, ...u32leb(10), 0x00, 0x00); }

  // lanes
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  i32x4ExtractLane(lane: number): this { return this.simd(0x1b, lane); }
  f64x2ExtractLane(lane: number): this { return this.simd(0x21, lane); }
  /** Picks 4 whole f32 lanes out of two vectors: 0-3 from the first, 4-7 from the second. */
  shuffleLanes(lanes: readonly [number, number, number, number]): this {
    return this.simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }

  /** The function's entry in the code section: its size, its locals (run-length coded), the code. */
  encode(): number[] {
    const runs: number[][] = [];
    for (let i = 0; i < this.locals.length; ) {
      let n = 1;
      while (i + n < this.locals.length && this.locals[i + n] === this.locals[i]) n++;
      runs.push([...u32leb(n), VALTYPE[this.locals[i]!]]);
      i += n;
    }
    const body = [...vec(runs), ...this.code, 0x0b];
    return [...u32leb(body.length), ...body];
  }
}

interface FunctionEntry {
  name: string | null;
  typeIndex: number;
  body: FunctionBody;
}

/** A module that imports one memory ("env", "memory") and exports the functions added to it. */
export class ModuleBuilder {
  private readonly types: number[][] = [];
  private readonly functions: FunctionEntry[] = [];
  private memory: { initial: number; maximum: number | undefined; shared: boolean } | null = null;

  constructor(private readonly options: BuilderOptions = {}) {}

  /** Imports env.memory; sizes in 64 KiB pages. A shared memory (threads proposal; a
   *  SharedArrayBuffer underneath, so workers can use it too) must declare its maximum. */
  importMemory(initial: number, maximum?: number, shared = false): this {
    if (shared && maximum === undefined) throw new Error('ModuleBuilder.importMemory: a shared memory needs a maximum');
    this.memory = { initial, maximum, shared };
    return this;
  }

  /** Adds a function, exported under `name` unless that is null (a helper others call). */
  addFunction(name: string | null, params: ValType[], results: ValType[] = []): FunctionBody {
    const type = [0x60, ...vec(params.map((p) => [VALTYPE[p]])), ...vec(results.map((r) => [VALTYPE[r]]))];
    let typeIndex = this.types.findIndex((t) => t.length === type.length && t.every((b, i) => b === type[i]));
    if (typeIndex < 0) typeIndex = this.types.push(type) - 1;
    const body = new FunctionBody(params, this.functions.length, this.options);
    this.functions.push({ name, typeIndex, body });
    return body;
  }

  build(): Uint8Array<ArrayBuffer> {
    const bytes: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]; // "\0asm", version 1
    const push = (part: number[]): void => {
      for (const b of part) bytes.push(b);
    };
    push(section(1, vec(this.types)));
    if (this.memory) {
      const { initial, maximum, shared } = this.memory;
      // limits flags: 0x00 = min only, 0x01 = min and max, 0x03 = min, max and shared
      const limits = maximum === undefined ? [0x00, ...u32leb(initial)] : [shared ? 0x03 : 0x01, ...u32leb(initial), ...u32leb(maximum)];
      push(section(2, vec([[...name('env'), ...name('memory'), 0x02, ...limits]])));
    }
    push(section(3, vec(this.functions.map((f) => u32leb(f.typeIndex)))));
    const exported = this.functions.flatMap((f, i) => (f.name === null ? [] : [[...name(f.name), 0x00, ...u32leb(i)]]));
    push(section(7, vec(exported)));
    push(section(10, vec(this.functions.map((f) => f.body.encode()))));
    // the "name" custom section (function names, subsection 1): profilers and stack traces then
    // show `gemmUnit` instead of `wasm-function[3]`; helpers are named by their index
    const names = vec(this.functions.map((f, i) => [...u32leb(i), ...name(f.name ?? `helper${i}`)]));
    push(section(0, [...name('name'), 1, ...u32leb(names.length), ...names]));
    return new Uint8Array(bytes);
  }
}
