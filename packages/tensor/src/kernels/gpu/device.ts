// The gpu.js device: which backend really runs, the kernel cache, and GpuArray,
// the handle for data that stays on the device between kernels.
//
// gpu.js compiles a JavaScript function into a shader (GLSL for WebGL/WebGL2/
// headless GL, WGSL for WebGPU) or into WebAssembly. Every kernel here is
// built with `pipeline: true, immutable: true`: a call returns a device-side
// result (a GL texture, a WebGPU storage buffer; on WebAssembly a plain typed
// array) that the next kernel takes as input, so a chain of ops never leaves
// the device until `read()`. WebGPU kernels return Promises, so a GpuArray
// holds either its value or a Promise of it, and kernels chain on that.
import {
  CPUKernel,
  GPU,
  HeadlessGLKernel,
  WebAssemblyKernel,
  WebGL2Kernel,
  WebGLKernel,
  WebGPUKernel,
} from 'gpu.js';
import type { IGPUKernelSettings, IKernelRunShortcut, KernelVariable } from 'gpu.js';

/** The backend gpu.js actually runs kernels on. 'cpu' means gpu.js fell back to plain JavaScript. */
export type GpuMode = 'webgpu' | 'webgl2' | 'webgl' | 'headlessgl' | 'webasm' | 'cpu';

/** What to ask for: a concrete backend, or 'auto' (WebGPU if an adapter answers, else WebGL2 > WebGL > headless GL > WebAssembly). */
export type GpuModeRequest = 'auto' | Exclude<GpuMode, 'cpu'>;

export interface GpuInfo {
  /** the backend a probe kernel really ran on (read from the kernel object, not from gpu.js's own `mode` string) */
  mode: GpuMode;
  /** what was asked for */
  requested: GpuModeRequest;
  /** the GL renderer or WebGPU adapter as the platform names it, e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...))" */
  renderer: string;
  /** true when the renderer names a software rasterizer (SwiftShader, llvmpipe), and on WebAssembly; headless GL only says "ANGLE", whatever runs below it */
  isSoftware: boolean;
  /** WebGPU kernels return Promises; GL and WebAssembly kernels run synchronously */
  isAsync: boolean;
}

// A result as a gpu.js pipeline kernel returns it: a Texture (GL), a
// WebGPUBufferResult, or on WebAssembly a typed array (nested per row for
// 2D/3D outputs). The gpu.js typings do not declare WebGPUBufferResult, so it
// is described here by what we use of it.
interface DeviceBuffer {
  toArray(): unknown;
  delete(): void;
}
type NestedFloats = Float32Array | NestedFloats[] | number[];
type DeviceValue = DeviceBuffer | NestedFloats;

function isDeviceBuffer(value: DeviceValue): value is DeviceBuffer {
  return !Array.isArray(value) && !(value instanceof Float32Array) && typeof (value as DeviceBuffer).delete === 'function';
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T>)?.then === 'function';
}

/** Settings every kernel shares; `output`, `constants` and `loopMaxIterations` vary per shape. */
export interface KernelSpec {
  /** the kernel function (or its source text); it may only use its arguments, `this.thread`, `this.constants` and the `functions` given */
  source: string | ((...args: never[]) => unknown);
  output: number[];
  constants?: Record<string, number>;
  /** helper functions the kernel calls (defined in the same file as the kernel, see gelu.ts) */
  functions?: ((...args: never[]) => unknown)[];
  /** the longest loop in the kernel: gpu.js GL backends silently stop loops at 1000 iterations unless told */
  loopMaxIterations?: number;
}

/**
 * One gpu.js instance and the kernels compiled on it, one per (kernel, shape).
 * Create with `await GpuDevice.create('auto')`.
 */
export class GpuDevice {
  readonly info: GpuInfo;
  private readonly gpu: GPU;
  private readonly kernels = new Map<string, IKernelRunShortcut>();
  private readonly checked = new Set<string>();

  private constructor(gpu: GPU, info: GpuInfo) {
    this.gpu = gpu;
    this.info = info;
  }

