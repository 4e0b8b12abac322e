// A sync that fails after it moved the vault's head (it merged a remote edit, then its push was
// refused) leaves the folder behind the head. A process that keeps the folder open and syncs again,
// as `watch` does, must first bring the folder to the head, as opening it would: the next sync
// then converges instead of failing on the checkout index for good.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { closeFolder, openFolder } from "../../cli/context.ts";
import { syncFolder } from "../../cli/folder-sync.ts";
import { RemoteError } from "../../engine/remote/remote.ts";
import { runCli } from "../helpers/cli.ts";
import { serverWithFolder } from "../helpers/server-fixture.ts";

const f = serverWithFolder("penumbra-resume-");

describe("a sync that failed after merging", () => {
  it("is followed by a sync in the same process that applies the merge to the folder and sends the edit", async () => {
    const cli = (args: string[]) => runCli(args, { PENUMBRA_SYNC_TOKEN: f.server.token });
    const a = path.join(f.tmp, "a");
    const b = path.join(f.tmp, "b");
    const note = (dir: string, id: string) => path.join(dir, "notes", `${id}.json`);
    expect((await cli(["init", a, "--remote", f.server.url, "--vault", "resume"])).code).toBe(0);
    await writeFile(note(a, "x"), JSON.stringify({ title: "x" }));
    expect((await cli(["sync", a])).code).toBe(0);
    expect((await cli(["init", b, "--remote", f.server.url, "--vault", "resume"])).code).toBe(0);
    expect((await cli(["sync", b])).code).toBe(0);
    await writeFile(note(a, "y"), JSON.stringify({ title: "y from a" }));
    expect((await cli(["sync", a])).code).toBe(0);

    await writeFile(note(b, "z"), JSON.stringify({ title: "z from b" }));
    const ctx = await openFolder(b, f.server.token);
    try {
      // The first push meets a's head (409 head_moved) and the engine merges; the merge's push fails.
      const push = ctx.remote.push.bind(ctx.remote);
      let pushes = 0;
      ctx.remote.push = async (...args) => {
        if (++pushes === 2) throw new RemoteError(403, "forbidden", "refused once by the test");
        return push(...args);
      };
      await expect(syncFolder(ctx, "sync")).rejects.toThrow(/refused once/);
      // The precondition: the head moved to the merge, the folder did not follow.
      expect(pushes).toBe(2);
      expect(ctx.checkout.root).not.toBe(ctx.vault.headRoot);
      const r = await syncFolder(ctx, "sync");
      expect(r.skipped).toEqual([]);
      expect(JSON.parse(await readFile(note(b, "y"), "utf8"))).toEqual({ title: "y from a" });
      expect(ctx.checkout.root).toBe(ctx.vault.headRoot);
    } finally {
      await closeFolder(ctx);
    }
    expect((await cli(["sync", a])).code).toBe(0);
    expect(JSON.parse(await readFile(note(a, "z"), "utf8"))).toEqual({ title: "z from b" });
  });
});
