// Reading and checking a safetensors header.
//
// The file is: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the
// header, maybe padded with trailing spaces), then the data section. The
// header maps each tensor name to {dtype, shape, data_offsets: [begin, end)},
// offsets counted from the start of the data section, plus an optional
// "__metadata__" map of strings to strings.
//
// A file may come from anywhere, so every number in it is checked before it is
// used: nothing here reads past the buffer, and each kind of damage gets its
// own message naming the file, the tensor and the numbers. We accept exactly
// what the Rust reference reader accepts: the tensors must tile the data
// section, no overlaps and no holes.

import { DTYPE_BYTES, SAFE_DTYPES, isSafeDType, type SafeDType } from './dtypes.js';

/** Where one tensor's bytes lie, as the header says. */
export interface SafeTensorInfo {
  dtype: SafeDType;
  shape: number[];
  data_offsets: [number, number];
}

export interface SafetensorsHeader {
  /**
   * Tensor name -> info. Keys are inserted in data_offsets order (the order of
   * the bytes in the file), but a JS object lists integer-like names ("0",
   * "12") first whatever their order; `names` has the true file order.
   */
  header: Record<string, SafeTensorInfo>;
  /** The tensor names in data_offsets order. */
  names: string[];
  metadata: Record<string, string>;
  /** Offset of the data section from the start of the file: 8 + N. */
  dataStart: number;
}

/** A malformed safetensors file, or tensors that cannot be written as one. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

// The reference reader's limit: a header this big is damage, not a model.
export const MAX_HEADER_BYTES = 100_000_000;

export function readSafetensorsHeader(bytes: Uint8Array, source?: string): SafetensorsHeader {
  const fail = (message: string): never => {
    throw new SafetensorsError(`safetensors: ${source !== undefined ? `${source}: ` : ''}${message}`);
  };

  if (bytes.length < 8) {
    fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length that starts every safetensors file`);
  }
  // Read N as a BigInt: a u64 can exceed 2^53, and comparing before narrowing
  // keeps a garbage length from turning into a plausible-looking number.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLength} is over the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file, or a damaged one`);
  }
  const n = Number(headerLength);
  if (8 + n > bytes.length) {
    fail(`header length ${n} runs past the end of the ${bytes.length}-byte file (8 + ${n} > ${bytes.length})`);
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    return fail(`header (bytes 8 to ${dataStart}) is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail(`header must be a JSON object of tensors, got ${describe(json)}`);
  }

  // Null-prototype records: a tensor named "__proto__" must stay a tensor.
  const metadata: Record<string, string> = Object.create(null);
  const entries: [string, SafeTensorInfo][] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      // null is what a writer with no metadata could emit; treat it as none.
      if (entry === null) continue;
      if (typeof entry !== 'object' || Array.isArray(entry)) {
        fail(`__metadata__ must be an object of strings, got ${describe(entry)}`);
      }
      for (const [key, value] of Object.entries(entry as object)) {
        if (typeof value !== 'string') {
          fail(`__metadata__ value for "${key}" must be a string, got ${describe(value)}`);
        }
        metadata[key] = value as string;
      }
      continue;
    }
    entries.push([name, checkTensorEntry(name, entry, dataLength, fail)]);
  }

  // The tensors must tile the data section exactly, as the reference reader
  // demands: walk them in offset order and find overlaps and holes.
  entries.sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0] || a.data_offsets[1] - b.data_offsets[1]);
  let covered = 0; // bytes [0, covered) of the data section belong to tensors seen so far
  let previous: string | undefined;
  let previousBegin = 0;
  for (const [name, info] of entries) {
    const [begin, end] = info.data_offsets;
    if (begin < covered) {
      fail(`tensors "${previous}" [${previousBegin}, ${covered}] and "${name}" [${begin}, ${end}] overlap in the data section`);
    }
    if (begin > covered) {
      const where = previous === undefined ? `before "${name}"` : `between "${previous}" and "${name}"`;
      fail(`data section has a hole: bytes [${covered}, ${begin}) ${where} belong to no tensor`);
    }
    covered = end;
    previous = name;
    previousBegin = begin;
  }
  if (covered !== dataLength) {
    fail(
      previous === undefined
        ? `data section has ${dataLength} bytes but the header lists no tensors`
        : `data section has a hole: bytes [${covered}, ${dataLength}) after the last tensor "${previous}" belong to no tensor`,
    );
  }

  const header: Record<string, SafeTensorInfo> = Object.create(null);
  for (const [name, info] of entries) header[name] = info;
  return { header, names: entries.map(([name]) => name), metadata, dataStart };
}

// Check one tensor's entry on its own: dtype known, shape and offsets sane,
// inside the data section, and exactly as many bytes as shape x dtype need.
function checkTensorEntry(
  name: string,
  entry: unknown,
  dataLength: number,
  fail: (message: string) => never,
): SafeTensorInfo {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    fail(`tensor "${name}" must be an object with dtype, shape and data_offsets, got ${describe(entry)}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isSafeDType(dtype)) {
    fail(`tensor "${name}" has unknown or unsupported dtype ${describe(dtype)} (supported: ${SAFE_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail(`tensor "${name}" shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail(`tensor "${name}" data_offsets must be two ascending non-negative integers [begin, end], got ${describe(offsets)}`);
  }
  const dims = shape as number[];
  const [begin, end] = offsets as [number, number];
  if (end > dataLength) {
    fail(`tensor "${name}" data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data section`);
  }
  const size = DTYPE_BYTES[dtype as SafeDType];
  // The product can only be trusted while it stays an exact integer.
  const bytesNeeded = dims.reduce((product, d) => product * d, size);
  if (!Number.isSafeInteger(bytesNeeded) || bytesNeeded !== end - begin) {
    fail(
      `tensor "${name}" is ${dtype} of shape [${dims.join(', ')}], which needs ${bytesNeeded} bytes, ` +
        `but its data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { dtype: dtype as SafeDType, shape: [...dims], data_offsets: [begin, end] };
}

// A non-negative integer small enough to be exact in a JS number.
function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

// A short rendering of an unexpected JSON value for an error message.
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `${kind} ${text.length > 80 ? `${text.slice(0, 77)}...` : text}`;
}
