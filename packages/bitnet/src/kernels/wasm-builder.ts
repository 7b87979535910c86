// A small WebAssembly module builder: just enough of the binary format to emit the ternary kernel
// from TypeScript at run time (no toolchain, no prebuilt binary). A module here imports one memory
// ("env", "memory") and exports functions whose bodies are written instruction by instruction, with
// the text format's names, so emitter code reads like a .wat listing:
//
//   f.get(x).get(y).op('i32.add').set(z);       // z = x + y
//
// Format: https://webassembly.github.io/spec/core/binary/ (5.4 instructions, 5.5 modules); SIMD
// opcodes from the fixed-width SIMD proposal's BinarySIMD.md (prefix 0xfd, then a LEB128 opcode).

export type ValType = 'i32' | 'f32' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

// Instructions without immediates: name -> opcode (SIMD ones as [0xfd, opcode]; the SIMD opcode is
// written as LEB128, so opcodes from 0x80 up take two bytes: see `opcode()`).
const PLAIN = {
  'drop': [0x1a], 'i32.eqz': [0x45], 'i32.eq': [0x46], 'i32.ne': [0x47], 'i32.lt_u': [0x49], 'i32.gt_u': [0x4b], 'i32.ge_u': [0x4f],
  'i32.add': [0x6a], 'i32.sub': [0x6b], 'i32.mul': [0x6c], 'i32.and': [0x71], 'i32.shl': [0x74], 'i32.shr_u': [0x76],
  'i8x16.swizzle': [0xfd, 0x0e], 'i8x16.relaxed_swizzle': [0xfd, 0x100], 'i8x16.splat': [0xfd, 0x0f], 'i16x8.splat': [0xfd, 0x10], 'i32x4.splat': [0xfd, 0x11],
  'f32x4.splat': [0xfd, 0x13],
  'v128.and': [0xfd, 0x4e], 'v128.or': [0xfd, 0x50], 'v128.xor': [0xfd, 0x51],
  'i8x16.narrow_i16x8_s': [0xfd, 0x65], 'i8x16.shl': [0xfd, 0x6b], 'i8x16.shr_s': [0xfd, 0x6c], 'i8x16.shr_u': [0xfd, 0x6d], 'i8x16.add': [0xfd, 0x6e], 'i8x16.sub': [0xfd, 0x71],
  'i16x8.extend_low_i8x16_s': [0xfd, 0x87], 'i16x8.extend_high_i8x16_s': [0xfd, 0x88],
  'i16x8.shl': [0xfd, 0x8b], 'i16x8.shr_s': [0xfd, 0x8c], 'i16x8.shr_u': [0xfd, 0x8d],
  'i16x8.add': [0xfd, 0x8e], 'i16x8.sub': [0xfd, 0x91], 'i16x8.mul': [0xfd, 0x95],
  'i32x4.extend_low_i16x8_s': [0xfd, 0xa7], 'i32x4.extend_high_i16x8_s': [0xfd, 0xa8],
  'i32x4.shl': [0xfd, 0xab], 'i32x4.add': [0xfd, 0xae],
  'f32.div': [0x95], 'f32.max': [0x97],
  'f32x4.abs': [0xfd, 0xe0], 'f32x4.max': [0xfd, 0xe9], 'f32x4.nearest': [0xfd, 0x6a],
  'i32x4.trunc_sat_f32x4_s': [0xfd, 0xf8], 'i16x8.narrow_i32x4_s': [0xfd, 0x85],
  'f32x4.add': [0xfd, 0xe4], 'f32x4.mul': [0xfd, 0xe6], 'f32x4.div': [0xfd, 0xe7], 'f32x4.convert_i32x4_s': [0xfd, 0xfa],
} as const satisfies Record<string, readonly number[]>;
export type PlainOp = keyof typeof PLAIN;

// Memory instructions: opcode bytes and the natural alignment (log2 bytes) written in the memarg.
const MEMORY = {
  'i32.load': [[0x28], 2], 'i32.load8_s': [[0x2c], 0], 'f32.load': [[0x2a], 2], 'i32.store': [[0x36], 2], 'f32.store': [[0x38], 2],
  'v128.load': [[0xfd, 0x00], 4], 'v128.store': [[0xfd, 0x0b], 4],
  'v128.load8_splat': [[0xfd, 0x07], 0], 'v128.load32_splat': [[0xfd, 0x09], 2],
} as const satisfies Record<string, readonly [readonly number[], number]>;
export type MemoryOp = keyof typeof MEMORY;

