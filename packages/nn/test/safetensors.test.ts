import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBFloat16Bits,
  float32ToFloat16Bits,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  serializeSafetensors,
  writeSafetensors,
  type SafeTensor,
} from '../src/safetensors.js';

const REF = join(import.meta.dirname, 'ref');

// Reference values written by ref/make_safetensors.py (see its docstring for the encoding).
type JsonNumber = number | 'NaN' | 'Infinity' | '-Infinity';
interface RefTensor {
  dtype: string;
  shape: number[];
  bits?: number[];
  values: (JsonNumber | string)[];
}
interface Ref {
  metadata: Record<string, string>;
  tensors: Record<string, RefTensor>;
  half_rounding: { inputs: JsonNumber[]; input_bits: number[]; f16_bits: number[]; bf16_bits: number[] };
}
const ref = JSON.parse(await readFile(join(REF, 'safetensors_torch.json'), 'utf8')) as Ref;
const torchFile = new Uint8Array(await readFile(join(REF, 'safetensors_torch.safetensors')));

function num(value: JsonNumber | string): number {
  return value === 'NaN' ? NaN : value === 'Infinity' ? Infinity : value === '-Infinity' ? -Infinity : Number(value);
}

// Object.is tells -0 from 0 and NaN equals NaN: what "identical value" means here.
function expectSameNumbers(actual: ArrayLike<number>, expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      throw new Error(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

// A safetensors file from a header (object or raw text) and a data section.
function makeFile(header: unknown, dataLength: number, headerLength?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

function refusal(bytes: Uint8Array, source?: string): string {
  try {
    parseSafetensors(bytes, source);
  } catch (err) {
    expect(err).toBeInstanceOf(SafetensorsError);
    return (err as Error).message;
  }
  throw new Error('the malformed file was accepted');
}

const f32 = (shape: number[], begin: number) => {
  const numel = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32', shape, data_offsets: [begin, begin + 4 * numel] };
};

describe('a file written on the PyTorch side (ref/make_safetensors.py)', () => {
  const file = parseSafetensors(torchFile, 'safetensors_torch.safetensors');

  it('has every tensor with its dtype, shape and values', () => {
    expect([...file.tensors.keys()].sort()).toEqual(Object.keys(ref.tensors).sort());
    for (const [name, want] of Object.entries(ref.tensors)) {
      const got = file.tensors.get(name)!;
      expect(got.dtype, name).toBe(want.dtype);
      expect(got.shape, name).toEqual(want.shape);
      if (want.dtype === 'I64') {
        expect(got.data).toBeInstanceOf(BigInt64Array);
        expect([...(got.data as BigInt64Array)].map(String), name).toEqual(want.values);
      } else {
        expectSameNumbers(got.data as ArrayLike<number>, want.values.map(num), name);
      }
    }
  });

  it('keeps float16 and bfloat16 bit patterns: re-encoding gives the file bits back', () => {
    for (const [name, want] of Object.entries(ref.tensors)) {
      if (want.bits === undefined) continue;
      const encode = want.dtype === 'F16' ? float32ToFloat16Bits : float32ToBFloat16Bits;
      const values = file.tensors.get(name)!.data as Float32Array;
      want.bits.forEach((bits, i) => {
        // A NaN's payload may not survive a trip through a JS number; the
        // byte-for-byte test below covers NaN bits.
        if (Number.isNaN(values[i])) expect(Number.isNaN(bfloat16BitsToFloat32(bits) + float16BitsToFloat32(bits))).toBe(true);
        else expect(encode(values[i]!), `${name}[${i}]`).toBe(bits);
      });
    }
  });

  it('has the metadata, unicode and escapes included', () => {
    expect({ ...file.metadata }).toEqual(ref.metadata);
  });

  it('reads a scalar (shape []) and an empty tensor (shape [0, 3])', () => {
    expect(file.tensors.get('scalar.temperature')).toEqual({ dtype: 'F32', shape: [], data: new Float32Array([0.75]) });
    expect(file.tensors.get('empty.bias')).toEqual({ dtype: 'F32', shape: [0, 3], data: new Float32Array(0) });
  });

  // Also proves 16-bit NaNs survive: torch wrote bfloat16 NaN as 0xffff.
  it('is written back byte for byte as the reference writer laid it out', () => {
    expect(serializeSafetensors(file.tensors, file.metadata)).toEqual(torchFile);
  });

  it('lists tensors in file order, with every tensor aligned to its element size', () => {
    const { header, names, dataStart } = readSafetensorsHeader(torchFile);
    expect(names).toEqual([...file.tensors.keys()]);
    expect(names.slice(0, 3)).toEqual(['i64.step', 'f64.values', 'empty.bias']);
    expect(Object.keys(header).sort()).toEqual([...names].sort());
    const size: Record<string, number> = { I64: 8, F64: 8, F32: 4, I32: 4, BF16: 2, F16: 2, I16: 2 };
    for (const [name, info] of Object.entries(header)) {
      expect((dataStart + info.data_offsets[0]) % (size[info.dtype] ?? 1), name).toBe(0);
    }
  });
});

describe('serializeSafetensors', () => {
  // Known answers: the byte arrays asserted by the Rust safetensors crate's own tests.
  it('matches the Rust crate for one F32 tensor "attn.0" of shape [1, 2, 3]', () => {
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    const bytes = serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64); // already a multiple of 8: no padding
    expect([...bytes.subarray(0, 8)]).toEqual([64, 0, 0, 0, 0, 0, 0, 0]);
    expect(new TextDecoder().decode(bytes.subarray(8, 72))).toBe(header);
    expect([...bytes.subarray(72)]).toEqual([0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64]);
  });

  it('matches the Rust crate when padding is needed ("attn0", shape [1, 1, 2, 3])', () => {
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    const bytes = serializeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } });
    expect(bytes[0]).toBe(72);
    expect(new TextDecoder().decode(bytes.subarray(8, 80))).toBe(
      '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ',
    );
    expect(bytes.length).toBe(80 + 24);
  });

  it('matches the Rust crate for no tensors, with and without metadata', () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const withMeta = serializeSafetensors(new Map(), { framework: 'pt' });
    expect(withMeta[0]).toBe(40);
    expect(new TextDecoder().decode(withMeta.subarray(8))).toBe('{"__metadata__":{"framework":"pt"}}     ');
    expect(parseSafetensors(withMeta)).toEqual({ tensors: new Map(), metadata: { framework: 'pt' } });
  });

  it('gives the same bytes for a Map and a Record in any insertion order', () => {
    const a: SafeTensor = { dtype: 'U8', shape: [2], data: new Uint8Array([1, 2]) };
    const b: SafeTensor = { dtype: 'F64', shape: [1], data: new Float64Array([0.5]) };
    const c: SafeTensor = { dtype: 'U8', shape: [1], data: new Uint8Array([3]) };
    const one = serializeSafetensors({ zeta: a, alpha: b, 7: c });
    expect(serializeSafetensors(new Map([['7', c], ['alpha', b], ['zeta', a]]))).toEqual(one);
    // F64 first (larger alignment), then the U8s by name: "7" < "zeta".
    expect([...parseSafetensors(one).tensors.keys()]).toEqual(['alpha', '7', 'zeta']);
    expect(readSafetensorsHeader(one).names).toEqual(['alpha', '7', 'zeta']);
  });

  it('round-trips every dtype: same values, and the same bytes again', () => {
    const tensors: Record<string, SafeTensor> = {
      f32: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -0, NaN, Infinity, -3e38, 1e-45]) },
      f16: { dtype: 'F16', shape: [4], data: new Float32Array([65504, -0, 2 ** -24, -Infinity]) },
      bf16: { dtype: 'BF16', shape: [2, 2], data: new Float32Array([3.140625, -0, 2 ** -130, Infinity]) },
      f64: { dtype: 'F64', shape: [3], data: new Float64Array([Math.PI, -0, Number.MIN_VALUE]) },
      i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
      u8: { dtype: 'U8', shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
      i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
      i32: { dtype: 'I32', shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
      i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
      bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      scalar: { dtype: 'I32', shape: [], data: new Int32Array([42]) },
      empty: { dtype: 'F16', shape: [2, 0], data: new Float32Array(0) },
    };
    const bytes = serializeSafetensors(tensors, { note: 'round trip' });
    const back = parseSafetensors(bytes);
    expect(back.metadata).toEqual({ note: 'round trip' });
    for (const [name, want] of Object.entries(tensors)) {
      const got = back.tensors.get(name)!;
      expect(got.dtype, name).toBe(want.dtype);
      expect(got.shape, name).toEqual(want.shape);
      expect(got.data.constructor, name).toBe(want.data.constructor);
      if (want.data instanceof BigInt64Array) expect(got.data, name).toEqual(want.data);
      else expectSameNumbers(got.data as ArrayLike<number>, [...want.data], name);
    }
    expect(serializeSafetensors(back.tensors, back.metadata)).toEqual(bytes);
  });

  it('rounds F16 and BF16 data to nearest even when writing', () => {
    const data = new Float32Array([1 + 2 ** -11, 65520, 1e-8, 1 + 3 * 2 ** -9]);
    const back = parseSafetensors(
      serializeSafetensors({ h: { dtype: 'F16', shape: [4], data }, b: { dtype: 'BF16', shape: [4], data } }),
    );
    expectSameNumbers(back.tensors.get('h')!.data as Float32Array, [1, Infinity, 0, 1 + 3 * 2 ** -9], 'F16');
    expectSameNumbers(back.tensors.get('b')!.data as Float32Array, [1, 65536, 1.0011717677116394e-8, 1 + 2 ** -7], 'BF16');
    expect(data[1]).toBe(65520); // the caller's array is not touched
  });

  it('keeps names that are tricky in JavaScript objects', () => {
    const t = (v: number): SafeTensor => ({ dtype: 'U8', shape: [1], data: new Uint8Array([v]) });
    const tensors = new Map([['__proto__', t(1)], ['constructor', t(2)], ['10', t(3)], ['9', t(4)]]);
    const back = parseSafetensors(serializeSafetensors(tensors, { __proto__x: 'y' }));
    expect([...back.tensors.keys()]).toEqual(['10', '9', '__proto__', 'constructor']);
    expect(back.tensors.get('__proto__')!.data).toEqual(new Uint8Array([1]));
    expect(Object.keys(readSafetensorsHeader(serializeSafetensors(tensors)).header)).toContain('__proto__');
  });

  it('reads a file that sits inside a larger buffer, and a Node Buffer', () => {
    const bytes = serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
    const big = new Uint8Array(bytes.length + 13);
    big.set(bytes, 5);
    expect(parseSafetensors(big.subarray(5, 5 + bytes.length)).tensors.get('w')!.data).toEqual(new Float32Array([1, 2]));
    expect(parseSafetensors(Buffer.from(bytes)).tensors.get('w')!.data).toEqual(new Float32Array([1, 2]));
  });

  it('refuses tensors it cannot write, naming the tensor', () => {
    const write = (t: unknown, meta?: unknown) => () =>
      serializeSafetensors({ w: t as SafeTensor }, meta as Record<string, string>);
    expect(write({ dtype: 'F32', shape: [3], data: new Float32Array(2) })).toThrow(
      'safetensors: cannot write tensor "w": shape [3] has 3 elements but the data has 2',
    );
    expect(write({ dtype: 'F32', shape: [2], data: new Int32Array(2) })).toThrow(
      'cannot write tensor "w": dtype F32 is held in a Float32Array, got Int32Array',
    );
    expect(write({ dtype: 'I64', shape: [1], data: new Int32Array(1) })).toThrow('dtype I64 is held in a BigInt64Array');
    expect(write({ dtype: 'F8_E4M3', shape: [1], data: new Uint8Array(1) })).toThrow('unknown dtype "F8_E4M3"');
    expect(write({ dtype: 'U8', shape: [-1], data: new Uint8Array(1) })).toThrow('shape must be an array of non-negative integers, got [-1]');
    expect(write({ dtype: 'U8', shape: [1], data: new Uint8Array(1) }, { epoch: 3 })).toThrow(
      'metadata value for "epoch" must be a string, got number',
    );
    expect(() => serializeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } })).toThrow(
      'the name "__metadata__" is reserved',
    );
  });
});