  /**
   * Opens a gpu.js device and proves which backend runs by running a small
   * kernel: `info.mode` is read from the kernel class that produced the
   * answer, so a silent fallback to CPU reports 'cpu'.
   */
  static async create(requested: GpuModeRequest = 'auto'): Promise<GpuDevice> {
    let gpuMode: string = requested;
    if (requested === 'auto') gpuMode = (await GPU.isWebGPUAvailable()) ? 'webgpu' : 'gpu';
    if (gpuMode === 'webgpu' && !(await GPU.isWebGPUAvailable())) {
      throw new Error('GpuDevice.create: WebGPU requested but no adapter is available (navigator.gpu missing or requestAdapter() returned null)');
    }
    // gpu.js's own `mode` is 'gpu' for every GL backend, so it is not what we report
    const gpu = new GPU({ mode: gpuMode as 'gpu' });
    const probe = gpu.createKernel(`function (a) { return a[this.thread.x] * 2 + 1; }`, {
      output: [3],
      precision: 'single',
    });
    let probeResult = probe(new Float32Array([1, 2, 3])) as unknown;
    if (isPromise(probeResult)) probeResult = await probeResult;
    const values = Array.from(probeResult as ArrayLike<number>);
    if (values.join(',') !== '3,5,7') {
      throw new Error(`GpuDevice.create(${requested}): probe kernel returned [${values.join(', ')}], expected [3, 5, 7]`);
    }
    const mode = kernelMode(probe);
    const renderer = await describeRenderer(mode, probe);
    const info: GpuInfo = {
      mode,
      requested,
      renderer,
      isSoftware: mode === 'webasm' || mode === 'cpu' || /swiftshader|llvmpipe|softpipe|lavapipe/i.test(renderer),
      isAsync: mode === 'webgpu',
    };
    probe.destroy();
    return new GpuDevice(gpu, info);
  }

