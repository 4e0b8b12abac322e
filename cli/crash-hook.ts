// A test hook, off unless PENUMBRA_CRASH_AT is set (test/e2e/crash.test.ts): names the points of a
// sync where a crash matters, so a test can `kill -9` the CLI exactly there or a random moment after.
//
//   PENUMBRA_CRASH_AT=trace    print `crash-point <name>` on stderr at every point and carry on
//   PENUMBRA_CRASH_AT=<name>   print it at that point and stop there until killed
//
// Points: scanned (folder read), committed (local snapshot written, checkout recorded), pushed (the
// server answered an upload; refs not yet moved), pack-stored (a pulled pack is in the local
// store), synced (the engine is done; the folder is not yet written), staged (a first checkout wrote
// its files into the staging folder and is about to move them in: checkout-stage.ts), done (folder
// written), and the
// local state files: checkout-read (the checkout index was read: with trace, a test sees that a
// command read the folder's state at all), checkout-write (the checkout index is about to be
// replaced) and index-write (the store closes, rewriting its object index file when new packs are many).
import { writeSync } from "node:fs";
import type { HttpRemote } from "../engine/remote/http-remote.ts";

const ENV = "PENUMBRA_CRASH_AT";

export function crashHookOn(): boolean {
  return !!process.env[ENV];
}

export function crashPoint(name: string): void {
  const at = process.env[ENV];
  if (!at || (at !== "trace" && at !== name)) return;
  writeSync(2, `crash-point ${name}\n`);
  // Block the one thread for good (synchronously, so no callback runs past the point).
  if (at === name) for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** Marks `pushed` after each upload request and `pack-stored` after each pulled pack is stored. */
export function instrumentRemote(remote: HttpRemote): void {
  if (!crashHookOn()) return;
  const push = remote.push.bind(remote);
  remote.push = async (packs, commit) => {
    const r = await push(packs, commit);
    crashPoint("pushed");
    return r;
  };
  const pull = remote.pull.bind(remote);
  remote.pull = (since, want, onPack) =>
    pull(since, want, async (pack) => {
      await onPack(pack);
      crashPoint("pack-stored");
    });
}
