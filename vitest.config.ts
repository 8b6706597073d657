import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Each test file in its own process: helpers spawn redis-server children and hook process exit.
    pool: "forks",
    testTimeout: 20_000,
    // beforeAll hooks start clusters / sentinels.
    hookTimeout: 120_000,
    globalSetup: ["test/global-setup.ts"],
    retry: 0,
  },
});
