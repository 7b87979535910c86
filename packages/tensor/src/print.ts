// Pretty printing as PyTorch's repr does it (torch/_tensor_str.py with the default print options):
// one format for the whole tensor (integers "1.", fixed "1.2500" or scientific "1.2500e-05"),
// one width for every value, lines wrapped at 80 columns, and past 1000 values a summary of the
// first and last 3 entries of each dim.
import type { Tensor } from './tensor.js';

const PRECISION = 4;
const THRESHOLD = 1000;
const EDGE = 3;
const LINE_WIDTH = 80;

/** What torch's _Formatter decides once per tensor, from the values that will be shown. */
interface Formatter {
  intMode: boolean;
  sciMode: boolean;
  width: number;
}

/**
 * Round |v| to `digits` decimals (or significant digits after the first, for scientific), ties
 * to even as Python's format() does; JavaScript's toFixed and toExponential break ties upward
 * (0.03125 -> "0.0313", Python "0.0312"). Returns the digits of v's magnitude as a string.
 */
function roundedMagnitude(a: number, sci: boolean): string {
  const str = (x: number, p: number): string => (sci ? x.toExponential(p) : x.toFixed(p));
  const longer = str(a, PRECISION + 1);
  const mantissa = sci ? longer.slice(0, longer.indexOf('e')) : longer;
  // An exact tie: one more digit represents a exactly and that digit is 5.
  if (!mantissa.endsWith('5') || Number(longer) !== a) return str(a, PRECISION);
  const digits = mantissa.replace('.', '').slice(0, -1); // all kept digits, as an integer string
  const kept = BigInt(digits);
  const even = kept % 2n === 0n ? kept : kept + 1n;
  if (!sci) {
    const s = even.toString().padStart(PRECISION + 1, '0');
    return `${s.slice(0, -PRECISION)}.${s.slice(-PRECISION)}`;
  }
  let exp = Number(longer.slice(longer.indexOf('e') + 1));
  let s = even.toString();
  if (s.length > PRECISION + 1) { // 9.99995 rounds up to 10.0000: one more power of ten
    s = s.slice(0, PRECISION + 1);
    exp += 1;
  }
  return `${s[0]}.${s.slice(1)}e${exp < 0 ? '-' : '+'}${Math.abs(exp)}`;
}

/** A value without padding, in the tensor's mode (Python's '{:.4e}', '{:.0f}.' or '{:.4f}'). */
function formatValue(v: number, f: Formatter): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const sign = v < 0 || Object.is(v, -0) ? '-' : ''; // Python keeps the sign of -0: torch prints "-0."
  if (f.sciMode) {
    const m = roundedMagnitude(Math.abs(v), true);
    const [mant, exp] = m.split('e') as [string, string];
    return `${sign}${mant}e${exp[0]}${exp.slice(1).padStart(2, '0')}`; // Python writes e-05, JS e-5
  }
  if (f.intMode) return `${sign}${Math.abs(v).toFixed(0)}.`;
  return `${sign}${roundedMagnitude(Math.abs(v), false)}`;
}

/**
 * torch's rules: integers print as "1." unless the range is wide (max/min > 1000 or max > 1e8);
 * other values print fixed with 4 decimals unless the range is wide or the smallest is below 1e-4.
 * Zeros and non-finite values take no part in the choice or in the width.
 */
function makeFormatter(values: readonly number[]): Formatter {
  const f: Formatter = { intMode: true, sciMode: false, width: 1 };
  let min = Infinity;
  let max = 0;
  const used: number[] = [];
  for (const v of values) {
    if (!Number.isFinite(v) || v === 0) continue;
    used.push(v);
    const a = Math.abs(v);
    if (a < min) min = a;
    if (a > max) max = a;
    if (!Number.isInteger(v)) f.intMode = false;
  }
  if (used.length === 0) return f;
  f.sciMode = max / min > 1000 || max > 1e8 || (!f.intMode && min < 1e-4);
  for (const v of used) f.width = Math.max(f.width, formatValue(v, f).length);
  return f;
}

/** Indices shown along a dim of size n: all of them, or the first and last EDGE with -1 for "...". */
function shown(n: number, summarise: boolean): number[] {
  if (!summarise || n <= 2 * EDGE) return Array.from({ length: n }, (_, i) => i);
  return [...Array.from({ length: EDGE }, (_, i) => i), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)];
}

export function formatTensor(t: Tensor): string {
  const data = t.data;
  const shape = t.shape;
  const summarise = t.size > THRESHOLD;
  const strides: number[] = [];
  for (let i = shape.length - 1, s = 1; i >= 0; s *= shape[i]!, i--) strides[i] = s;

  // The formatter sees only the values that will be printed (torch's get_summarized_data).
  const visible: number[] = [];
  const collect = (dim: number, offset: number): void => {
    if (dim === shape.length) {
      visible.push(data[offset]!);
      return;
    }
    for (const i of shown(shape[dim]!, summarise)) if (i >= 0) collect(dim + 1, offset + i * strides[dim]!);
  };
  if (t.size > 0) collect(0, 0);
  const f = makeFormatter(visible);
  const cell = (v: number): string => formatValue(v, f).padStart(f.width);

  // indent: the column the opening bracket of this dim sits after ("tensor(" is 7 wide).
  const render = (dim: number, offset: number, indent: number): string => {
    const picks = shown(shape[dim]!, summarise);
    if (dim === shape.length - 1) {
      const items = picks.map((i) => (i < 0 ? ' ...' : cell(data[offset + i]!)));
      const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / (f.width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(`,\n${' '.repeat(indent + 1)}`)}]`;
    }
    const parts = picks.map((i) => (i < 0 ? '...' : render(dim + 1, offset + i * strides[dim]!, indent + 1)));
    return `[${parts.join(`,${'\n'.repeat(shape.length - dim - 1)}${' '.repeat(indent + 1)}`)}]`;
  };

  const prefix = 'tensor(';
  let body: string;
  const suffixes: string[] = [];
  if (t.size === 0) {
    body = '[]';
    if (shape.length !== 1) suffixes.push(`size=(${shape.join(', ')})`);
  } else body = shape.length === 0 ? formatValue(data[0]!, f) : render(0, 0, prefix.length);
  if (t.node) suffixes.push(`grad_fn=<${t.node.op}>`);
  else if (t.requiresGrad) suffixes.push('requires_grad=True');

  // Suffixes go on the last line unless it would pass the line width (torch's _add_suffixes).
  let out = prefix + body;
  let lastLine = out.length - out.lastIndexOf('\n') + 1; // torch's count: the last line's length + 2
  for (const s of suffixes) {
    if (lastLine + s.length + 2 > LINE_WIDTH) {
      out += `,\n${' '.repeat(prefix.length)}${s}`;
      lastLine = prefix.length + s.length;
    } else {
      out += `, ${s}`;
      lastLine += s.length + 2;
    }
  }
  return `${out})`;
}