describe('malformed files are refused, each with its own message', () => {
  const ok = { a: f32([2], 0) }; // 8 data bytes

  it('sanity: the base file used below is accepted', () => {
    expect(parseSafetensors(makeFile(ok, 8)).tensors.get('a')!.shape).toEqual([2]);
  });

  it('file shorter than 8 bytes', () => {
    expect(refusal(new Uint8Array(5), 'tiny.safetensors')).toBe(
      'safetensors: tiny.safetensors: file is 5 bytes, shorter than the 8-byte header length that starts every safetensors file',
    );
  });

  it('header length past the end of the file', () => {
    const bytes = makeFile(ok, 8, 100n);
    expect(refusal(bytes)).toBe(`safetensors: header length 100 runs past the end of the ${bytes.length}-byte file (8 + 100 > ${bytes.length})`);
  });

  it('header length absurdly large (> 100 MB), up to the largest u64', () => {
    expect(refusal(makeFile(ok, 8, 100_000_001n))).toBe(
      'safetensors: header length 100000001 is over the 100000000-byte limit: not a safetensors file, or a damaged one',
    );
    expect(refusal(makeFile(ok, 8, 2n ** 64n - 1n))).toContain('header length 18446744073709551615 is over');
  });

  it('header not valid UTF-8', () => {
    const bytes = makeFile('{"a":1}', 0);
    bytes[10] = 0xff;
    expect(refusal(bytes)).toBe('safetensors: header (bytes 8 to 15) is not valid UTF-8');
  });

  it('header not valid JSON', () => {
    expect(refusal(makeFile('{"a": {', 0))).toMatch(/^safetensors: header is not valid JSON \(.+\)$/);
  });

  it('header not a JSON object', () => {
    expect(refusal(makeFile('[1,2]', 0))).toBe('safetensors: header must be a JSON object of tensors, got array [1,2]');
    expect(refusal(makeFile('null', 0))).toBe('safetensors: header must be a JSON object of tensors, got null null');
    expect(refusal(makeFile('"x"', 0))).toBe('safetensors: header must be a JSON object of tensors, got string "x"');
  });

  it('tensor entry not an object', () => {
    expect(refusal(makeFile({ a: [1, 2] }, 0))).toBe(
      'safetensors: tensor "a" must be an object with dtype, shape and data_offsets, got array [1,2]',
    );
  });

  it('unknown or missing dtype', () => {
    expect(refusal(makeFile({ a: { ...f32([2], 0), dtype: 'F8_E4M3' } }, 8))).toBe(
      'safetensors: tensor "a" has unknown or unsupported dtype string "F8_E4M3" (supported: I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL)',
    );
    expect(refusal(makeFile({ a: { shape: [2], data_offsets: [0, 8] } }, 8))).toContain(
      'tensor "a" has unknown or unsupported dtype nothing',
    );
  });

  it('shape not an array of non-negative integers', () => {
    const shapeError = (shape: unknown) => refusal(makeFile({ a: { ...f32([2], 0), shape } }, 8));
    expect(shapeError([2, -1])).toBe('safetensors: tensor "a" shape must be an array of non-negative integers, got array [2,-1]');
    expect(shapeError([2.5])).toContain('got array [2.5]');
    expect(shapeError('2')).toContain('got string "2"');
    expect(shapeError(undefined)).toContain('shape must be an array of non-negative integers, got nothing');
  });

  it('data_offsets not two ascending non-negative integers', () => {
    const offsetsError = (data_offsets: unknown) => refusal(makeFile({ a: { ...f32([2], 0), data_offsets } }, 8));
    expect(offsetsError([8, 0])).toBe(
      'safetensors: tensor "a" data_offsets must be two ascending non-negative integers [begin, end], got array [8,0]',
    );
    expect(offsetsError([0])).toContain('got array [0]');
    expect(offsetsError([0, 8, 16])).toContain('got array [0,8,16]');
    expect(offsetsError([-8, 0])).toContain('got array [-8,0]');
    expect(offsetsError([0, '8'])).toContain('got array [0,"8"]');
  });

  it('data_offsets out of bounds (the example from STYLE.md)', () => {
    const header = { 'vit.layernorm.weight': f32([256], 1024), 'vit.before': f32([256], 0) };
    expect(refusal(makeFile(header, 1536), 'model.safetensors')).toBe(
      'safetensors: model.safetensors: tensor "vit.layernorm.weight" data_offsets [1024, 2048] run past the 1536-byte data section',
    );
  });

  it('byte size not matching shape x dtype size', () => {
    expect(refusal(makeFile({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 20))).toBe(
      'safetensors: tensor "w" is F32 of shape [2, 3], which needs 24 bytes, but its data_offsets [0, 20] hold 20',
    );
    // A shape whose size overflows exact integers cannot match anything.
    const huge = { w: { dtype: 'I64', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } };
    expect(refusal(makeFile(huge, 8))).toContain('tensor "w" is I64 of shape [1073741824, 1073741824, 1073741824], which needs');
  });

  it('overlapping tensors', () => {
    expect(refusal(makeFile({ a: f32([4], 0), b: f32([4], 8) }, 24))).toBe(
      'safetensors: tensors "a" [0, 16] and "b" [8, 24] overlap in the data section',
    );
  });

  it('holes in the data section: between tensors, before the first, after the last', () => {
    expect(refusal(makeFile({ a: f32([2], 0), b: f32([2], 16) }, 24))).toBe(
      'safetensors: data section has a hole: bytes [8, 16) between "a" and "b" belong to no tensor',
    );
    expect(refusal(makeFile({ a: f32([2], 4) }, 12))).toBe(
      'safetensors: data section has a hole: bytes [0, 4) before "a" belong to no tensor',
    );
    expect(refusal(makeFile({ a: f32([2], 0) }, 12))).toBe(
      'safetensors: data section has a hole: bytes [8, 12) after the last tensor "a" belong to no tensor',
    );
    expect(refusal(makeFile({}, 3))).toBe('safetensors: data section has 3 bytes but the header lists no tensors');
  });

  it('__metadata__ not a map of strings', () => {
    expect(refusal(makeFile({ __metadata__: { epoch: 3 }, ...ok }, 8))).toBe(
      'safetensors: __metadata__ value for "epoch" must be a string, got number 3',
    );
    expect(refusal(makeFile({ __metadata__: ['pt'], ...ok }, 8))).toBe(
      'safetensors: __metadata__ must be an object of strings, got array ["pt"]',
    );
  });

  it('every truncation of a valid file is refused with a SafetensorsError, never read past', () => {
    const bytes = serializeSafetensors({
      w: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) },
      b: { dtype: 'U8', shape: [2], data: new Uint8Array([4, 5]) },
    });
    // The bytes after the cut stay in the underlying buffer: a reader that
    // looked past the view's end would find a valid file and accept it.
    for (let cut = 0; cut < bytes.length; cut++) refusal(bytes.subarray(0, cut));
  });

  it('random corruption gives a file or a SafetensorsError, never another exception', () => {
    let seed = 12345; // a small LCG: deterministic, no dependency
    const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const clean = serializeSafetensors({
      w: { dtype: 'F16', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      i: { dtype: 'I64', shape: [1], data: new BigInt64Array([7n]) },
    });
    let refused = 0;
    for (let trial = 0; trial < 2000; trial++) {
      const bytes = clean.slice();
      for (let k = 0; k < 1 + Math.floor(next() * 3); k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      try {
        parseSafetensors(bytes);
      } catch (err) {
        if (!(err instanceof SafetensorsError)) throw err;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(500);
  });
});

describe('readSafetensors / writeSafetensors', () => {
  const root = mkdtemp(join(tmpdir(), 'bitvit-safetensors-'));
  afterAll(async () => rm(await root, { recursive: true, force: true }));
  // A fresh empty folder per test, so each can list exactly what it left.
  const freshDir = async () => mkdtemp(join(await root, 'case-'));

  it('writes atomically, replaces an existing file, and leaves no temporary file', async () => {
    const dir = await freshDir();
    const path = join(dir, 'model.safetensors');
    const tensors = { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } } satisfies Record<string, SafeTensor>;
    await writeFile(path, 'old contents');
    await writeSafetensors(path, tensors, { format: 'pt' });
    expect(new Uint8Array(await readFile(path))).toEqual(serializeSafetensors(tensors, { format: 'pt' }));
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const back = await readSafetensors(path);
    expect(back.tensors.get('w')!.data).toEqual(new Float32Array([1, 2]));
    expect(back.metadata).toEqual({ format: 'pt' });
  });

  it('touches nothing when the tensors are bad, and cleans up when the write fails', async () => {
    const dir = await freshDir();
    const path = join(dir, 'kept.safetensors');
    await writeFile(path, 'previous');
    const bad = { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } } satisfies Record<string, SafeTensor>;
    await expect(writeSafetensors(path, bad)).rejects.toThrow('shape [3] has 3 elements but the data has 2');
    expect(await readFile(path, 'utf8')).toBe('previous');
    // The rename fails (the target is a non-empty directory): the temporary file must go.
    const target = join(dir, 'a-directory');
    await mkdir(join(target, 'inside'), { recursive: true });
    await expect(writeSafetensors(target, {})).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['a-directory', 'kept.safetensors']);
  });

  it('names the file in read errors', async () => {
    const path = join(await freshDir(), 'broken.safetensors');
    await writeFile(path, new Uint8Array(3));
    await expect(readSafetensors(path)).rejects.toThrow(`safetensors: ${path}: file is 3 bytes`);
  });
});

