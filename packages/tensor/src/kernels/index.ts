// Backend selection, in one place: every op asks kernels() for the active backend.
//   setBackend('gpu')              selects the gpu.js backend (opens its device in 'auto' mode, or keeps the open one)
//   setBackend('gpu', { mode })    ... in one gpu.js mode: 'webgl2', 'webgl', 'headlessgl', 'webasm'
//   await loadBackend('gpu')       the same where gpu.js cannot load synchronously (a browser)
//   BITVIT_BACKEND=gpu[:mode]      in the environment: selected once, when the package loads
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu/index.js';
import { gpuBackend } from './gpu/backend.js';

/** Options setBackend passes to a backend that has to start (the gpu backend: its gpu.js mode). */
export interface BackendOptions {
  /** gpu: 'auto' (default: WebGL2 > WebGL > headless GL > WebAssembly), 'webgl2', 'webgl', 'headlessgl' or 'webasm' */
  mode?: string;
}

/** A backend with a device to open before it runs (the gpu backend registers itself as one). */
interface StartableBackend extends Backend {
  start(options?: BackendOptions): void;
  load?(): Promise<void>;
  readonly mode: string | null;
}

function isStartable(backend: Backend): backend is StartableBackend {
  return typeof (backend as Partial<StartableBackend>).start === 'function';
}

// The built-in backends are looked up when asked for, not captured when this module loads: in the
// import cycle tensor -> ops -> kernels -> backends -> tensor, a program that imports a backend's
// module first has this module evaluated before that backend is defined. Registering the gpu
// backend loads no gpu.js and opens no context: that waits for setBackend('gpu').
const builtIn = (name: string): Backend | undefined => (name === 'cpu' ? cpuBackend : name === 'gpu' ? gpuBackend : undefined);
const registry = new Map<string, Backend>();
let active: Backend | null = null;

/** The backend ops run on now. */
export function kernels(): Backend {
  return active ?? cpuBackend;
}

/** Make a backend available to setBackend. */
export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
}

/** Select the backend for the whole program by name ('cpu', 'gpu', ...); a gpu backend opens its device here. */
export function setBackend(name: string, options: BackendOptions = {}): Backend {
  const b = registry.get(name) ?? builtIn(name);
  if (!b) throw new Error(`setBackend: unknown backend "${name}" (registered: ${['cpu', 'gpu', ...registry.keys()].join(', ')})`);
  if (isStartable(b)) b.start(options);
  active = b;
  return b;
}

/** setBackend after loading what the backend needs asynchronously (gpu.js, in a browser). */
export async function loadBackend(name: string, options: BackendOptions = {}): Promise<Backend> {
  const b = registry.get(name) ?? builtIn(name);
  if (b && isStartable(b)) await b.load?.();
  return setBackend(name, options);
}

export function getBackend(): Backend {
  return kernels();
}

export interface BackendInfo {
  name: string;
  /** the backend's own line, e.g. "gpu (gpu.js webgl2 on ANGLE (...SwiftShader...), software)" */
  description: string;
  /** the gpu.js mode that really runs ('webgl2', 'webasm', ...), null on the CPU */
  mode: string | null;
}

/** Which backend runs, and on the gpu backend which gpu.js mode. */
export function backendInfo(): BackendInfo {
  const b = kernels();
  return { name: b.name, description: b.describe(), mode: isStartable(b) ? b.mode : null };
}

let environmentRead = false;

/**
 * Applies BITVIT_BACKEND ("cpu", "gpu" or "gpu:<mode>") from the environment, once: the package's
 * entry (src/index.ts) calls it when it loads, after every backend is defined. Browsers have none.
 */
export function applyBackendFromEnvironment(): void {
  if (environmentRead) return;
  environmentRead = true;
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.BITVIT_BACKEND;
  if (!value) return;
  const [name, mode] = value.split(':');
  try {
    setBackend(name!, mode ? { mode } : {});
  } catch (error) {
    throw new Error(`BITVIT_BACKEND=${value}: ${(error as Error).message}`);
  }
}
