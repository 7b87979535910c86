// Heap addresses past 2 GiB: the heap may grow to 4 GiB, and a byte address >= 2^31 is negative
// as an int32 (a signed shift, an Int32Array slot). Each run is a process of its own (the heap
// cannot shrink), with a 2 GiB block taken first so every later block lies above it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./high-heap-child.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

function run(...args: string[]): { sum: number; sums: number[]; highest: number; workerUnits: number } {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', child, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`high-heap-child ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { sum: number; sums: number[]; highest: number; workerUnits: number };
}

describe('the heap past 2 GiB', () => {
  it('gives the kernels (scratch copies, outputs, thread team tables, GEMM, attention, backward) the same results', () => {
    const low = run();
    const high = run('high');
    expect(low.highest).toBeLessThan(2 ** 31);
    expect(high.highest).toBeGreaterThanOrEqual(2 ** 31);
    expect(high.workerUnits).toBeGreaterThan(0);
    expect(high.sums).toEqual(low.sums);
    expect(high.sum).toBe(low.sum);
  });
});