  /** Copies a Float32Array to the device. */
  upload(data: Float32Array, shape: readonly number[]): GpuArray {
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new Error(`upload: ${data.length} values do not fill shape [${shape.join(', ')}] (${size} elements)`);
    }
    const copy = this.kernel(`upload:${size}`, { source: uploadKernel, output: [size] });
    return new GpuArray(this, shape, this.call(`upload:${size}`, copy, [data]));
  }

  /** The compiled kernel for `key` (name and shape), compiling it on first use. */
  kernel(key: string, spec: KernelSpec): IKernelRunShortcut {
    let kernel = this.kernels.get(key);
    if (kernel !== undefined) {
      // most recently used last: the Map's order is the eviction order
      this.kernels.delete(key);
      this.kernels.set(key, kernel);
    } else {
      this.evictIfFull();
      // every output 3-D ([n] becomes [n, 1, 1]): gpu.js's GL textures have a class per output
      // rank, and a compiled kernel refuses a texture of another class than its first one
      // ("did not settle on a kernel ... after 4 attempts")
      const output = [...spec.output];
      while (output.length < 3) output.push(1);
      const settings: IGPUKernelSettings = {
        output,
        constants: spec.constants ?? {},
        precision: 'single',
        // highp everywhere: the default tactic lowers float precision for small textures
        tactic: 'precision',
        pipeline: true,
        // each call gets a fresh texture/buffer, so a cached kernel can run twice in one chain
        immutable: true,
        loopMaxIterations: Math.max(spec.loopMaxIterations ?? 0, 1000),
        // an input's dims depend on the kernel that produced it (an upload's [n, 1, 1], a matmul's
        // [N, M, batch]); as uniforms rather than baked constants, one compiled kernel takes them all
        dynamicArguments: true,
      };
      // functions are appended to the source so gpu.js translates them with the kernel
      if (spec.functions) settings.functions = spec.functions;
      kernel = this.gpu.createKernel(typeof spec.source === 'string' ? spec.source : spec.source.toString(), settings);
      this.kernels.set(key, kernel);
    }
    return kernel;
  }

  // WebAssembly kernels each hold a WebAssembly.Memory with a large virtual
  // reservation; Chromium runs out of address space after about a hundred.
  // Their results are plain arrays that outlive the kernel, so the least
  // recently used kernel can go (and recompile if needed again).
  private evictIfFull(): void {
    if (this.info.mode !== 'webasm' || this.kernels.size < GpuDevice.maxWebAssemblyKernels) return;
    const [oldestKey, oldest] = this.kernels.entries().next().value as [string, IKernelRunShortcut];
    this.kernels.delete(oldestKey);
    this.checked.delete(oldestKey);
    oldest.destroy();
  }

  /** How many compiled kernels a WebAssembly device keeps before evicting the least recently used. */
  static maxWebAssemblyKernels = 48;

  /**
   * Runs a kernel on device inputs (GpuArrays) and plain numbers. Waits for
   * pending inputs (WebGPU), and refuses a kernel that gpu.js moved to its CPU
   * fallback: that would be a silent loss of the GPU, not a result.
   */
  run(key: string, kernel: IKernelRunShortcut, shape: readonly number[], inputs: readonly (GpuArray | number)[]): GpuArray {
    for (const input of inputs) {
      if (input instanceof GpuArray) {
        if (input.device !== this) throw new Error(`${key}: input of shape [${input.shape.join(', ')}] lives on another GpuDevice`);
        if (input.isDisposed) throw new Error(`${key}: input of shape [${input.shape.join(', ')}] was disposed`);
      }
    }
    const values = inputs.map((input) => (input instanceof GpuArray ? input.deviceValue() : input));
    let result: DeviceValue | Promise<DeviceValue>;
    if (values.some(isPromise)) {
      result = Promise.all(values).then((ready) => this.call(key, kernel, ready));
    } else {
      result = this.call(key, kernel, values as (DeviceValue | number)[]);
    }
    if (isPromise(result)) {
      // an input's buffer must outlive every kernel that reads it
      for (const input of inputs) if (input instanceof GpuArray) input.usedBy(result);
    }
    return new GpuArray(this, shape, result);
  }

  private call(key: string, kernel: IKernelRunShortcut, args: readonly (DeviceValue | number | Float32Array)[]): DeviceValue | Promise<DeviceValue> {
    const result = kernel(...(args as KernelVariable[])) as unknown as DeviceValue | Promise<DeviceValue>;
    if (!this.checked.has(key)) {
      const check = () => {
        if (kernel.kernel instanceof CPUKernel && this.info.mode !== 'cpu') {
          const reason = (kernel.kernel as { fallbackReason?: string | null }).fallbackReason ?? 'no reason given';
          throw new Error(`${key}: gpu.js fell back to its CPU kernel on a ${this.info.mode} device (${reason})`);
        }
        this.checked.add(key);
      };
      if (isPromise(result)) return result.then((value) => (check(), value));
      check();
    }
    return result;
  }

  /** Number of compiled kernels (one per op and shape). */
  get kernelCount(): number {
    return this.kernels.size;
  }

  /** Releases every compiled kernel and the gpu.js context. Arrays created on this device become invalid. */
  async destroy(): Promise<void> {
    this.kernels.clear();
    await this.gpu.destroy();
  }
}

/**
 * An array that lives on a GpuDevice. Kernels take and return GpuArrays;
 * only `read()` copies data back. Call `dispose()` when done: GPU memory is
 * not garbage collected.
 */
export class GpuArray {
  readonly device: GpuDevice;
  readonly shape: readonly number[];
  readonly size: number;
  private value: DeviceValue | Promise<DeviceValue>;
  private pendingUses: Promise<unknown>[] = [];
  private disposed = false;

