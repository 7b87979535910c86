// The gpu backend: the Backend interface (kernels/backend.ts) on gpu.js kernels.
//
// Where data lives:
//   - A result is a Tensor whose storage is a GpuStorage wrapping a GpuArray: it stays on the
//     device, and the next kernel reads it there. Reading `t.data` (or item(), toArray(), an
//     optimizer step) downloads it once and the tensor lives on the CPU from then on.
//   - A CPU tensor given to a kernel (an input batch, a parameter, a constant) is uploaded for
//     that call and the upload is freed right after: nothing is cached. The optimizer changes
//     parameters in place through `p.data`, so a cached upload could silently go stale; the
//     price is one upload per use of a parameter (a Linear weight: its forward, and BitLinear's
//     quantizer reads it twice), small next to the matmuls on the same data.
//   - GPU memory is not garbage collected, so each GpuStorage is registered with a
//     FinalizationRegistry: once no tensor holds it (the autograd graph dropped it, `.data`
//     replaced it), the JavaScript collector's finalizer disposes the texture. Finalizers run
//     only when the program yields to the event loop; a synchronous training loop wraps each
//     step in tidy() (tidy.ts), which frees the step's device memory at its end.
//
// Reads must be synchronous (the Tensor API is), so the modes are those gpu.js runs
// synchronously: WebGL2, WebGL, headless GL and WebAssembly. WebGPU kernels run at the kernel
// level (GpuDevice.create('webgpu'), tested in the browser) but not behind setBackend.
//
// Empty tensors never reach the device (gpu.js has no zero-sized outputs): an op with an empty
// input runs on the CPU backend, and an empty result is made on the CPU.
import type { Backend, BinaryOp, LayerNormResult, ReduceOp, UnaryOp } from '../backend.js';
import { Tensor, type DeviceStorage } from '../../tensor.js';
import { cpuBackend } from '../cpu/index.js';
import { GpuArray, GpuDevice, type GpuInfo, type GpuMode, type GpuModeRequest } from './device.js';
import { loadGpuJs } from './gpujs.js';
import * as elementwise from './elementwise.js';
import * as layout from './layout.js';
import * as reduction from './reduce.js';
import { matmul } from './matmul.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from './softmax.js';
import { layerNorm, layerNormBackward } from './layernorm.js';
import { geluBackward } from './gelu.js';
import { absmaxQuantize, ternaryQuantize } from './quantize.js';

/** The gpu.js modes setBackend('gpu') can run: those with synchronous kernels and reads. */
export type GpuBackendMode = Exclude<GpuModeRequest, 'webgpu'>;

/** A tensor's data held in device memory. */
export class GpuStorage implements DeviceStorage {
  readonly backend = 'gpu';
  readonly array: GpuArray;

  constructor(array: GpuArray) {
    this.array = array;
  }

  read(): Float32Array {
    return this.array.readSync();
  }
}

// Disposes a GpuArray once its storage is garbage collected. A device closed since then has
// freed everything already; a failure here would surface as an uncaught error in no one's code.
const releaseOnCollect = new FinalizationRegistry<() => void>((release) => {
  try {
    release();
  } catch {
    // the device was destroyed with its memory
  }
});

// The arrays made inside each open tidy() scope, innermost last.
const scopes: Set<GpuArray>[] = [];

let device: GpuDevice | null = null;

function activeDevice(): GpuDevice {
  if (device === null) throw new Error("gpu backend: no device is open; select it with setBackend('gpu') (or loadBackend('gpu') in a browser)");
  return device;
}

/** A result on the device as a Tensor (of the array's shape unless another shape of its size is given). */
function wrap(array: GpuArray, shape: readonly number[] = array.shape): Tensor {
  const storage = new GpuStorage(array);
  releaseOnCollect.register(storage, array.releaser());
  scopes[scopes.length - 1]?.add(array);
  return new Tensor(storage, shape);
}

/** A tidy() scope opens (tidy.ts): the arrays made from now on are its. */
export function openGpuScope(): void {
  scopes.push(new Set());
}

/**
 * The innermost tidy() scope ends: the device arrays of `kept` go to the enclosing scope, every
 * other array made inside is disposed (a tensor holding one throws "was disposed" when read).
 * `kept` null (the tidy's fn threw): its arrays are left to the collector.
 */