/** Unsigned LEB128: 7 bits a byte, low bits first, the high bit set on all but the last byte. */
export function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v !== 0 ? byte | 0x80 : byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (i32.const): stop once what is left is all sign bits. */
export function sleb(value: number): number[] {
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

/** A core opcode is one byte; a SIMD one is the 0xfd prefix and the opcode in LEB128. */
function opcode(bytes: readonly number[]): number[] {
  return bytes[0] === 0xfd ? [0xfd, ...uleb(bytes[1]!)] : [...bytes];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** One function body. Parameters are locals 0..n-1; `local()` adds more. Methods chain. */
export class FunctionBody {
  private readonly code: number[] = [];
  private readonly locals: ValType[] = [];
  constructor(readonly params: readonly ValType[]) {}

  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  op(name: PlainOp): this {
    this.code.push(...opcode(PLAIN[name]));
    return this;
  }

  /** A load or store at `address + offset` (the address is on the stack; offset is a constant). */
  mem(name: MemoryOp, offset = 0): this {
    const [bytes, align] = MEMORY[name];
    this.code.push(...opcode(bytes), ...uleb(align), ...uleb(offset));
    return this;
  }

  get(local: number): this { this.code.push(0x20, ...uleb(local)); return this; }
  set(local: number): this { this.code.push(0x21, ...uleb(local)); return this; }
  tee(local: number): this { this.code.push(0x22, ...uleb(local)); return this; }
  i32(value: number): this { this.code.push(0x41, ...sleb(value)); return this; }
  f32(value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true); // wasm constants are little-endian
    this.code.push(0x43, ...bytes);
    return this;
  }

  /** f32x4.extract_lane with its lane index immediate. */
  f32x4ExtractLane(lane: number): this { this.code.push(0xfd, ...uleb(0x1f), lane); return this; }

  /** v128.const from 16 bytes, or from 8 int16 lanes (`i16: true`). */
  v128(lanes: readonly number[], i16 = false): this {
    const bytes = i16 ? lanes.flatMap((v) => [v & 0xff, (v >> 8) & 0xff]) : lanes.map((v) => v & 0xff);
    if (bytes.length !== 16) throw new Error(`v128: expected 16 bytes, got ${bytes.length}`);
    this.code.push(0xfd, 0x0c, ...bytes);
    return this;
  }

  // Structured control flow; blocks take and leave nothing (block type 0x40). `br(0)` inside a
  // loop jumps back to its start, inside a block jumps past its end.
  block(): this { this.code.push(0x02, 0x40); return this; }
  loop(): this { this.code.push(0x03, 0x40); return this; }
  end(): this { this.code.push(0x0b); return this; }
  br(depth: number): this { this.code.push(0x0c, ...uleb(depth)); return this; }
  brIf(depth: number): this { this.code.push(0x0d, ...uleb(depth)); return this; }

  /** `local += step` for an i32 local. */
  inc(local: number, step: number): this {
    return this.get(local).i32(step).op('i32.add').set(local);
  }

  encode(): number[] {
    // locals are declared run-length coded: (count, type) pairs
    const runs: number[][] = [];
    for (let i = 0; i < this.locals.length; ) {
      let n = 1;
      while (i + n < this.locals.length && this.locals[i + n] === this.locals[i]) n++;
      runs.push([...uleb(n), VALTYPE[this.locals[i]!]]);
      i += n;
    }
    const body = [...vector(runs), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/**
 * A module importing env.memory and exporting the functions added to it (no results). A shared
 * memory (threads proposal; a SharedArrayBuffer underneath, so workers can use it too) must
 * declare its maximum size, in 64 KiB pages.
 */
export class ModuleBuilder {
  private readonly functions: Array<{ name: string; body: FunctionBody }> = [];
  constructor(private readonly memory: { shared: boolean; maximumPages?: number } = { shared: false }) {}

  addFunction(exportName: string, params: ValType[]): FunctionBody {
    const body = new FunctionBody(params);
    this.functions.push({ name: exportName, body });
    return body;
  }

  build(): Uint8Array<ArrayBuffer> {
    const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
    const types = this.functions.map((f) => [0x60, ...vector(f.body.params.map((p) => [VALTYPE[p]])), 0x00]);
    // limits: 0x00 = min only, 0x03 = min, max and shared; min 1 page
    const { shared, maximumPages } = this.memory;
    if (shared && maximumPages === undefined) throw new Error('ModuleBuilder: a shared memory needs maximumPages');
    const limits = shared ? [0x03, ...uleb(1), ...uleb(maximumPages!)] : [0x00, ...uleb(1)];
    const memoryImport = [...name('env'), ...name('memory'), 0x02, ...limits];
    const bytes = [
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
      ...section(1, vector(types)),
      ...section(2, vector([memoryImport])),
      ...section(3, vector(this.functions.map((_, i) => uleb(i)))),
      ...section(7, vector(this.functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
      ...section(10, vector(this.functions.map((f) => f.body.encode()))),
    ];
    return new Uint8Array(bytes);
  }
}
