import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The inference worker runs from dist/: build it first when it is missing or stale.
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-temp-dirs.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
