// The ternary kernels with the tensor heap past 2 GiB (addresses >= 2^31, negative as int32):
// each run is a process of its own (the heap cannot shrink), with a 2 GiB block taken first.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./high-heap-child.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
// the dot kernel needs relaxed SIMD, behind a flag on Node 20
const flags = process.versions.node.split('.')[0] === '20' ? ['--experimental-wasm-relaxed-simd'] : [];

function run(...args: string[]): { sums: Record<string, number>; workerUnits: number } {
  const r = spawnSync(process.execPath, [...flags, '--conditions=source', '--import', 'tsx', child, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`high-heap-child ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { sums: Record<string, number>; workerUnits: number };
}

describe('ternary kernels with the heap past 2 GiB', () => {
  it('give the same floats on the dot, unrolled and table kernels, with the worker taking part', () => {
    const low = run();
    const high = run('high');
    expect(Object.keys(high.sums)).toEqual(['dot (dot)', 'unrolled (unrolled)', 'table (table)']);
    expect(high.workerUnits).toBeGreaterThan(0);
    expect(high.sums).toEqual(low.sums);
    // and the kernels agree with each other
    expect(new Set(Object.values(high.sums)).size).toBe(1);
  });
});
