import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'packages/*/test/**/*.test.tsx', 'test/**/*.test.ts'],
    setupFiles: ['packages/p2pcomm/src/polyfill.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // multi-process tests start real nodes; run files one at a time on 2 cores
    fileParallelism: false,
    pool: 'forks'
  }
})
