// The Tensor: float32 storage, a shape, and the links autograd needs (requiresGrad, grad, node).
// Storage is contiguous row-major: reshape shares it, permute/transpose copy it.
import type { GraphNode } from './autograd.js';
import { backward } from './autograd.js';
import { type Shape, sizeOf, shapeStr } from './shape.js';
import { formatTensor } from './print.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as sh from './ops/shape.js';
import * as mm from './ops/matmul.js';
import * as nnops from './ops/nn.js';
import { type StorageOwner, trackStorage } from './storage.js';

/** Data held by a non-CPU backend (a GPU texture, say); read() copies it to the CPU. */
export interface DeviceStorage {
  readonly backend: string;
  read(): Float32Array;
}

export type Scalar = number;
export type TensorLike = Tensor | number;

/** What a tensor holds once tidy() has taken its array back: reading it throws. */
function freedStorage(shape: readonly number[]): DeviceStorage {
  return {
    backend: 'freed',
    read(): Float32Array {
      throw new Error(`Tensor ${shapeStr(shape)}: its data was freed at the end of the tidy() that made it; return it from the tidy, or keep() it`);
    },
  };
}

export class Tensor implements StorageOwner {
  readonly shape: Shape;
  readonly size: number;
  /** Whether gradients flow to (or through) this tensor. Set it on leaves you want `.grad` for. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(); null until then. */
  grad: Tensor | null = null;
  /** The op that made this tensor, for autograd; null for leaves. */
  node: GraphNode | null = null;
  /** A name for printing and error messages (parameters get theirs from their module). */
  name?: string;
  /**
   * Counts changes to the values made in place (optimizer steps, loadStateDict, the init
   * functions, setStorage), as PyTorch's `_version`: what a copy of them, such as a prepacked
   * weight (prepackLinearWeight), checks before use. Code that writes `data` itself calls
   * markChanged().
   */
  version = 0;

  private storage: Float32Array | DeviceStorage;

  constructor(storage: Float32Array | DeviceStorage, shape: Shape) {
    const size = sizeOf(shape);
    if (storage instanceof Float32Array && storage.length !== size) {
      throw new Error(`Tensor: ${storage.length} values do not fill shape ${shapeStr(shape)} (${size})`);
    }
    this.storage = storage;
    if (storage instanceof Float32Array) trackStorage(storage, this);
    // a copy, read-only by its type. Not Object.freeze'd: V8 gives frozen arrays maps that it
    // collects and makes again, and every optimized function that had read a shape through the
    // old map was thrown away and compiled again (90 such deoptimizations in 300 forwards of a
    // ViT, whose recompilation kept helper threads, so a core, busy; the forward got ~5% faster)
    this.shape = [...shape];
    this.size = size;
  }

  /**
   * The values on the CPU. Device data is downloaded once and the tensor lives on the CPU from
   * then on (the device copy may be shared with detached tensors, so it is left to its backend).
   */
  get data(): Float32Array {
    if (!(this.storage instanceof Float32Array)) {
      this.storage = this.storage.read();
      trackStorage(this.storage, this);
    }
    return this.storage;
  }

  /** Device data when the tensor lives on a non-CPU backend, else null. */
  get deviceStorage(): DeviceStorage | null {
    return this.storage instanceof Float32Array ? null : this.storage;
  }

  /** Move the tensor's data to a backend's device (used by backends, not by user code). */
  setStorage(storage: Float32Array | DeviceStorage): void {
    if (storage instanceof Float32Array && storage.length !== this.size) {
      throw new Error(`Tensor.setStorage: ${storage.length} values for shape ${shapeStr(this.shape)}`);
    }
    this.storage = storage;
    if (storage instanceof Float32Array) trackStorage(storage, this);
    this.version++;
  }

  /** tidy() took this tensor's array back (see storage.ts); not for user code. */
  storageFreed(): void {
    this.storage = freedStorage(this.shape);
  }

