// Ternary weight packing: {-1, 0, 1} codes of an (out x in) weight matrix, stored in fewer bits.
//
// Two schemes (BITNET.md section 3); both pack along the input dim (cols), row by row, and pad each
// row to a whole byte with 0-weights, so a row starts at byte `row * rowBytes` and a kernel can walk
// one output row as a contiguous run of bytes.
//
//   i2 (2 bits/weight): code = w + 1 in {0, 1, 2}, 4 codes per byte, the first weight in the low
//        bits: byte = c0 | c1 << 2 | c2 << 4 | c3 << 6. Code 3 never occurs. Padding code is 1.
//        Example: row [-1, 0, 1, 1, -1] -> codes [0, 1, 2, 2 | 0, pad 1, 1, 1]
//                 -> bytes [0b10_10_01_00, 0b01_01_01_00] = [0xA4, 0x54].
//   t3 (base 3, 1.6 bits/weight): 5 trits per byte, byte = sum_{j<5} (w_j + 1) * 3^j, the first
//        weight least significant, so a byte is 0..242 (3^5 = 243 <= 256). Padding trit is 1.
//        Example: row [-1, 0, 1, 1, -1, 1] -> [0 + 1*3 + 2*9 + 2*27 + 0*81, 2 + 1*3 + 1*9 + 1*27 + 1*81]
//                 -> bytes [75, 122].
//
// The i2 layout matches what kernels want: a byte's low nibble holds weights (0, 1) and its high
// nibble weights (2, 3), each nibble a 4-bit index c0 + 4*c1 into a 16-entry table of pair sums
// (see kernels/). The t3 layout is the densest byte-aligned one (log2(3) = 1.585 bits is the limit).

export type TernaryScheme = 'i2' | 't3';

const WEIGHTS_PER_BYTE: Record<TernaryScheme, number> = { i2: 4, t3: 5 };

// Bytes per packed row: each row is padded to a whole byte, so rows never share a byte.
export function packedRowBytes(scheme: TernaryScheme, cols: number): number {
  return Math.ceil(cols / WEIGHTS_PER_BYTE[scheme]);
}

export function packedBytes(scheme: TernaryScheme, rows: number, cols: number): number {
  checkShape('packedBytes', rows, cols);
  if (!(scheme in WEIGHTS_PER_BYTE)) throw new Error(`packedBytes: unknown scheme "${String(scheme)}", expected "i2" or "t3"`);
  return rows * packedRowBytes(scheme, cols);
}

export function packI2(codes: Int8Array, rows: number, cols: number): Uint8Array {
  checkCodes('packI2', codes, rows, cols);
  const rowBytes = packedRowBytes('i2', cols);
  // 0x55 = four codes of 1 (weight 0): the padding value, written first and overwritten by real codes.
  const packed = new Uint8Array(rows * rowBytes).fill(0x55);
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    const dst = r * rowBytes;
    for (let c = 0; c < cols; c++) {
      const shift = (c & 3) * 2;
      const at = dst + (c >> 2);
      // clear the padding code at this position, then set w + 1
      packed[at] = (packed[at]! & ~(3 << shift)) | ((codes[src + c]! + 1) << shift);
    }
  }
  return packed;
}

export function unpackI2(packed: Uint8Array, rows: number, cols: number): Int8Array {
  checkShape('unpackI2', rows, cols);
  const rowBytes = packedRowBytes('i2', cols);
  checkPackedLength('unpackI2', packed, rows * rowBytes, rows, cols, rowBytes);
  const codes = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const src = r * rowBytes;
    for (let b = 0; b < rowBytes; b++) {
      const byte = packed[src + b]!;
      // Code 3 is not a ternary code anywhere in the byte, padding included: it means corrupt data.
      for (let j = 0; j < 4; j++) {
        const code = (byte >> (2 * j)) & 3;
        if (code === 3) {
          throw new Error(
            `unpackI2: byte ${src + b} (row ${r}) = 0x${byte.toString(16).padStart(2, '0')} holds code 3 at bits ${2 * j}-${2 * j + 1}; i2 codes are 0, 1, 2 (w + 1)`,
          );
        }
        const c = 4 * b + j;
        if (c < cols) codes[r * cols + c] = code - 1;
      }
    }
  }
  return codes;
}

const POW3 = [1, 3, 9, 27, 81];

export function packBase3(codes: Int8Array, rows: number, cols: number): Uint8Array {
  checkCodes('packBase3', codes, rows, cols);
  const rowBytes = packedRowBytes('t3', cols);
  const packed = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < rowBytes; b++) {
      let byte = 0;
      for (let j = 0; j < 5; j++) {
        const c = 5 * b + j;
        const trit = c < cols ? codes[r * cols + c]! + 1 : 1; // padding: weight 0
        byte += trit * POW3[j]!;
      }
      packed[r * rowBytes + b] = byte;
    }
  }
  return packed;
}

export function unpackBase3(packed: Uint8Array, rows: number, cols: number): Int8Array {
  checkShape('unpackBase3', rows, cols);
  const rowBytes = packedRowBytes('t3', cols);
  checkPackedLength('unpackBase3', packed, rows * rowBytes, rows, cols, rowBytes);
  const codes = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < rowBytes; b++) {
      let byte = packed[r * rowBytes + b]!;
      if (byte > 242) {
        throw new Error(`unpackBase3: byte ${r * rowBytes + b} (row ${r}) = ${byte} is above 242 = 3^5 - 1, not 5 trits`);
      }
      // Peel trits off least significant first: that is the first weight.
      for (let j = 0; j < 5; j++) {
        const trit = byte % 3;
        byte = (byte - trit) / 3;
        const c = 5 * b + j;
        if (c < cols) codes[r * cols + c] = trit - 1;
      }
    }
  }
  return codes;
}

function checkShape(fn: string, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new Error(`${fn}: rows and cols must be non-negative integers, got rows=${rows} cols=${cols}`);
  }
}

function checkCodes(fn: string, codes: Int8Array, rows: number, cols: number): void {
  checkShape(fn, rows, cols);
  if (codes.length !== rows * cols) {
    throw new Error(`${fn}: expected ${rows} x ${cols} = ${rows * cols} codes, got ${codes.length}`);
  }
  for (let i = 0; i < codes.length; i++) {
    const w = codes[i]!;
    if (w < -1 || w > 1) {
      throw new Error(`${fn}: code at index ${i} (row ${Math.floor(i / cols)}, col ${i % cols}) is ${w}, expected -1, 0 or 1`);
    }
  }
}

function checkPackedLength(fn: string, packed: Uint8Array, expected: number, rows: number, cols: number, rowBytes: number): void {
  if (packed.length !== expected) {
    throw new Error(
      `${fn}: ${rows} x ${cols} packs into ${rows} rows of ${rowBytes} bytes = ${expected} bytes, got ${packed.length}`,
    );
  }
}
