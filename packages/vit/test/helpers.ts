// Shared by the vit tests: the committed PyTorch reference (test/ref, written by
// make_vit_reference.py) and a comparison that names the worst element when it fails.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '@bitvit/tensor';
import { readSafetensors } from '@bitvit/nn';

export const REF_DIR = join(import.meta.dirname, 'ref');

/** The four reference model folders: HF layout, random weights (see make_vit_reference.py). */
export const REF_CASES = ['vit-28', 'deit-28', 'vit-32', 'deit-32'] as const;

export interface RefTensor {
  shape: number[];
  data: number[];
}

export interface VitReference {
  generator: string;
  param_counts: Record<string, number>;
  state_dict_shapes: Record<string, Array<[string, number[]]>>;
  vit_tiny_repr: string;
  interpolation: Array<{ mode: 'bicubic' | 'bilinear'; prefix: number; new_grid: [number, number]; pos: RefTensor; out: RefTensor }>;
}

export const ref = JSON.parse(readFileSync(join(REF_DIR, 'vit_reference.json'), 'utf8')) as VitReference;

/** expected.safetensors of a reference folder, as Tensors by name. */
export async function loadExpected(folder: string): Promise<Map<string, Tensor>> {
  const file = join(REF_DIR, folder, 'expected.safetensors');
  const { tensors } = await readSafetensors(file);
  const out = new Map<string, Tensor>();
  for (const [name, st] of tensors) out.set(name, new Tensor(Float32Array.from(st.data as Float32Array), st.shape));
  return out;
}

export function get(m: Map<string, Tensor>, name: string): Tensor {
  const t = m.get(name);
  if (!t) throw new Error(`expected.safetensors has no "${name}" (have: ${[...m.keys()].slice(0, 8).join(', ')}, ...)`);
  return t;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/**
 * The largest error relative to the reference tensor's scale: max |a - e| / max |e|. A
 * per-element ratio would blow up on the values that happen to be near zero (a sum of
 * gradient terms that nearly cancel), where float32 rounding of the large terms dominates.
 */
export function relError(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, what: string): number {
  const a = actual instanceof Tensor ? actual.data : actual;
  const e = expected instanceof Tensor ? expected.data : expected;
  if (actual instanceof Tensor && expected instanceof Tensor && actual.shape.join(',') !== expected.shape.join(',')) {
    throw new Error(`${what}: shape [${actual.shape.join(', ')}] but PyTorch has [${expected.shape.join(', ')}]`);
  }
  if (a.length !== e.length) throw new Error(`${what}: ${a.length} values but PyTorch has ${e.length}`);
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i]! - e[i]!);
    if (!(err <= worst)) worst = err; // NaN counts as the worst
  }
  return worst / Math.max(maxAbs(e), 1e-30);
}

/**
 * Elementwise |a - e| <= rtol * |e| + atolScale * max|e|: relative per element, with a floor
 * tied to the tensor's own scale. Fails with the first offending index and both values.
 */
export function expectClose(actual: Tensor | null | undefined, expected: Tensor, what: string, rtol = 1e-4, atolScale = 1e-5): void {
  if (!actual) throw new Error(`${what}: missing (null), PyTorch has a ${expected.shape.join('x')} tensor`);
  relError(actual, expected, what); // shape and length checks
  const a = actual.data;
  const e = expected.data;
  const atol = atolScale * maxAbs(e);
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i]! - e[i]!);
    if (!(err <= atol + rtol * Math.abs(e[i]!))) {
      throw new Error(`${what}: element ${i} is ${a[i]} but PyTorch has ${e[i]} (|diff| ${err}, allowed ${atol + rtol * Math.abs(e[i]!)}; max error / max |value| ${relError(a, e, what)})`);
    }
  }
}
