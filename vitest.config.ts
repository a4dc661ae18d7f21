import { defineConfig } from 'vitest/config';

// CI (.ci/run) sets FASTREC_VITEST_JSON to also write a JSON report it can count.
const json = process.env.FASTREC_VITEST_JSON;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: json ? ['default', ['json', { outputFile: json }]] : ['default'],
  },
});