  /** Records that the values were changed in place (see `version`). */
  markChanged(): void {
    this.version++;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** True for tensors not produced by a recorded op (inputs and parameters). */
  get isLeaf(): boolean {
    return this.node === null;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${shapeStr(this.shape)} has ${this.size} values, not 1`);
    return this.data[0]!;
  }

  /** Nested arrays of numbers, as torch's tolist(). */
  toArray(): number | NestedArray {
    const data = this.data;
    if (this.shape.length === 0) return data[0]!;
    const build = (dim: number, offset: number): NestedArray => {
      const n = this.shape[dim]!;
      const inner = sizeOf(this.shape.slice(dim + 1));
      const out: NestedArray = [];
      for (let i = 0; i < n; i++) {
        out.push(dim === this.shape.length - 1 ? data[offset + i]! : build(dim + 1, offset + i * inner));
      }
      return out;
    };
    return build(0, 0);
  }

  toString(): string {
    return formatTensor(this);
  }

  /** Backpropagate from this tensor; a non-scalar needs a seed gradient of its shape. */
  backward(seed?: Tensor): void {
    backward(this, seed);
  }

  /** A tensor sharing this one's values with no graph behind it (stopGrad). */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape);
  }

  zeroGrad(): void {
    this.grad = null;
  }

  /** Set requiresGrad and return this, for chaining: `randn([3]).requiresGrad_()`. */
  requiresGrad_(value = true): this {
    if (this.node !== null && !value) throw new Error('requiresGrad_: cannot turn off gradients of a non-leaf tensor; use detach()');
    this.requiresGrad = value;
    return this;
  }

  // Elementwise
  add(o: TensorLike): Tensor { return ew.add(this, o); }
  sub(o: TensorLike): Tensor { return ew.sub(this, o); }
  mul(o: TensorLike): Tensor { return ew.mul(this, o); }
  div(o: TensorLike): Tensor { return ew.div(this, o); }
  pow(o: TensorLike): Tensor { return ew.pow(this, o); }
  maximum(o: TensorLike): Tensor { return ew.maximum(this, o); }
  minimum(o: TensorLike): Tensor { return ew.minimum(this, o); }
  neg(): Tensor { return ew.neg(this); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  rsqrt(): Tensor { return ew.rsqrt(this); }
  abs(): Tensor { return ew.abs(this); }
  sign(): Tensor { return ew.sign(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  relu(): Tensor { return ew.relu(this); }
  gelu(): Tensor { return ew.gelu(this); }
  round(): Tensor { return ew.round(this); }
  clamp(min: number | null, max: number | null): Tensor { return ew.clamp(this, min, max); }
  gt(o: TensorLike): Tensor { return ew.gt(this, o); }
  lt(o: TensorLike): Tensor { return ew.lt(this, o); }
  ge(o: TensorLike): Tensor { return ew.ge(this, o); }
  le(o: TensorLike): Tensor { return ew.le(this, o); }
  eq(o: TensorLike): Tensor { return ew.eq(this, o); }

  // Reductions
  sum(dim?: number | number[], keepdim = false): Tensor { return red.sum(this, dim, keepdim); }
  mean(dim?: number | number[], keepdim = false): Tensor { return red.mean(this, dim, keepdim); }
  max(dim?: number | number[], keepdim = false): Tensor { return red.max(this, dim, keepdim); }
  min(dim?: number | number[], keepdim = false): Tensor { return red.min(this, dim, keepdim); }
  var(dim?: number | number[], keepdim = false, correction = 1): Tensor { return red.variance(this, dim, keepdim, correction); }
  argmax(dim?: number, keepdim = false): Tensor { return red.argmax(this, dim, keepdim); }

  // Shape
  reshape(...shape: number[] | [number[]]): Tensor { return sh.reshape(this, flatShape(shape)); }
  view(...shape: number[] | [number[]]): Tensor { return sh.reshape(this, flatShape(shape)); }
  flatten(startDim = 0, endDim = -1): Tensor { return sh.flatten(this, startDim, endDim); }
  transpose(dim0 = -2, dim1 = -1): Tensor { return sh.transpose(this, dim0, dim1); }
  get T(): Tensor { return sh.transpose(this, -2, -1); }
  permute(...dims: number[] | [number[]]): Tensor { return sh.permute(this, flatShape(dims)); }
  expand(...shape: number[] | [number[]]): Tensor { return sh.expand(this, flatShape(shape)); }
  squeeze(dim?: number): Tensor { return sh.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return sh.unsqueeze(this, dim); }
  narrow(dim: number, start: number, length: number): Tensor { return sh.narrow(this, dim, start, length); }
  slice(dim: number, start: number, end?: number): Tensor { return sh.slice(this, dim, start, end); }
  split(sizeOrSizes: number | number[], dim = 0): Tensor[] { return sh.split(this, sizeOrSizes, dim); }
  indexSelect(dim: number, index: Tensor | ArrayLike<number>): Tensor { return sh.indexSelect(this, dim, index); }
  gather(dim: number, index: Tensor): Tensor { return sh.gather(this, dim, index); }

  // Linear algebra and nn
  matmul(o: Tensor): Tensor { return mm.matmul(this, o); }
  softmax(dim = -1): Tensor { return nnops.softmax(this, dim); }
  logSoftmax(dim = -1): Tensor { return nnops.logSoftmax(this, dim); }
}

export type NestedArray = Array<number | NestedArray>;

function flatShape(args: number[] | [number[]]): number[] {
  return Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
}
