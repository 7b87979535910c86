// Backend selection, in one place: every op asks kernels() for the active backend.
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu/index.js';

const registry = new Map<string, Backend>([['cpu', cpuBackend]]);
let active: Backend = cpuBackend;

/** The backend ops run on now. */
export function kernels(): Backend {
  return active;
}

/** Make a backend available to setBackend (the gpu.js backend registers itself this way). */
export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
}

/** Select the backend for the whole program by name ('cpu', 'gpu', ...). */
export function setBackend(name: string): Backend {
  const b = registry.get(name);
  if (!b) throw new Error(`setBackend: unknown backend "${name}" (registered: ${[...registry.keys()].join(', ')})`);
  active = b;
  return b;
}

export function getBackend(): Backend {
  return active;
}
