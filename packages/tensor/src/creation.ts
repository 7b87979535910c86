// Making tensors: from values, constants, ranges, and seeded random draws.
import { Tensor, type NestedArray } from './tensor.js';
import { type Shape, shapeStr, sizeOf } from './shape.js';
import { defaultGenerator, type Generator } from './random.js';

export interface CreateOptions {
  requiresGrad?: boolean;
}

function make(data: Float32Array, shape: Shape, opts?: CreateOptions): Tensor {
  const t = new Tensor(data, shape);
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${shapeStr(shape)}`);
  }
}

/** A tensor from nested arrays, a flat array with a shape, or a number (a 0-d scalar). */
export function tensor(values: number | NestedArray | ArrayLike<number>, shape?: Shape, opts?: CreateOptions): Tensor {
  if (typeof values === 'number') return make(Float32Array.of(values), shape ?? [], opts);
  if (shape !== undefined) return fromArray(values as ArrayLike<number>, shape, opts);
  const inferred: number[] = [];
  let level: unknown = values;
  while (Array.isArray(level)) {
    inferred.push(level.length);
    level = level[0];
  }
  const flat = (values as NestedArray).flat(Infinity as 1) as unknown[];
  if (flat.length !== sizeOf(inferred) || flat.some((v) => typeof v !== 'number')) {
    throw new Error(`tensor: nested arrays are ragged or hold non-numbers (expected shape ${shapeStr(inferred)})`);
  }
  return make(Float32Array.from(flat as number[]), inferred, opts);
}

/** A tensor of the given shape over a copy of flat values (row-major). */
export function fromArray(values: ArrayLike<number>, shape: Shape, opts?: CreateOptions): Tensor {
  checkShape('fromArray', shape);
  if (values.length !== sizeOf(shape)) {
    throw new Error(`fromArray: ${values.length} values do not fill shape ${shapeStr(shape)} (${sizeOf(shape)})`);
  }
  return make(Float32Array.from(values), shape, opts);
}

export function scalar(value: number): Tensor {
  return new Tensor(Float32Array.of(value), []);
}

export function full(shape: Shape, value: number, opts?: CreateOptions): Tensor {
  checkShape('full', shape);
  return make(new Float32Array(sizeOf(shape)).fill(value), shape, opts);
}

export function zeros(shape: Shape, opts?: CreateOptions): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts?: CreateOptions): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape);
}

export function onesLike(t: Tensor): Tensor {
  return ones(t.shape);
}

/** Values start, start+step, ... below end (arange(n) is 0..n-1). */
export function arange(start: number, end?: number, step = 1): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return new Tensor(data, [n]);
}

export function linspace(start: number, end: number, steps: number): Tensor {
  const data = new Float32Array(steps);
  for (let i = 0; i < steps; i++) data[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
  return new Tensor(data, [steps]);
}

export function eye(n: number): Tensor {
  const data = new Float32Array(n * n);
  for (let i = 0; i < n; i++) data[i * n + i] = 1;
  return new Tensor(data, [n, n]);
}

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** Uniform in [low, high) from the seeded generator. */
export function rand(shape: Shape, opts?: RandomOptions & { low?: number; high?: number }): Tensor {
  checkShape('rand', shape);
  const g = opts?.generator ?? defaultGenerator();
  const low = opts?.low ?? 0;
  const span = (opts?.high ?? 1) - low;
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = low + span * g.random();
  return make(data, shape, opts);
}

/** Normal with the given mean and std (default standard normal) from the seeded generator. */
export function randn(shape: Shape, opts?: RandomOptions & { mean?: number; std?: number }): Tensor {
  checkShape('randn', shape);
  const g = opts?.generator ?? defaultGenerator();
  const mean = opts?.mean ?? 0;
  const std = opts?.std ?? 1;
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = mean + std * g.normal();
  return make(data, shape, opts);
}

/** Integers in [low, high) as float values. */
export function randint(low: number, high: number, shape: Shape, opts?: RandomOptions): Tensor {
  checkShape('randint', shape);
  const g = opts?.generator ?? defaultGenerator();
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = g.int(low, high);
  return make(data, shape, opts);
}
