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
//
// gpu.js itself is loaded only when a device opens (gpujs.ts): importing these kernels costs
// nothing on the CPU backend.
import type { GPU, IGPUKernelSettings, IKernelRunShortcut, KernelVariable } from 'gpu.js';
import { gpuJs, loadGpuJs } from './gpujs.js';
// the typings gpu.js's index.d.ts lacks (types only: nothing is loaded)
import type {} from './gpujs-types.js';

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
   * answer, so a silent fallback to CPU reports 'cpu'. Any mode, WebGPU included.
   */
  static async create(requested: GpuModeRequest = 'auto'): Promise<GpuDevice> {
    const { GPU } = await loadGpuJs();
    let gpuMode: string = requested;
    if (requested === 'auto') gpuMode = (await GPU.isWebGPUAvailable()) ? 'webgpu' : 'gpu';
    if (gpuMode === 'webgpu' && !(await GPU.isWebGPUAvailable())) {
      throw new Error('GpuDevice.create: WebGPU requested but no adapter is available (navigator.gpu missing or requestAdapter() returned null)');
    }
    const { gpu, probe } = openProbe(gpuMode);
    let probeResult = probe(new Float32Array([1, 2, 3])) as unknown;
    if (isPromise(probeResult)) probeResult = await probeResult;
    const mode = checkProbe(requested, gpu, probe, probeResult);
    const renderer = mode === 'webgpu' ? await describeWebGpu() : describeRenderer(mode, probe);
    probe.destroy();
    return new GpuDevice(gpu, makeInfo(mode, requested, renderer));
  }

  /**
   * Opens a device synchronously, for the backends whose kernels and reads are synchronous
   * (WebGL2, WebGL, headless GL, WebAssembly). 'auto' takes the first that works of WebGL2,
   * WebGL, headless GL and WebAssembly (gpu.js's own order), never WebGPU. gpu.js must be
   * loaded already or loadable synchronously (Node): see gpujs.ts.
   */
  static open(requested: Exclude<GpuModeRequest, 'webgpu'> = 'auto'): GpuDevice {
    if ((requested as GpuModeRequest) === 'webgpu') {
      throw new Error('GpuDevice.open: WebGPU kernels and reads are asynchronous; use `await GpuDevice.create(\'webgpu\')`');
    }
    const { gpu, probe } = openProbe(requested === 'auto' ? 'gpu' : requested);
    const mode = checkProbe(requested, gpu, probe, probe(new Float32Array([1, 2, 3])));
    const renderer = describeRenderer(mode, probe);
    probe.destroy();
    return new GpuDevice(gpu, makeInfo(mode, requested, renderer));
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

  /**
   * How many compiled kernels a WebAssembly device keeps before evicting the least recently
   * used: 48 in a browser (Chromium runs out of address space for their memories after about a
   * hundred), 2048 in Node (400 live kernels measured fine there). A training step of a small
   * ViT uses over a hundred distinct kernels, so in a browser webasm recompiles every step.
   */
  static maxWebAssemblyKernels = typeof window === 'undefined' ? 2048 : 48;

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
        if (kernel.kernel instanceof gpuJs().CPUKernel && this.info.mode !== 'cpu') {
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

  private live = 0;
  private peak = 0;

  /** Arrays created on this device and not yet disposed (views not counted): what a leak makes grow. */
  get liveArrays(): number {
    return this.live;
  }

  /** The most arrays alive at once since the last resetPeakLiveArrays(). */
  get peakLiveArrays(): number {
    return this.peak;
  }

  resetPeakLiveArrays(): void {
    this.peak = this.live;
  }

  /** Bookkeeping for liveArrays, called by GpuArray. */
  arrayCreated(): void {
    this.live++;
    if (this.live > this.peak) this.peak = this.live;
  }

  arrayDisposed(): void {
    this.live--;
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
  // shared with release() closures, which must not hold the array itself (see release)
  private readonly state = { disposed: false };
  /** the array whose memory this one views (reshape), or null when it owns its memory */
  private readonly owner: GpuArray | null;

  constructor(device: GpuDevice, shape: readonly number[], value: DeviceValue | Promise<DeviceValue>, owner: GpuArray | null = null) {
    this.device = device;
    this.shape = [...shape];
    this.size = sizeOf(shape);
    this.value = value;
    this.owner = owner;
    if (owner === null) device.arrayCreated();
  }

  get isDisposed(): boolean {
    return this.owner ? this.owner.isDisposed : this.state.disposed;
  }

  /** The same device memory seen with another shape of the same size; disposing the view does nothing. */
  reshape(shape: readonly number[]): GpuArray {
    if (sizeOf(shape) !== this.size) throw new Error(`GpuArray.reshape: [${this.shape.join(', ')}] has ${this.size} values, [${shape.join(', ')}] needs ${sizeOf(shape)}`);
    const owner = this.owner ?? this;
    return new GpuArray(this.device, shape, this.value, owner);
  }

  /** The gpu.js value (texture, buffer or typed array), or a Promise of it while a WebGPU kernel is in flight. */
  deviceValue(): DeviceValue | Promise<DeviceValue> {
    return this.value;
  }

  /** Records a kernel call that reads this array, so dispose() waits for it. */
  usedBy(use: Promise<unknown>): void {
    if (this.owner) this.owner.usedBy(use);
    else this.pendingUses.push(use.catch(() => undefined));
  }

  /** Copies the data to the CPU (the only place data leaves the device). */
  async read(): Promise<Float32Array> {
    if (this.isDisposed) throw new Error(`read: array of shape [${this.shape.join(', ')}] was disposed`);
    const value = await this.value;
    const array = isDeviceBuffer(value) ? await value.toArray() : value;
    return flatten(array as NestedFloats, this.size);
  }

  /** Synchronous read, for GL and WebAssembly devices; throws while a WebGPU result is pending. */
  readSync(): Float32Array {
    if (this.isDisposed) throw new Error(`readSync: array of shape [${this.shape.join(', ')}] was disposed`);
    const value = this.value;
    if (isPromise(value)) throw new Error(`readSync: array of shape [${this.shape.join(', ')}] is still being computed on ${this.device.info.mode}; use await read()`);
    const array = isDeviceBuffer(value) ? value.toArray() : value;
    if (isPromise(array)) throw new Error(`readSync: ${this.device.info.mode} reads back asynchronously; use await read()`);
    return flatten(array as NestedFloats, this.size);
  }

  /** Releases the device memory once every kernel already issued on this array has run (a view: nothing). */
  dispose(): void {
    if (this.owner || this.state.disposed) return;
    this.state.disposed = true;
    this.device.arrayDisposed();
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

  /**
   * A function that disposes this array, for a finalizer to keep. On WebAssembly the data is a
   * plain typed array that the JavaScript collector frees by itself, so the function holds only
   * the bookkeeping, not the array: a finalizer waiting for its turn must not keep the data alive.
   * On GL and WebGPU it holds the array (a small handle; the texture/buffer is what it frees).
   */
  releaser(): () => void {
    if (this.owner) return () => undefined;
    if (this.device.info.mode !== 'webasm') return disposerOf(this);
    return bookkeepingOf(this.state, this.device);
  }
}

// The two releasers, made outside the method: closures created in one function share its scope,
// so an arrow function there mentioning `this` would make the bookkeeping one hold the array too.
function disposerOf(array: GpuArray): () => void {
  return () => array.dispose();
}

function bookkeepingOf(state: { disposed: boolean }, device: GpuDevice): () => void {
  return () => {
    if (state.disposed) return;
    state.disposed = true;
    device.arrayDisposed();
  };
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

// Creates the gpu.js instance and a probe kernel, which the caller runs (WebGPU's answer is a Promise).
function openProbe(gpuMode: string): { gpu: GPU; probe: IKernelRunShortcut } {
  const { GPU } = gpuJs();
  try {
    // gpu.js's own `mode` is 'gpu' for every GL backend, so it is not what we report
    const gpu = new GPU({ mode: gpuMode as 'gpu' });
    const probe = gpu.createKernel(`function (a) { return a[this.thread.x] * 2 + 1; }`, {
      output: [3],
      precision: 'single',
    });
    return { gpu, probe };
  } catch (error) {
    throw new Error(`GpuDevice(${gpuMode}): ${gpuMode} is not available here (gpu.js: ${(error as Error).message})`);
  }
}

// Checks the probe's answer and reads the mode off the kernel that gave it; a mode other than
// the one asked for (gpu.js falls back quietly) is an error, not a device.
function checkProbe(requested: GpuModeRequest, gpu: GPU, probe: IKernelRunShortcut, result: unknown): GpuMode {
  const values = Array.from(result as ArrayLike<number>);
  const mode = kernelMode(probe);
  let problem = '';
  if (values.join(',') !== '3,5,7') problem = `probe kernel returned [${values.join(', ')}], expected [3, 5, 7]`;
  else if (requested !== 'auto' && mode !== requested) problem = `${requested} requested but gpu.js ran the probe kernel on ${mode} (${requested} is not available here)`;
  if (problem) {
    probe.destroy();
    void gpu.destroy();
    throw new Error(`GpuDevice(${requested}): ${problem}`);
  }
  return mode;
}

function makeInfo(mode: GpuMode, requested: GpuModeRequest, renderer: string): GpuInfo {
  return {
    mode,
    requested,
    renderer,
    isSoftware: mode === 'webasm' || mode === 'cpu' || /swiftshader|llvmpipe|softpipe|lavapipe/i.test(renderer),
    isAsync: mode === 'webgpu',
  };
}

// The kernel class tells the truth about the backend; gpu.js's `gpu.mode` says 'gpu' for all GL backends.
function kernelMode(run: IKernelRunShortcut): GpuMode {
  const { CPUKernel, HeadlessGLKernel, WebAssemblyKernel, WebGL2Kernel, WebGLKernel, WebGPUKernel } = gpuJs();
  const kernelClass = run.kernel.constructor;
  if (kernelClass === WebGPUKernel) return 'webgpu';
  if (kernelClass === HeadlessGLKernel) return 'headlessgl';
  if (kernelClass === WebGL2Kernel) return 'webgl2';
  if (kernelClass === WebGLKernel) return 'webgl';
  if (kernelClass === WebAssemblyKernel) return 'webasm';
  if (kernelClass === CPUKernel) return 'cpu';
  throw new Error(`GpuDevice: unknown gpu.js kernel class ${kernelClass.name}`);
}

function describeRenderer(mode: GpuMode, run: IKernelRunShortcut): string {
  if (mode === 'webgl2' || mode === 'webgl' || mode === 'headlessgl') {
    const gl = run.kernel.context as WebGLRenderingContext;
    const debugInfo = gl.getExtension('WEBGL_debug_renderer_info');
    return String(debugInfo ? gl.getParameter(debugInfo.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  }
  if (mode === 'webasm') return 'WebAssembly';
  return 'JavaScript (gpu.js CPU fallback)';
}

async function describeWebGpu(): Promise<string> {
  // TypeScript's DOM lib does not declare WebGPU yet
  const webgpu = (navigator as unknown as { gpu: WebGpuEntry }).gpu;
  const adapter = await webgpu.requestAdapter();
  const info = adapter?.info;
  return info ? `WebGPU ${info.vendor} ${info.architecture} ${info.description}`.trim() : 'WebGPU (adapter info unavailable)';
}
