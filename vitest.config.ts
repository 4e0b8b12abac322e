import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

// Two projects in one run: plain Node tests (engine, CLI, end to end over HTTP) and tests that run
// inside workerd against the real local R2 and Durable Objects.
export default defineConfig({
  test: {
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