describe('float16 and bfloat16 conversion', () => {
  const { inputs, input_bits, f16_bits, bf16_bits } = ref.half_rounding;
  const asFloat32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

  it('rounds float32 to float16 exactly as torch does (edges: 65504, 65520, 1e-8, -0, subnormals, ties)', () => {
    input_bits.forEach((bits, i) => {
      const x = asFloat32(bits);
      expect(Object.is(x, num(inputs[i]!)) || Number.isNaN(x), `input ${i}`).toBe(true);
      expect(float32ToFloat16Bits(x).toString(16), `float16 of ${x} (input ${i})`).toBe(f16_bits[i]!.toString(16));
    });
  });

  it('rounds float32 to bfloat16 as torch does (any NaN for NaN)', () => {
    input_bits.forEach((bits, i) => {
      const x = asFloat32(bits);
      if (Number.isNaN(x)) expect(Number.isNaN(bfloat16BitsToFloat32(float32ToBFloat16Bits(x)))).toBe(true);
      else expect(float32ToBFloat16Bits(x).toString(16), `bfloat16 of ${x}`).toBe(bf16_bits[i]!.toString(16));
    });
  });

  it('has the float16 edge values right by hand as well', () => {
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff); // below the halfway point to 65536
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // the tie rounds to even: inf
    expect(float32ToFloat16Bits(1e-8)).toBe(0); // under half of 2^-24
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // tie: to even (0)
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002); // tie: to even (2)
    expect(float32ToFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // tie between 0x3ff and the first normal
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToFloat16Bits(NaN)).toBe(0x7e00);
    expect(float32ToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(float16BitsToFloat32(0x7bff)).toBe(65504);
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(float16BitsToFloat32(0x0400)).toBe(2 ** -14);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(float16BitsToFloat32(0xfc00)).toBe(-Infinity);
    expect(float16BitsToFloat32(0x7e01)).toBeNaN();
    expect(float16BitsToFloat32(0x3555)).toBe(0.333251953125);
  });

  it('decodes every float16 and bfloat16 pattern to a value that encodes back to it', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const h = float16BitsToFloat32(bits);
      const isNaN16 = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (isNaN16 !== Number.isNaN(h)) throw new Error(`float16 0x${bits.toString(16)} decoded to ${h}`);
      if (!isNaN16 && float32ToFloat16Bits(h) !== bits) throw new Error(`float16 0x${bits.toString(16)} -> ${h} -> back differs`);
      const b = bfloat16BitsToFloat32(bits);
      const isNaNB = (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;
      if (isNaNB !== Number.isNaN(b)) throw new Error(`bfloat16 0x${bits.toString(16)} decoded to ${b}`);
      if (!isNaNB && float32ToBFloat16Bits(b) !== bits) throw new Error(`bfloat16 0x${bits.toString(16)} -> ${b} -> back differs`);
    }
  });

  it('reads and writes back every F16 and BF16 bit pattern, NaNs included, byte for byte', () => {
    const all = new Uint8Array(new Uint16Array(0x10000).map((_, i) => i).buffer);
    const header = {
      f16: { dtype: 'F16', shape: [0x10000], data_offsets: [0, 0x20000] },
      bf16: { dtype: 'BF16', shape: [256, 256], data_offsets: [0x20000, 0x40000] },
    };
    const text = JSON.stringify(header);
    const bytes = makeFile(text + ' '.repeat((8 - (text.length % 8)) % 8), 0x40000);
    bytes.set(all, bytes.length - 0x40000);
    bytes.set(all, bytes.length - 0x20000);
    // Our writer puts BF16 before F16 (Rust's dtype order), so compare per tensor.
    const rewritten = serializeSafetensors(parseSafetensors(bytes).tensors);
    const { header: h, dataStart } = readSafetensorsHeader(rewritten);
    for (const name of ['f16', 'bf16']) {
      const [begin, end] = h[name]!.data_offsets;
      expect(rewritten.subarray(dataStart + begin, dataStart + end), name).toEqual(all);
    }
  });

  it('keeps NaN payloads when whole F16 tensors are read', () => {
    // 0x7e01 and 0xfd00: NaNs with payload bits; a read then write keeps them.
    const bytes = makeFile({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, 4);
    bytes.set([0x01, 0x7e, 0x00, 0xfd], bytes.length - 4);
    const data = parseSafetensors(bytes).tensors.get('h')!.data as Float32Array;
    expect([...new Uint32Array(data.buffer)].map((b) => b.toString(16))).toEqual(['7fc02000', 'ffa00000']);
  });
});
