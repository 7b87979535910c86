import { defineConfig } from 'vitest/config';

// Tests import the packages' TypeScript sources (the "source" export condition),
// so `vitest` needs no build; the CLI tests run the built dist/ (pnpm test builds first).
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
