// Pretty printing in PyTorch's style: tensor([[ 1.0000, -2.5000], ...]), summarised past 1000 values.
import type { Tensor } from './tensor.js';

const THRESHOLD = 1000;
const EDGE = 3;

function formatNumber(v: number, allInts: boolean): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (allInts) return `${v}.`;
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e8)) return v.toExponential(4);
  return v.toFixed(4);
}

export function formatTensor(t: Tensor): string {
  const data = t.data;
  const summarise = t.size > THRESHOLD;
  const allInts = data.every((v) => Number.isInteger(v));
  const cells: string[] = [];
  for (const v of data) cells.push(formatNumber(v, allInts));
  const width = Math.max(0, ...cells.map((c) => c.length));
  const pad = (s: string): string => s.padStart(width);
  const strides: number[] = [];
  let s = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t.shape[i]!;
  }
  const render = (dim: number, offset: number, indent: string): string => {
    const n = t.shape[dim]!;
    const pick = summarise && n > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()];
    if (dim === t.shape.length - 1) {
      return `[${pick.map((i) => (i < 0 ? '...' : pad(cells[offset + i]!))).join(', ')}]`;
    }
    const sep = `,${'\n'.repeat(t.shape.length - dim - 1)}${indent} `;
    return `[${pick.map((i) => (i < 0 ? '...' : render(dim + 1, offset + i * strides[dim]!, `${indent} `))).join(sep)}]`;
  };
  const body = t.shape.length === 0 ? cells[0]! : render(0, 0, '       ');
  const extras: string[] = [];
  if (summarise) extras.push(`shape=[${t.shape.join(', ')}]`);
  if (t.requiresGrad) extras.push(t.node ? `grad_fn=<${t.node.op}>` : 'requires_grad=true');
  return `tensor(${body}${extras.length ? `, ${extras.join(', ')}` : ''})`;
}