  constructor(device: GpuDevice, shape: readonly number[], value: DeviceValue | Promise<DeviceValue>) {
    this.device = device;
    this.shape = [...shape];
    this.size = sizeOf(shape);
    this.value = value;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The gpu.js value (texture, buffer or typed array), or a Promise of it while a WebGPU kernel is in flight. */
  deviceValue(): DeviceValue | Promise<DeviceValue> {
    return this.value;
  }

  /** Records a kernel call that reads this array, so dispose() waits for it. */
  usedBy(use: Promise<unknown>): void {
    this.pendingUses.push(use.catch(() => undefined));
  }

  /** Copies the data to the CPU (the only place data leaves the device). */
  async read(): Promise<Float32Array> {
    if (this.disposed) throw new Error(`read: array of shape [${this.shape.join(', ')}] was disposed`);
    const value = await this.value;
    const array = isDeviceBuffer(value) ? await value.toArray() : value;
    return flatten(array as NestedFloats, this.size);
  }

  /** Synchronous read, for GL and WebAssembly devices; throws while a WebGPU result is pending. */
  readSync(): Float32Array {
    if (this.disposed) throw new Error(`readSync: array of shape [${this.shape.join(', ')}] was disposed`);
    const value = this.value;
    if (isPromise(value)) throw new Error(`readSync: array of shape [${this.shape.join(', ')}] is still being computed on ${this.device.info.mode}; use await read()`);
    const array = isDeviceBuffer(value) ? value.toArray() : value;
    if (isPromise(array)) throw new Error(`readSync: ${this.device.info.mode} reads back asynchronously; use await read()`);
    return flatten(array as NestedFloats, this.size);
  }

  /** Releases the device memory once every kernel already issued on this array has run. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const release = (value: DeviceValue) => {
      if (isDeviceBuffer(value)) value.delete();
    };
    const value = this.value;
    if (!isPromise(value) && this.pendingUses.length === 0) {
      release(value);
      return;
    }
    void Promise.all([value, ...this.pendingUses]).then(([ready]) => release(ready as DeviceValue), () => undefined);
  }
}

// The identity kernel: copies host data into a device texture/buffer.
function uploadKernel(this: { thread: { x: number } }, a: Float32Array): number {
  return a[this.thread.x]!;
}

/** Product of a shape's dims (1 for a scalar shape []). */
export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`gpu: shape [${shape.join(', ')}] has a dim that is not a positive integer`);
    size *= dim;
  }
  return size;
}

// gpu.js returns 2D/3D outputs as arrays of Float32Array rows; one flat copy out.
function flatten(array: NestedFloats, size: number): Float32Array {
  if (array instanceof Float32Array && array.length === size) return array.slice();
  const out = new Float32Array(size);
  let offset = 0;
  const visit = (part: NestedFloats) => {
    if (part instanceof Float32Array || typeof (part as number[])[0] === 'number') {
      const row = part as ArrayLike<number>;
      for (let i = 0; i < row.length; i++) out[offset++] = row[i]!;
    } else {
      for (const child of part as NestedFloats[]) visit(child);
    }
  };
  visit(array);
  if (offset !== size) throw new Error(`read: device returned ${offset} values for an array of ${size}`);
  return out;
}

interface WebGpuEntry {
  requestAdapter(): Promise<{ info?: { vendor: string; architecture: string; description: string } } | null>;
}

// The kernel class tells the truth about the backend; gpu.js's `gpu.mode` says 'gpu' for all GL backends.
function kernelMode(run: IKernelRunShortcut): GpuMode {
  const kernelClass = run.kernel.constructor;
  if (kernelClass === WebGPUKernel) return 'webgpu';
  if (kernelClass === HeadlessGLKernel) return 'headlessgl';
  if (kernelClass === WebGL2Kernel) return 'webgl2';
  if (kernelClass === WebGLKernel) return 'webgl';
  if (kernelClass === WebAssemblyKernel) return 'webasm';
  if (kernelClass === CPUKernel) return 'cpu';
  throw new Error(`GpuDevice: unknown gpu.js kernel class ${kernelClass.name}`);
}

async function describeRenderer(mode: GpuMode, run: IKernelRunShortcut): Promise<string> {
  if (mode === 'webgl2' || mode === 'webgl' || mode === 'headlessgl') {
    const gl = run.kernel.context as WebGLRenderingContext;
    const debugInfo = gl.getExtension('WEBGL_debug_renderer_info');
    return String(debugInfo ? gl.getParameter(debugInfo.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  }
  if (mode === 'webgpu') {
    // TypeScript's DOM lib does not declare WebGPU yet
    const webgpu = (navigator as Navigator & { gpu: WebGpuEntry }).gpu;
    const adapter = await webgpu.requestAdapter();
    const info = adapter?.info;
    return info ? `WebGPU ${info.vendor} ${info.architecture} ${info.description}`.trim() : 'WebGPU (adapter info unavailable)';
  }
  if (mode === 'webasm') return 'WebAssembly';
  return 'JavaScript (gpu.js CPU fallback)';
}
