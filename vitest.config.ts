import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'storage-drivers/**/*.test.ts'],
    testTimeout: 30_000,
    // e2e suites start their own registry, Docker daemon and podman store in beforeAll.
    hookTimeout: 180_000,
    // Every e2e file is isolated (own processes, ports and temp dirs), so files may run side by side.
    fileParallelism: true,
    pool: 'forks',
  },
});
