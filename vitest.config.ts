import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { availableParallelism } from "node:os";

// Two projects in one run: plain Node tests (engine, CLI, end to end over HTTP) and tests that run
// inside workerd against the real local R2 and Durable Objects.
export default defineConfig({
  test: {
    // At least two test files at once. Vitest's default is one fewer than the cores, so one on the
    // two-core CI machine, but the end-to-end files spend most of their time waiting for the CLI and
    // workerd processes they start: on two cores two at once took the suite from 527 to 374 s
    // (three at once: 387 s, no better).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        test: {
          name: "node",
          environment: "node",
          include: ["test/**/*.test.ts"],
          // test/browser/longtasks.test.ts measures a 2,000-note clone; `npm run test:long` (PENUMBRA_LONG=1) 10,000 notes.
          exclude: ["test/worker/**", "**/node_modules/**"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            main: "./worker/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              cf: false,
              bindings: {
                SYNC_TOKEN: "test-token",
                CORS_ORIGINS: "https://app.example",
                MAX_BODY_BYTES: "8388608",
                MAX_PACK_BYTES: "4194304",
                // Tests inside workerd cannot read process.env: the fuzz test's long mode comes in as a binding.
                PENUMBRA_LONG: process.env.PENUMBRA_LONG ?? "",
                PENUMBRA_FUZZ_SEED: process.env.PENUMBRA_FUZZ_SEED ?? "",
              },
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/worker/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
