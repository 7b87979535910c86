// GEMM behaviour that needs a fresh Node process: the worker pool must not keep a script alive,
// and the relaxed-SIMD kernel (Node 20 needs --experimental-wasm-relaxed-simd) must be correct.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const gemmModule = new URL('../src/kernels/gemm/index.ts', import.meta.url).href;
const wasmModule = new URL('../src/kernels/gemm/wasm-gemm.ts', import.meta.url).href;
const argsModule = new URL('../src/kernels/gemm/args.ts', import.meta.url).href;
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs `code` (an ES module body) in `node [flags] --import tsx`, from the repository root. */
function runNode(code: string, flags: string[] = []): { status: number | null; stdout: string; stderr: string; ms: number } {
  const started = performance.now();
  const r = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
}

describe('gemm in a fresh process', () => {
  it('exits by itself after using two threads', () => {
    const r = runNode(`
      import { gemm, gemmInfo, setGemmThreads } from '${gemmModule}';
      import { wasmEngine } from '${gemmModule}';
      setGemmThreads(2);
      const M = 512, N = 256, K = 256;
      const A = new Float32Array(M * K).fill(1), B = new Float32Array(K * N).fill(2), C = new Float32Array(M * N);
      for (let i = 0; i < 5; i++) gemm({ transA: false, transB: false, M, N, K, A, B, C });
      console.log(JSON.stringify({ info: gemmInfo(), c: C[12345], workerUnits: wasmEngine().workerUnits }));
    `);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { info: { threads: number }; c: number; workerUnits: number };
    expect(out.info.threads).toBe(2);
    expect(out.c).toBe(512);
    expect(out.workerUnits).toBeGreaterThan(0);
    expect(r.ms).toBeLessThan(30_000);
  });

  it('computes the same products with relaxed-SIMD fused multiply-adds', () => {
    const r = runNode(
      `
      import { gemmReference } from '${gemmModule}';
      import { WasmGemm, hasRelaxedSimd } from '${wasmModule}';
      import { resolveGemmArgs } from '${argsModule}';
      const relaxed = new WasmGemm(true);
      relaxed.setThreads(2);
      relaxed.parallelMinFlops = 0;
      let seed = 1;
      const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
      let worst = 0;
      for (const [M, N, K] of [[1, 1, 1], [7, 13, 5], [65, 33, 17], [130, 200, 513]]) {
        for (const transA of [false, true]) for (const transB of [false, true]) {
          const A = Float32Array.from({ length: M * K }, random), B = Float32Array.from({ length: K * N }, random);
          const want = new Float32Array(M * N), got = new Float32Array(M * N);
          gemmReference({ transA, transB, M, N, K, A, B, C: want });
          relaxed.run(resolveGemmArgs({ transA, transB, M, N, K, A, B, C: got }));
          for (let i = 0; i < M * N; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])) / Math.sqrt(K));
        }
      }
      relaxed.setThreads(1);
      console.log(JSON.stringify({ available: hasRelaxedSimd(), worst }));
    `,
      ['--experimental-wasm-relaxed-simd'],
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { available: boolean; worst: number };
    expect(out.available).toBe(true);
    expect(out.worst).toBeLessThan(1e-5);
  });

  it('turns relaxed SIMD on at run time (Node 20) before the engine is built', () => {
    const r = runNode(`
      import { enableRelaxedSimd, gemm, gemmInfo, gemmReference } from '${gemmModule}';
      import { hasRelaxedSimd } from '${wasmModule}';
      const before = hasRelaxedSimd();
      const on = enableRelaxedSimd();
      const M = 64, N = 48, K = 100;
      const A = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)), B = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i));
      const got = new Float32Array(M * N), want = new Float32Array(M * N);
      gemm({ transA: false, transB: false, M, N, K, A, B, C: got });
      gemmReference({ transA: false, transB: false, M, N, K, A, B, C: want });
      let worst = 0;
      for (let i = 0; i < M * N; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
      console.log(JSON.stringify({ before, on, info: gemmInfo(), worst }));
    `);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { before: boolean; on: boolean; info: { relaxedSimd: boolean }; worst: number };
    const node20 = process.versions.node.split('.')[0] === '20';
    if (node20) expect(out.before).toBe(false); // off by default on Node 20
    expect(out.on).toBe(true);
    expect(out.info.relaxedSimd).toBe(true);
    expect(out.worst).toBeLessThan(1e-5);
  });
});