export function closeGpuScope(kept: readonly Tensor[] | null): void {
  const scope = scopes.pop();
  if (!scope || kept === null) return;
  const keptArrays = new Set<GpuArray>();
  for (const t of kept) {
    const storage = t.deviceStorage;
    if (storage instanceof GpuStorage) keptArrays.add(storage.array);
  }
  const parent = scopes[scopes.length - 1];
  for (const array of scope) {
    if (keptArrays.has(array)) parent?.add(array);
    else array.dispose();
  }
}

/** Takes the tensor's device array out of every open scope (keep()). */
export function keepGpuArray(t: Tensor): void {
  const storage = t.deviceStorage;
  if (storage instanceof GpuStorage) for (const scope of scopes) scope.delete(storage.array);
}

/**
 * Runs `body` with `use(t)` giving each input tensor's GpuArray: its own when it lives on this
 * device (seen with the tensor's shape: reshape shares storage), else a fresh upload, freed
 * when body returns.
 */
function withInputs<T>(body: (use: (t: Tensor) => GpuArray) => T): T {
  const dev = activeDevice();
  const uploads: GpuArray[] = [];
  const use = (t: Tensor): GpuArray => {
    const storage = t.deviceStorage;
    if (storage instanceof GpuStorage && storage.array.device === dev && !storage.array.isDisposed) {
      const array = storage.array;
      return sameShape(array.shape, t.shape) ? array : array.reshape(t.shape);
    }
    const upload = dev.upload(t.data, t.shape);
    uploads.push(upload);
    return upload;
  };
  try {
    return body(use);
  } finally {
    for (const upload of uploads) upload.dispose();
  }
}

const empty = (shape: readonly number[]): Tensor => new Tensor(new Float32Array(0), shape);
const isEmpty = (...ts: (Tensor | null)[]): boolean => ts.some((t) => t !== null && t.size === 0);
const sizeOf = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// A scalar (shape []) seen as [1] by the last-dim kernels, and the result seen as [] again.
const atLeast1d = (shape: readonly number[]): number[] => (shape.length === 0 ? [1] : [...shape]);

/** The gpu backend, with what setBackend needs to open and describe its device. */
export interface GpuBackend extends Backend {
  /**
   * Opens a gpu.js device in `mode` (default 'auto': WebGL2 > WebGL > headless GL > WebAssembly)
   * unless one in that mode is open already; without a mode, an open device is kept. Synchronous;
   * gpu.js must be loadable (Node) or loaded (loadBackend).
   */
  start(options?: { mode?: string }): void;
  /** Loads gpu.js asynchronously, for environments without a synchronous require (browsers). */
  load(): Promise<void>;
  /** The gpu.js mode that really runs (read off a probe kernel's class), or null before start(). */
  readonly mode: GpuMode | null;
  /** The open device's details (renderer, software or not), or null. */
  readonly info: GpuInfo | null;
  /** The open device (for live-array counts and kernel-level work), or null. */
  readonly device: GpuDevice | null;
  /** Destroys the device and its memory; tensors still on it can no longer be read. */
  close(): Promise<void>;
}

const syncModes: readonly string[] = ['auto', 'webgl2', 'webgl', 'headlessgl', 'webasm'];

