// Loading gpu.js only when a GPU device is opened: the package costs about 350 ms to import in
// Node, and a program on the CPU backend should not pay that. Three ways in:
//   - `await loadGpuJs()`: a dynamic import; works everywhere (bundlers inline or split it);
//   - `gpuJs()` in Node: a synchronous require through process.getBuiltinModule (Node >= 20.16),
//     which is what lets `setBackend('gpu')` stay synchronous;
//   - `provideGpuJs(module)`: a page or bundle that already imported gpu.js hands it over.
import type * as GpuJsNamespace from 'gpu.js';

/** The gpu.js module object (its CommonJS exports: GPU, WebGL2Kernel, ...). */
export type GpuJsModule = typeof GpuJsNamespace;

let loaded: GpuJsModule | null = null;

/** Hands an already imported gpu.js to the kernels (a browser bundle that imports it itself). */
export function provideGpuJs(module: GpuJsModule): void {
  if (typeof module?.GPU !== 'function') throw new Error('provideGpuJs: the object given has no GPU class; pass gpu.js\'s module (import * as gpujs from "gpu.js")');
  loaded = module;
}

/** Imports gpu.js (once) and returns it. */
export async function loadGpuJs(): Promise<GpuJsModule> {
  if (loaded) return loaded;
  const module = (await import('gpu.js')) as GpuJsModule & { default?: GpuJsModule };
  // a CommonJS module seen through import(): Node lists its named exports, some bundlers only `default`
  provideGpuJs(typeof module.GPU === 'function' ? module : module.default!);
  return loaded!;
}

/** True once gpu.js is loaded, or when it can be loaded synchronously here (Node). */
export function gpuJsAvailableSync(): boolean {
  return loaded !== null || nodeRequire() !== null;
}

/** gpu.js, loading it synchronously in Node if nothing loaded it yet; throws where that is impossible. */
export function gpuJs(): GpuJsModule {
  if (loaded) return loaded;
  const require = nodeRequire();
  if (require === null) {
    throw new Error('gpu.js is not loaded, and this environment cannot load it synchronously (no Node require): call `await loadBackend(\'gpu\')` (or `await loadGpuJs()`) first');
  }
  loaded = require('gpu.js') as GpuJsModule;
  return loaded;
}

type Require = (id: string) => unknown;

// Node's require, found without a static `import 'node:module'` (which would break browser bundles).
function nodeRequire(): Require | null {
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const getBuiltinModule = process?.getBuiltinModule;
  if (typeof getBuiltinModule !== 'function') return null;
  const nodeModule = getBuiltinModule('node:module') as { createRequire(from: string): Require } | undefined;
  if (!nodeModule) return null;
  return nodeModule.createRequire(import.meta.url);
}
