// tidy(fn): everything the tensors made inside fn hold is given back when fn returns, except what
// it returns, without waiting for the garbage collector (tf.tidy in TensorFlow.js).
//
// Why: a tensor's memory comes back once the collector has found the tensor unreachable (a
// FinalizationRegistry, storage.ts; device textures alike, kernels/gpu/backend.ts). Those
// callbacks run only when the program yields to the event loop, and V8 collects the small
// tensor objects rarely, unaware that each holds up to megabytes: dead activations pile up until
// a full collection. tidy frees them at once, on the CPU (pooled arrays, into the pool for the
// next op) and on the GPU (textures).
//
// The rule it adds: a tensor made inside and neither returned nor keep()'d is freed, and reading
// it afterwards throws (". . . freed at the end of the tidy() that made it" on the CPU, "was
// disposed" on the GPU). Tensors made before the tidy are never touched. Good fits: an inference
// call (model.forward inside, the logits returned), an evaluation batch, a training step whose
// results are read inside it (loss.item()); optimizer state lives in arrays of its own.
import { Tensor } from './tensor.js';
import { closeStorageScope, keepStorage, openStorageScope } from './storage.js';
import { closeGpuScope, keepGpuArray, openGpuScope } from './kernels/gpu/backend.js';

/**
 * Runs `fn` and returns its result; then frees the memory of every tensor made inside it except
 * the tensors in that result (a Tensor, or arrays and plain objects holding Tensors) and those
 * passed to keep(). Nested tidies hand what they return to the enclosing one. If `fn` throws,
 * nothing is freed (its tensors are left to the collector).
 *
 *   const logits = tidy(() => noGrad(() => model.forward(images)));
 */
export function tidy<T>(fn: () => T): T {
  openStorageScope();
  openGpuScope();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    closeGpuScope(null);
    closeStorageScope(null);
    throw error;
  }
  const kept: Tensor[] = [];
  collectTensors(result, kept, new Set());
  closeGpuScope(kept);
  closeStorageScope(new Set(kept.filter((t) => t.deviceStorage === null).map((t) => t.data)));
  return result;
}

/** Exempts `t` (made inside a tidy) from being freed at the tidy's end: it is collected as any
 *  tensor once unreachable. For a cache a module fills during a forward. Returns t. */
export function keep(t: Tensor): Tensor {
  if (t.deviceStorage === null) keepStorage(t.data);
  else keepGpuArray(t);
  return t;
}

// The tensors in a tidy() result (arrays and plain objects are searched).
function collectTensors(value: unknown, into: Tensor[], seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Tensor) {
    into.push(value);
    return;
  }
  if (Array.isArray(value)) for (const item of value) collectTensors(item, into, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const item of Object.values(value)) collectTensors(item, into, seen);
}
