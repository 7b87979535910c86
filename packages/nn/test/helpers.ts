// Shared by the nn tests: the PyTorch reference file and float comparisons that name the worst element.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, fromArray } from '@bitvit/tensor';
import { expect } from 'vitest';

/** A tensor as make_nn_reference.py writes it: shape and flat row-major float32 values. */
export interface RefTensor {
  shape: number[];
  data: number[];
}

export interface LayerCase {
  inputs: Record<string, RefTensor>;
  params: Record<string, RefTensor>;
  y: RefTensor;
  gy: RefTensor;
  grads: Record<string, RefTensor>;
  eps?: number;
  heads?: number;
}

export interface LossCase {
  inputs: Record<string, RefTensor | number[]>;
  value: number;
  grads: Record<string, RefTensor>;
  temperature?: number;
}

export interface OptimizerTrace {
  weight: RefTensor[];
  bias: RefTensor[];
  loss: number[];
}

export interface ClipCase {
  max_norm: number;
  grads: RefTensor[];
  norm: number;
  clipped: RefTensor[];
}

export interface Reference {
  torch_version: string;
  layers: Record<string, LayerCase>;
  losses: Record<string, LossCase>;
  optimizers: {
    problem: Record<'x' | 'y' | 'weight' | 'bias', RefTensor>;
    adamw_lr_schedule_lrs: number[];
    clip_grad_norm: Record<string, ClipCase>;
  } & Record<string, unknown>;
  schedules: Record<'step' | 'cosine' | 'linear' | 'warmup', number[]>;
  module: {
    sequential_repr: string;
    modulelist_repr: string;
    encoder_repr: string;
    encoder_parameters: Array<[string, number[]]>;
    encoder_state_dict_keys: string[];
    encoder_num_parameters: number;
  };
}

export const ref = JSON.parse(readFileSync(join(import.meta.dirname, 'ref', 'nn_reference.json'), 'utf8')) as Reference;

export function optimizerTrace(name: string): OptimizerTrace {
  const t = ref.optimizers[name] as OptimizerTrace | undefined;
  if (!t) throw new Error(`nn_reference.json has no optimizer trace "${name}"`);
  return t;
}

/** A fresh tensor holding a reference tensor's values. */
export function toTensor(r: RefTensor, opts: { requiresGrad?: boolean } = {}): Tensor {
  return fromArray(r.data, r.shape, opts);
}

/** Copy reference values into an existing tensor (a parameter), checking the shape. */
export function setData(t: Tensor, r: RefTensor): void {
  expect([...t.shape], 'shape of the tensor being loaded').toEqual(r.shape);
  t.data.set(r.data);
}

/**
 * Elementwise |actual - expected| <= atol + rtol * |expected|, failing with the first
 * offending index, both values and the largest error, so a mismatch says where it is.
 */
export function expectClose(
  actual: Tensor | ArrayLike<number> | null | undefined,
  expected: RefTensor | ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-5, what = 'tensor' }: { atol?: number; rtol?: number; what?: string } = {},
): void {
  if (actual === null || actual === undefined) throw new Error(`${what}: missing (null), expected values`);
  const a = actual instanceof Tensor ? actual.data : actual;
  const isRef = !ArrayBuffer.isView(expected) && !Array.isArray(expected) && 'shape' in expected;
  const e = isRef ? (expected as RefTensor).data : (expected as ArrayLike<number>);
  if (isRef && actual instanceof Tensor) expect([...actual.shape], `${what}: shape`).toEqual((expected as RefTensor).shape);
  expect(a.length, `${what}: number of values`).toBe(e.length);
  let worst = 0;
  let firstBad = -1;
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i]! - e[i]!);
    if (!(err <= atol + rtol * Math.abs(e[i]!))) {
      if (firstBad < 0) firstBad = i;
    }
    if (!(err <= worst)) worst = err;
  }
  if (firstBad >= 0) {
    throw new Error(`${what}: element ${firstBad} is ${a[firstBad]} but PyTorch has ${e[firstBad]} (largest error ${worst}, atol ${atol}, rtol ${rtol})`);
  }
}
