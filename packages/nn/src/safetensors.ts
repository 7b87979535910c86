// safetensors: the weights format of Hugging Face and PyTorch tooling.
// https://huggingface.co/docs/safetensors - layout and checks in safetensors/header.ts.
//
// Works on typed arrays, not Tensors, so it serves any package (model weights,
// optimizer state, packed ternary codes as U8). Read data is always copied out
// of the file's bytes: the arrays returned own their memory and are aligned.

import { DTYPE_ARRAY, SAFE_DTYPES, isSafeDType, type SafeDType, type SafeTensorData } from './safetensors/dtypes.js';
import { readSafetensorsHeader, SafetensorsError } from './safetensors/header.js';
import { decodeBFloat16, decodeFloat16, encodeBFloat16, encodeFloat16 } from './safetensors/halfFloat.js';

export type { SafeDType, SafeTensorData } from './safetensors/dtypes.js';
export { readSafetensorsHeader, SafetensorsError, MAX_HEADER_BYTES } from './safetensors/header.js';
export type { SafeTensorInfo, SafetensorsHeader } from './safetensors/header.js';
export {
  float32ToFloat16Bits,
  float16BitsToFloat32,
  float32ToBFloat16Bits,
  bfloat16BitsToFloat32,
} from './safetensors/halfFloat.js';

/**
 * One tensor: row-major (C order) values and their shape. F16 and BF16 are held
 * as Float32Array (decoded on read, rounded to nearest even on write), I64 as
 * BigInt64Array, BOOL as a Uint8Array of 0/1.
 */
export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: SafeTensorData;
}

export interface SafetensorsFile {
  /** In file order (by data offset). */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export type SafeTensors = Map<string, SafeTensor> | Record<string, SafeTensor>;

// Typed arrays use the host's byte order and the format is little-endian.
// Every platform Node and the browsers run on is little-endian; say so plainly
// if that ever changes instead of writing byte-swapped weights.
function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new SafetensorsError('safetensors: this host is big-endian, which is not supported');
  }
}

/** Parse a whole .safetensors file. `source` (a file name) goes into error messages. */
export function parseSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  assertLittleEndianHost();
  const { header, names, metadata, dataStart } = readSafetensorsHeader(bytes, source);
  const tensors = new Map<string, SafeTensor>();
  for (const name of names) {
    const { dtype, shape, data_offsets: [begin, end] } = header[name]!;
    // Copy into a fresh buffer (offset 0, so aligned for any element size).
    // Not bytes.slice(): on a Node Buffer that returns a view, not a copy.
    const raw = new Uint8Array(end - begin);
    raw.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { dtype, shape, data: decode(dtype, raw.buffer) });
  }
  return { tensors, metadata };
}

// Little-endian bytes -> the in-memory array for a dtype.
function decode(dtype: SafeDType, buffer: ArrayBuffer): SafeTensorData {
  switch (dtype) {
    case 'F16':
      return decodeFloat16(new Uint16Array(buffer));
    case 'BF16':
      return decodeBFloat16(new Uint16Array(buffer));
    case 'F32':
      return new Float32Array(buffer);
    case 'F64':
      return new Float64Array(buffer);
    case 'I8':
      return new Int8Array(buffer);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer);
    case 'I16':
      return new Int16Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'I64':
      return new BigInt64Array(buffer);
  }
}

/**
 * Serialize tensors to the bytes of a .safetensors file, byte for byte what the
 * Rust reference writer produces for the same tensors: tensors ordered by
 * descending dtype alignment then name (so each starts aligned to its element
 * size), compact JSON with "__metadata__" first (its keys sorted, and left out
 * when empty), the header padded with spaces to a multiple of 8 bytes.
 */
export function serializeSafetensors(tensors: SafeTensors, metadata: Record<string, string> = {}): Uint8Array {
  assertLittleEndianHost();
  // Check and encode every tensor first, so a bad one fails before any work.
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).map(
    ([name, tensor]) => ({ name, tensor, payload: encode(name, tensor) }),
  );
  // Names compare by UTF-16 code units here and by UTF-8 bytes in Rust; the two
  // orders differ only for characters beyond U+E000, which no weight name uses.
  entries.sort((a, b) => {
    const byAlignment = SAFE_DTYPES.indexOf(a.tensor.dtype) - SAFE_DTYPES.indexOf(b.tensor.dtype);
    return byAlignment !== 0 ? byAlignment : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });

  // Build the JSON text by hand: JSON.stringify of an object would move
  // integer-like keys (a tensor named "0") to the front and break the order.
  const parts: string[] = [];
  const metadataKeys = Object.keys(metadata).sort();
  if (metadataKeys.length > 0) {
    for (const key of metadataKeys) {
      if (typeof metadata[key] !== 'string') {
        throw new SafetensorsError(`safetensors: metadata value for "${key}" must be a string, got ${typeof metadata[key]}`);
      }
    }
    const fields = metadataKeys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(metadata[key])}`);
    parts.push(`"__metadata__":{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const { name, tensor, payload } of entries) {
    const info = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + payload.length] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += payload.length;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // pad with spaces
  let at = 8 + headerLength;
  for (const { payload } of entries) {
    out.set(payload, at);
    at += payload.length;
  }
  return out;
}

// Check one tensor before writing it and return its little-endian bytes.
function encode(name: string, { dtype, shape, data }: SafeTensor): Uint8Array {
  const fail = (message: string): never => {
    throw new SafetensorsError(`safetensors: cannot write tensor "${name}": ${message}`);
  };
  if (name === '__metadata__') fail('the name "__metadata__" is reserved for the metadata');
  if (!isSafeDType(dtype)) fail(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const expected = DTYPE_ARRAY[dtype];
  // The bytes are written as they lie in memory, so the array class must match
  // the dtype (an Int32Array given as F32 would be garbage). A Buffer passes as U8.
  if (!(data instanceof expected)) {
    fail(`dtype ${dtype} is held in a ${expected.name}, got ${data?.constructor?.name ?? String(data)}`);
  }
  const numel = shape.reduce((product, d) => product * d, 1);
  if (data.length !== numel) {
    fail(`shape [${shape.join(', ')}] has ${numel} elements but the data has ${data.length}`);
  }
  if (dtype === 'F16') return bytesOf(encodeFloat16(data as Float32Array));
  if (dtype === 'BF16') return bytesOf(encodeBFloat16(data as Float32Array));
  return bytesOf(data);
}

function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

// node:fs is imported only when a file is read or written, so that parsing and
// serializing bytes also work in a browser bundle.

/** Read and parse a .safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const { readFile } = await import('node:fs/promises');
  return parseSafetensors(await readFile(path), path);
}

/**
 * Write a .safetensors file atomically: the bytes go to `<path>.tmp-<pid>`, are
 * flushed to disk, and the temporary file is renamed over `path`. A crash leaves
 * either the old file or the new one, never half of one.
 */
export async function writeSafetensors(
  path: string,
  tensors: SafeTensors,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = serializeSafetensors(tensors, metadata); // throws before any file is touched
  const { open, rename, rm } = await import('node:fs/promises');
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}
