// Child process: one `penumbra-sync sync <dir>` as the CLI does it (openFolder + syncFolder), with
// the remote's fetch instrumented (requests, R2 operations) and phase timers around the engine's
// steps. Prints one BENCH-RESULT line (bench/child.ts).
//
//   node --import tsx bench/engine-client.ts '{"dir": "...", "token": "...", "mode": "sync"}'
import { gzipSync, constants } from "node:zlib";
import { openFolder } from "../cli/context.ts";
import { syncFolder, type Mode } from "../cli/folder-sync.ts";
import { HttpRemote } from "../engine/remote/http-remote.ts";
import { nodeFetch } from "../engine/node/send-parts.ts"; // as the CLI sends (cli/context.ts)
import { GZIP_LEVEL, type Compressor } from "../engine/core/compress.ts";
import { measureSelf } from "./child.ts";
import { preferSmallHeap } from "../cli/heap-mode.ts";
import { countingFetch, type OpsCounter } from "./r2-ops.ts";

export interface EngineClientArgs {
  dir: string;
  token: string;
  mode: Mode;
  /** Profile run: gzip on the main thread (so a CPU profile sees it) and timed. */
  syncGzip?: boolean;
  /** Send `Connection: close` on every request (a fresh connection each) instead of reusing kept-alive ones. */
  closeConnections?: boolean;
}

export interface EnginePhases {
  /** openFolder: local pack index, working tree, stat cache. */
  openMs: number;
  /** scanFolder: stat every file, read + parse + canonicalise + SHA-256 the changed ones. */
  scanMs: number;
  /** vault.commit(): Merkle tree, packing, gzip, local pack files. */
  commitMs: number;
  /** Remote calls (push: upload + Worker; pull: download + inflate + verify + store locally). */
  remoteMs: number;
  /** The rest: refs, stat cache, applying pulled changes to the folder, closing. */
  otherMs: number;
  /** Profile runs: time inside gzip (main thread). */
  gzipMs?: number;
  gzipRawBytes?: number;
}

preferSmallHeap(); // as the command line does (cli/main.ts): PENUMBRA_SYNC_V8_FLAGS, if set
const args = JSON.parse(process.argv[2] ?? "{}") as EngineClientArgs;

await measureSelf(async (m) => {
  const t0 = performance.now();
  const ctx = await openFolder(args.dir, args.token);
  const tOpen = performance.now();
  const counter: OpsCounter = { requests: 0, a: 0, b: 0 };
  ctx.remote = new HttpRemote({ url: ctx.config.remote, vault: ctx.config.vault, token: args.token, fetch: countingFetch(counter, nodeFetch(), args.closeConnections), fetchTakesParts: !args.closeConnections });

  const phases: EnginePhases = { openMs: tOpen - t0, scanMs: 0, commitMs: 0, remoteMs: 0, otherMs: 0 };
  let scanEnd = 0;
  let localDone = 0;
  const commit = ctx.vault.commit.bind(ctx.vault);
  ctx.vault.commit = async (message?: string) => {
    const t = performance.now();
    if (!scanEnd) {
      scanEnd = t;
      phases.scanMs = t - tOpen;
    }
    try {
      return await commit(message);
    } finally {
      phases.commitMs += performance.now() - t;
      localDone ||= performance.now();
    }
  };
  // Remote time is the union of the intervals with a call in flight (pushes go two at a time),
  // after the scan and the first commit: uploads during the scan (early-upload.ts) overlap them
  // and are not counted twice (the phases add up to the total).
  let inFlight = 0;
  let busySince = 0;
  const remote = ctx.remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const name of ["push", "pull", "info", "missing", "getObject", "log"]) {
    const f = remote[name].bind(ctx.remote);
    remote[name] = async (...a: unknown[]) => {
      if (inFlight++ === 0) busySince = performance.now();
      try {
        return await f(...a);
      } finally {
        const now = performance.now();
        if (--inFlight === 0 && localDone) phases.remoteMs += now - Math.max(busySince, localDone);
      }
    };
  }
  if (args.syncGzip) {
    phases.gzipMs = 0;
    phases.gzipRawBytes = 0;
    const inner = ctx.vault.compressor;
    const timed: Compressor = {
      async gzip(data, hint) {
        const t = performance.now();
        const strategy = hint?.entropyOnly ? constants.Z_HUFFMAN_ONLY : constants.Z_DEFAULT_STRATEGY;
        const out = new Uint8Array(gzipSync(data, { level: GZIP_LEVEL, memLevel: 9, strategy }));
        phases.gzipMs! += performance.now() - t;
        phases.gzipRawBytes! += data.length;
        return out;
      },
      gunzip: (d, n) => inner.gunzip(d, n),
    };
    (ctx.vault as unknown as { compressor: Compressor }).compressor = timed;
  }

  let result;
  try {
    result = await syncFolder(ctx, args.mode);
  } finally {
    await ctx.store.close();
  }
  const total = performance.now() - t0;
  if (!scanEnd) phases.scanMs = 0;
  phases.otherMs = total - phases.openMs - phases.scanMs - phases.commitMs - phases.remoteMs;
  const r = result.report;
  Object.assign(m, {
    requests: counter.requests,
    r2A: counter.a,
    r2B: counter.b,
    phases,
    hashedFiles: result.hashed,
    hashedBytes: result.hashedBytes,
    engineBytesUp: r.uploaded.bytes,
    engineBytesDown: r.downloaded.bytes,
    uploadedPacks: r.uploaded.packs,
    downloadedPacks: r.downloaded.packs,
    downloadedObjects: r.downloaded.objects,
    pushed: r.pushed,
    received: r.changes,
    snapshot: r.snapshot,
    skipped: result.skipped.length,
    ignored: result.ignored.length,
  });
});