export const gpuBackend: GpuBackend = {
  name: 'gpu',

  describe() {
    if (device === null) return 'gpu (gpu.js, no device open)';
    const { mode, renderer, isSoftware } = device.info;
    return `gpu (gpu.js ${mode}${renderer && renderer !== 'WebAssembly' ? ` on ${renderer}` : ''}${isSoftware ? ', software' : ''})`;
  },

  start(options = {}) {
    // no mode given: keep the device that is open, whatever its mode
    if (device !== null && options.mode === undefined) return;
    const requested = options.mode ?? 'auto';
    if (requested === 'webgpu') {
      throw new Error("gpu backend: WebGPU reads are asynchronous and the Tensor API reads synchronously (item(), .data); use WebGL2/WebGL/headless GL/WebAssembly, or WebGPU through the kernel API (await GpuDevice.create('webgpu'))");
    }
    if (!syncModes.includes(requested)) throw new Error(`gpu backend: unknown mode "${requested}" (one of ${syncModes.join(', ')})`);
    if (device !== null && (device.info.requested === requested || device.info.mode === requested)) return;
    const previous = device;
    device = GpuDevice.open(requested as GpuBackendMode);
    // one GL context at a time: browsers cap them, and the old one's tensors go with it
    if (previous) void previous.destroy();
  },

  async load() {
    await loadGpuJs();
  },

  get mode() {
    return device?.info.mode ?? null;
  },

  get info() {
    return device?.info ?? null;
  },

  get device() {
    return device;
  },

  async close() {
    const open = device;
    device = null;
    await open?.destroy();
  },

  unary(op: UnaryOp, x: Tensor): Tensor {
    if (isEmpty(x)) return cpuBackend.unary(op, x);
    return withInputs((use) => wrap(elementwise.unary(op, use(x)), x.shape));
  },

  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
    if (isEmpty(a, b)) return cpuBackend.binary(op, a, b);
    return withInputs((use) => wrap(elementwise.binary(op, use(a), use(b))));
  },

  clamp(x: Tensor, min: number, max: number): Tensor {
    if (isEmpty(x)) return cpuBackend.clamp(x, min, max);
    return withInputs((use) => wrap(elementwise.clamp(use(x), min, max), x.shape));
  },

  where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    if (isEmpty(cond, a, b)) return cpuBackend.where(cond, a, b);
    return withInputs((use) => wrap(elementwise.where(use(cond), use(a), use(b))));
  },

  geluBackward(x: Tensor, grad: Tensor): Tensor {
    if (isEmpty(x)) return cpuBackend.geluBackward(x, grad);
    return withInputs((use) => wrap(geluBackward(use(x), use(grad)), x.shape));
  },

  reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
    if (isEmpty(x)) return cpuBackend.reduce(op, x, dims, keepdim);
    return withInputs((use) => wrap(reduction.reduce(op, use(x), dims, keepdim)));
  },

  argReduce(op: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean): Tensor {
    if (isEmpty(x)) return cpuBackend.argReduce(op, x, dim, keepdim);
    return withInputs((use) => wrap(reduction.argReduce(op, use(x), dim, keepdim)));
  },

  permute(x: Tensor, perm: readonly number[]): Tensor {
    if (isEmpty(x)) return cpuBackend.permute(x, perm);
    return withInputs((use) => wrap(layout.permute(use(x), perm)));
  },

  expand(x: Tensor, shape: readonly number[]): Tensor {
    // expanding keeps a dim of 0 at 0, so an empty input gives an empty result
    if (sizeOf(shape) === 0) return empty(shape);
    return withInputs((use) => wrap(layout.expand(use(x), shape)));
  },

  slice(x: Tensor, dim: number, start: number, length: number): Tensor {
    const shape = x.shape.map((d, i) => (i === dim ? length : d));
    if (sizeOf(shape) === 0) return empty(shape);
    return withInputs((use) => wrap(layout.slice(use(x), dim, start, length)));
  },

  concat(xs: readonly Tensor[], dim: number): Tensor {
    const parts = xs.filter((t) => t.size > 0);
    if (parts.length === 0) return cpuBackend.concat(xs, dim);
    // an empty part adds nothing (and its other dims match, or concat's checks said so)
    if (parts.length === 1) return withInputs((use) => wrap(layout.expand(use(parts[0]!), parts[0]!.shape)));
    return withInputs((use) => wrap(layout.concat(parts.map(use), dim)));
  },

  indexSelect(x: Tensor, dim: number, index: Int32Array): Tensor {
    const shape = x.shape.map((d, i) => (i === dim ? index.length : d));
    if (sizeOf(shape) === 0) return empty(shape);
    return withInputs((use) => wrap(layout.indexSelect(use(x), dim, index)));
  },

  indexAdd(shape: readonly number[], dim: number, index: Int32Array, src: Tensor): Tensor {
    if (sizeOf(shape) === 0) return empty(shape);
    if (isEmpty(src)) return cpuBackend.indexAdd(shape, dim, index, src);
    return withInputs((use) => wrap(layout.indexAdd(shape, dim, index, use(src))));
  },

  gather(x: Tensor, dim: number, index: Int32Array, indexShape: readonly number[]): Tensor {
    if (sizeOf(indexShape) === 0) return empty(indexShape);
    return withInputs((use) => wrap(layout.gather(use(x), dim, index, indexShape)));
  },

  scatterAdd(shape: readonly number[], dim: number, index: Int32Array, src: Tensor): Tensor {
    if (sizeOf(shape) === 0) return empty(shape);
    if (isEmpty(src)) return cpuBackend.scatterAdd(shape, dim, index, src);
    return withInputs((use) => wrap(layout.scatterAdd(shape, dim, index, use(src))));
  },

  matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null = null): Tensor {
    if (bias) return gpuBackend.binary('add', gpuBackend.matmul(a, b, transA, transB), bias); // no fused bias here
    if (isEmpty(a, b)) return cpuBackend.matmul(a, b, transA, transB);
    return withInputs((use) => wrap(matmul(use(a), use(b), { transA, transB })));
  },

  softmax(x: Tensor): Tensor {
    if (isEmpty(x)) return cpuBackend.softmax(x);
    return withInputs((use) => wrap(softmax(use(x).reshape(atLeast1d(x.shape))), x.shape));
  },

  softmaxBackward(y: Tensor, grad: Tensor): Tensor {
    if (isEmpty(y)) return cpuBackend.softmaxBackward(y, grad);
    const shape = atLeast1d(y.shape);
    return withInputs((use) => wrap(softmaxBackward(use(y).reshape(shape), use(grad).reshape(shape)), y.shape));
  },

  logSoftmax(x: Tensor): Tensor {
    if (isEmpty(x)) return cpuBackend.logSoftmax(x);
    return withInputs((use) => wrap(logSoftmax(use(x).reshape(atLeast1d(x.shape))), x.shape));
  },

  logSoftmaxBackward(y: Tensor, grad: Tensor): Tensor {
    if (isEmpty(y)) return cpuBackend.logSoftmaxBackward(y, grad);
    const shape = atLeast1d(y.shape);
    return withInputs((use) => wrap(logSoftmaxBackward(use(y).reshape(shape), use(grad).reshape(shape)), y.shape));
  },

  layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): LayerNormResult {
    if (isEmpty(x)) return cpuBackend.layerNorm(x, weight, bias, eps);
    return withInputs((use) => {
      const out = layerNorm(use(x).reshape(atLeast1d(x.shape)), weight && use(weight), bias && use(bias), eps);
      const statShape = [...x.shape.slice(0, -1), 1];
      return { y: wrap(out.y, x.shape), mean: wrap(out.mean, statShape), rstd: wrap(out.rstd, statShape) };
    });
  },

  layerNormBackward(x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor, grad: Tensor) {
    if (isEmpty(x)) return cpuBackend.layerNormBackward(x, weight, mean, rstd, grad);
    return withInputs((use) => {
      const shape = atLeast1d(x.shape);
      const statShape = [...shape.slice(0, -1), 1];
      const out = layerNormBackward(use(grad).reshape(shape), use(x).reshape(shape), weight && use(weight), use(mean).reshape(statShape), use(rstd).reshape(statShape));
      return {
        dx: wrap(out.dx, x.shape),
        dweight: out.dweight && wrap(out.dweight, weight!.shape),
        dbias: wrap(out.dbias),
      };
    });
  },

  absmaxQuantize(x: Tensor, groupSize: number, qmax: number, eps: number) {
    if (isEmpty(x)) return cpuBackend.absmaxQuantize(x, groupSize, qmax, eps);
    return withInputs((use) => {
      const { q, scale } = absmaxQuantize(use(x), groupSize, qmax, eps);
      return { q: wrap(q, x.shape), scale: wrap(scale) };
    });
  },

  ternaryQuantize(x: Tensor, scale: Tensor, groupSize: number): Tensor {
    if (isEmpty(x)) return cpuBackend.ternaryQuantize(x, scale, groupSize);
    return withInputs((use) => wrap(ternaryQuantize(use(x), use(scale).reshape([scale.size]), groupSize), x.shape));
  },
};
