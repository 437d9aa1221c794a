import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // gpu.js kernels compile on first use and share one device: run files one at a time.
    fileParallelism: false,
  },
});
