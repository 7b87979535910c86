// The thread team (kernels/wasm/team.ts): jobs of any registered module, units on the caller and
// the workers, a unit that traps in a worker reported, modules registered after the workers started.
import { describe, expect, it } from 'vitest';
import { ThreadTeam } from '../src/kernels/wasm/team.js';
import { buildGemmModule, UNIT } from '../src/kernels/gemm/wasm-kernel.js';
import { ModuleBuilder } from '../src/kernels/wasm/builder.js';

/** A module with store(at, value, thread): i32 at `at` = value * 1000 + thread (its thread's own argument). */
function storeModule(): WebAssembly.Module {
  const m = new ModuleBuilder().importMemory(16, 64, true);
  const f = m.addFunction('store', ['i32', 'i32', 'i32']);
  f.get(0).get(1).i32(1000).op('i32.mul').get(2).op('i32.add').i32Store();
  return new WebAssembly.Module(m.build());
}

describe('ThreadTeam', () => {
  it('runs every unit once, on the caller and the workers, with their f64 arguments and thread arguments', () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 64, shared: true });
    const team = ThreadTeam.create(memory)!;
    team.grow(2, 5000);
    const module = storeModule();
    const store = new WebAssembly.Instance(module, { env: { memory } }).exports['store'] as (at: number, v: number, t: number) => void;
    const mod = team.register(module, ['store']);
    const f64 = new Float64Array(memory.buffer);
    const i32 = new Int32Array(memory.buffer);
    const count = 2000, table = 65536, out = 4096;
    for (let u = 0; u < count; u++) f64.set([out + 4 * u, u], table / 8 + 2 * u);
    const before = team.workerUnits;
    // the caller's units slowed down, so the workers surely take some
    const here = (u: number): void => {
      const until = performance.now() + 0.01;
      while (performance.now() < until);
      store(out + 4 * u, u, 0);
    };
    for (let attempt = 0; attempt < 20 && team.workerUnits === before; attempt++) {
      i32.fill(-1, out / 4, out / 4 + count);
      team.run({ module: mod, fn: 'store', count, table, nargs: 2, threadArg: { base: 0, step: 1 }, threads: 3 }, here);
      for (let u = 0; u < count; u++) {
        expect(Math.floor(i32[out / 4 + u]! / 1000)).toBe(u);
        expect(i32[out / 4 + u]! % 1000).toBeLessThanOrEqual(2); // thread 0 (here), 1 or 2
      }
    }
    expect(team.workerUnits).toBeGreaterThan(before);
  });

  it('leaves a job with threads 1 to the caller', () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 64, shared: true });
    const team = ThreadTeam.create(memory)!;
    team.grow(1, 5000);
    const module = storeModule();
    const mod = team.register(module, ['store']);
    const store = new WebAssembly.Instance(module, { env: { memory } }).exports['store'] as (at: number, v: number, t: number) => void;
    const before = team.workerUnits;
    team.run({ module: mod, fn: 'store', count: 500, table: 65536, nargs: 0, stride: 4, threadArg: { base: 7, step: 1 }, threads: 1 }, (u) =>
      store(65536 + 4 * u, 0, 7));
    expect(team.workerUnits).toBe(before);
    expect(() => team.run({ module: mod, fn: 'nope', count: 1, table: 0, nargs: 0, threads: 2 }, () => {})).toThrow(/no export nope/);
    expect(() => (team.spinMicros = -1)).toThrow(/spinMicros must be from 0 to 1e6, got -1/);
  });

  it('hands a module registered while the workers busy-wait to them at once, and runs it there', () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 64, shared: true });
    const team = ThreadTeam.create(memory)!;
    team.grow(1, 5000);
    team.spinMicros = 1_000_000; // the worker busy-waits 1 s after each job
    const first = team.register(storeModule(), ['store']);
    team.run({ module: first, fn: 'store', count: 4, table: 65536, nargs: 0, stride: 4, threads: 2 }, () => {});
    // the worker is spinning now: register must reach it well before the spin ends
    const module = storeModule();
    const start = performance.now();
    const second = team.register(module, ['store'], 5000);
    expect(performance.now() - start).toBeLessThan(150);
    const store = new WebAssembly.Instance(module, { env: { memory } }).exports['store'] as (at: number, v: number, t: number) => void;
    const i32 = new Int32Array(memory.buffer);
    const before = team.workerUnits;
    for (let attempt = 0; attempt < 20 && team.workerUnits === before; attempt++) {
      team.run({ module: second, fn: 'store', count: 64, table: 65536, nargs: 0, stride: 4, threadArg: { base: 0, step: 1 }, threads: 2 }, (u) => {
        const until = performance.now() + 0.05;
        while (performance.now() < until);
        store(65536 + 4 * u, 0, 0);
      });
    }
    expect(team.workerUnits).toBeGreaterThan(before);
    expect(i32[65536 / 4]).toBeGreaterThanOrEqual(0);
    team.spinMicros = 1000;
  });

  it('reports a record that traps in a worker, and keeps working', () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 64, shared: true });
    const bytes = buildGemmModule({ mr: 4, nr: 8, kc: 256, relaxed: false, initialPages: 16, maximumPages: 64, shared: true });
    const module = new WebAssembly.Module(bytes);
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    const gemmUnit = exports['gemmUnit'] as (record: number, scratch: number) => void;
    const team = ThreadTeam.create(memory)!;
    team.grow(1, 5000);
    // registered after the worker started: it gets the module through its port
    const mod = team.register(module, ['gemmUnit']);
    // 40 units whose A lies far past the end of the memory: every one traps
    const i32 = new Int32Array(memory.buffer);
    const table = 1024;
    for (let u = 0; u < 40; u++) {
      const r = (table + u * UNIT.bytes) / 4;
      i32.fill(1, r, r + UNIT.bytes / 4);
      i32[r + UNIT.a / 4] = 0x7ff00000;
    }
    const job = { module: mod, fn: 'gemmUnit', count: 40, table, nargs: 0, stride: UNIT.bytes, threadArg: { base: 1 << 16, step: 1 << 16 }, threads: 2 };
    // this thread skips its units slowly, so the worker takes (and traps on) some
    const slowSkip = (): void => {
      const until = performance.now() + 2;
      while (performance.now() < until);
    };
    expect(() => team.run(job, slowSkip)).toThrow(/a unit of gemmUnit threw in worker 0/);
    // a trap on this thread surfaces as itself, after the worker has finished (unless the worker
    // claimed every unit first, which a busy machine allows: then its report; try again)
    let surfaced = false;
    for (let attempt = 0; attempt < 20 && !surfaced; attempt++) {
      try {
        team.run(job, (u) => gemmUnit(table + u * UNIT.bytes, 1 << 16));
        expect.fail('a job whose every record traps returned');
      } catch (e) {
        expect((e as Error).message).toMatch(/out of bounds|a unit of gemmUnit threw in worker 0/);
        surfaced = /out of bounds/.test((e as Error).message);
      }
    }
    expect(surfaced).toBe(true);
    // and the team still runs good jobs: 1 x 8 tiles of C = 1 x 1 of A times 1 x 8 of B
    const f32 = new Float32Array(memory.buffer);
    const [a, b, c] = [4096 * 2, 8192 * 2, 16384 * 2];
    f32[a / 4] = 3;
    f32.fill(2, b / 4, b / 4 + 8);
    for (let u = 0; u < 40; u++) {
      const fields = { a, aLd: 4, aKContiguous: 1, b, c: c + u * 128, ldc: 32, mPanels: 1, nPanels: 1, k: 1, loadC: 0, bias: 0 };
      for (const [name, value] of Object.entries(fields)) i32[(table + u * UNIT.bytes + UNIT[name as keyof typeof fields]) / 4] = value;
    }
    team.run(job, (u) => gemmUnit(table + u * UNIT.bytes, 1 << 16));
    for (let u = 0; u < 40; u++) expect(f32[(c + u * 128) / 4 + 7]).toBe(6);
  });
});
