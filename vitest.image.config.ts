import { defineConfig } from 'vitest/config';

// `npm run test:image`: the smoke test of the image built by images/build-debian.sh (root only).
export default defineConfig({
  test: {
    include: ['test/image/**/*.image.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    setupFiles: ['test/setup-file.ts'],
  },
});
