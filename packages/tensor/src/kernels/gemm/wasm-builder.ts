// A small WebAssembly module builder: enough of the binary format (types, an imported memory,
// functions, exports, code) to emit the GEMM kernels at runtime from TypeScript, the way gpu.js
// compiles its kernels. No wat2wasm, no toolchain, no prebuilt binary: the bytes are written here.
//
// Format reference: https://webassembly.github.io/spec/core/binary/ (sections 5.4 instructions,
// 5.5 modules) and the SIMD / relaxed-SIMD proposals' opcode tables.

export type ValType = 'i32' | 'f32' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

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

function utf8Name(name: string): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...u32leb(bytes.length), ...bytes];
}

/** A vector in the binary format: its length, then its items. */
function vec(items: number[][]): number[] {
  return [...u32leb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...u32leb(body.length), ...body];
}

/**
 * The body of one function: a byte list with one method per instruction we use. Methods return
 * `this`, so a line of emitter code reads like a line of the text format.
 * Locals are numbered: the parameters first, then the locals declared with `local()`.
 */
export class FunctionBody {
  readonly code: number[] = [];
  private readonly locals: ValType[] = [];
  /** `index` is the function's index in the module, for `call`. */
  constructor(readonly params: ValType[], readonly index: number) {}

  /** Declares a local of the given type and returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  private op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  private simd(opcode: number, ...immediates: number[]): this {
    return this.op(0xfd, ...u32leb(opcode), ...immediates);
  }
  /** memarg: alignment as log2 of bytes (a hint only), then the constant byte offset. */
  private memarg(alignLog2: number, offset: number): number[] {
    return [...u32leb(alignLog2), ...u32leb(offset)];
  }

  // control flow. Blocks here take and leave nothing on the stack (block type 0x40).
  block(): this { return this.op(0x02, 0x40); }
  loop(): this { return this.op(0x03, 0x40); }
  if(): this { return this.op(0x04, 0x40); }
  else(): this { return this.op(0x05); }
  end(): this { return this.op(0x0b); }
  br(depth: number): this { return this.op(0x0c, ...u32leb(depth)); }
  brIf(depth: number): this { return this.op(0x0d, ...u32leb(depth)); }
  call(fn: FunctionBody): this { return this.op(0x10, ...u32leb(fn.index)); }
  return(): this { return this.op(0x0f); }

  // locals
  get(index: number): this { return this.op(0x20, ...u32leb(index)); }
  set(index: number): this { return this.op(0x21, ...u32leb(index)); }
  tee(index: number): this { return this.op(0x22, ...u32leb(index)); }

  // i32 arithmetic and memory
  i32Const(value: number): this { return this.op(0x41, ...s32leb(value)); }
  i32Load(offset = 0): this { return this.op(0x28, ...this.memarg(2, offset)); }
  f32Load(offset = 0): this { return this.op(0x2a, ...this.memarg(2, offset)); }
  f32Store(offset = 0): this { return this.op(0x38, ...this.memarg(2, offset)); }
  i32Eqz(): this { return this.op(0x45); }
  i32LtS(): this { return this.op(0x48); }
  i32GtS(): this { return this.op(0x4a); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32And(): this { return this.op(0x71); }
  i32ShrU(): this { return this.op(0x76); }
  /** memory.copy(dst, src, bytes) from the bulk-memory proposal: memmove, overlap allowed. */
  memoryCopy(): this { return this.op(0xfc, ...u32leb(10), 0x00, 0x00); }
  i32Eq(): this { return this.op(0x46); }
  i32LtU(): this { return this.op(0x49); }
  i32LeU(): this { return this.op(0x4d); }
  i32Or(): this { return this.op(0x72); }
  /** select: the first operand if the i32 condition on top is non-zero, else the second. */
  select(): this { return this.op(0x1b); }

  // 128-bit SIMD (the fixed-width SIMD proposal, shipped in every engine since 2021)
  v128Load(offset = 0): this { return this.simd(0x00, ...this.memarg(4, offset)); }
  /** Loads one f32 and copies it into all four lanes. */
  v128Load32Splat(offset = 0): this { return this.simd(0x09, ...this.memarg(2, offset)); }
  v128Store(offset = 0): this { return this.simd(0x0b, ...this.memarg(4, offset)); }
  v128Zero(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0)); }
  /** Picks 16 bytes out of the 32 of two vectors (0-15 the first, 16-31 the second). Here always
   *  whole f32 lanes: `lanes` are 4 lane numbers, 0-3 from the first vector and 4-7 the second. */
  shuffleLanes(lanes: [number, number, number, number]): this {
    return this.simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Mul(): this { return this.simd(0xe6); }
  /** relaxed-SIMD f32x4.relaxed_madd(a, b, c) = a*b + c, fused where the CPU has FMA. */
  f32x4RelaxedMadd(): this { return this.simd(0x105); }

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
  name: string;
  typeIndex: number;
  body: FunctionBody;
}

/** A module that imports one memory ("env", "memory") and exports the functions added to it. */
export class ModuleBuilder {
  private readonly types: number[][] = [];
  private readonly functions: FunctionEntry[] = [];
  private memory: { initial: number; maximum: number; shared: boolean } | null = null;

  /** Imports env.memory; sizes are in 64 KiB pages. A shared memory must declare its maximum. */
  importMemory(initial: number, maximum: number, shared: boolean): this {
    this.memory = { initial, maximum, shared };
    return this;
  }

  /** Adds an exported function; fill its body through the returned FunctionBody. Other
   *  functions call it through that FunctionBody (`call(fn)`). */
  addFunction(name: string, params: ValType[], results: ValType[]): FunctionBody {
    const type = [0x60, ...vec(params.map((p) => [VALTYPE[p]])), ...vec(results.map((r) => [VALTYPE[r]]))];
    let typeIndex = this.types.findIndex((t) => t.length === type.length && t.every((b, i) => b === type[i]));
    if (typeIndex < 0) typeIndex = this.types.push(type) - 1;
    const body = new FunctionBody(params, this.functions.length);
    this.functions.push({ name, typeIndex, body });
    return body;
  }

  build(): Uint8Array<ArrayBuffer> {
    const bytes: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]; // "\0asm", version 1
    bytes.push(...section(1, vec(this.types)));
    if (this.memory) {
      const { initial, maximum, shared } = this.memory;
      // limits flags: 0x01 = min and max, 0x03 = min, max and shared (threads proposal)
      const limits = [shared ? 0x03 : 0x01, ...u32leb(initial), ...u32leb(maximum)];
      bytes.push(...section(2, vec([[...utf8Name('env'), ...utf8Name('memory'), 0x02, ...limits]])));
    }
    bytes.push(...section(3, vec(this.functions.map((f) => u32leb(f.typeIndex)))));
    bytes.push(...section(7, vec(this.functions.map((f, i) => [...utf8Name(f.name), 0x00, ...u32leb(i)]))));
    bytes.push(...section(10, vec(this.functions.map((f) => f.body.encode()))));
    return new Uint8Array(bytes);
  }
}
