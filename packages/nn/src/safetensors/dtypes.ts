// The safetensors dtypes we read and write, with their size in bytes.

export type SafeDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I8' | 'U8' | 'I16' | 'I32' | 'I64' | 'BOOL';

// Listed in the order the reference writer (the Rust `safetensors` crate) lays
// tensors out: largest alignment first, so that with the header padded to 8
// bytes every tensor starts at a multiple of its element size and a reader can
// view it in place. (The crate sorts its Dtype enum in descending order; this
// is that order restricted to the dtypes we support.)
export const DTYPE_BYTES: Readonly<Record<SafeDType, number>> = {
  I64: 8,
  F64: 8,
  F32: 4,
  I32: 4,
  BF16: 2,
  F16: 2,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export const SAFE_DTYPES = Object.keys(DTYPE_BYTES) as SafeDType[];

export function isSafeDType(value: unknown): value is SafeDType {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value);
}

// A tensor's data once read: F16 and BF16 are widened to Float32Array, BOOL is
// a Uint8Array of 0/1, I64 a BigInt64Array.
export type SafeTensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | BigInt64Array;

// The array class that holds each dtype's values in memory.
export const DTYPE_ARRAY: Readonly<Record<SafeDType, new (length: number) => SafeTensorData>> = {
  I64: BigInt64Array,
  F64: Float64Array,
  F32: Float32Array,
  I32: Int32Array,
  BF16: Float32Array,
  F16: Float32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};
