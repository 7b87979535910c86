import { defineConfig } from 'vitest/config';

// Tests import the packages' TypeScript sources (the "source" export condition),
// so `vitest` needs no build; the CLI tests run the built dist/ (pnpm test builds first).
// The SIMD kernels run a second time with relaxed SIMD on (fused multiply-adds in the
// polynomials): Node 20 needs the flag, later versions have it on (and plain SIMD is then
// what the first run tests only where relaxed SIMD is missing).
const relaxedSimd = process.versions.node.split('.')[0] === '20' ? ['--experimental-wasm-relaxed-simd'] : [];
// kernels that exist only with relaxed SIMD run in that project alone
const relaxedOnly = ['packages/bitnet/test/ternary-dot.test.ts'];

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'all', include: ['packages/*/test/**/*.test.ts'], exclude: relaxedOnly } },
      { extends: true, test: { name: 'relaxed-simd', include: ['packages/tensor/test/cpu-simd.test.ts', 'packages/tensor/test/attention.test.ts', ...relaxedOnly], execArgv: relaxedSimd } },
    ],
  },
});
