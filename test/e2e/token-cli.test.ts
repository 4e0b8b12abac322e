// The `token` command end to end (issue 7): the operator makes a read-only token for a vault; a
// second device joins and pulls with it but cannot push (403, a clear message, nothing changed);
// the token shows in `token list` with its last use; after `token revoke` it is refused at once.
import { writeFile, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { serverWithFolder } from "../helpers/server-fixture.ts";

const fixture = serverWithFolder("penumbra-token-cli-");

const cli = (args: string[], token = fixture.server.token): Promise<CliResult> => runCli(args, { PENUMBRA_SYNC_TOKEN: token });

async function json(args: string[], token = fixture.server.token): Promise<any> {
  const r = await cli([...args, "--json"], token);
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

const head = async () => ((await (await fixture.server.fetch("/v1/vaults/tokv")).json()) as any).head?.snapshot ?? null;

describe("penumbra-sync token", () => {
  it("creates a read-only token that pulls but cannot push, lists it, revokes it", async () => {
    const a = path.join(fixture.tmp, "a");
    const b = path.join(fixture.tmp, "b");
    await json(["init", a, "--remote", fixture.server.url, "--vault", "tokv"]);
    await writeFile(path.join(a, "notes", "n1.json"), JSON.stringify({ title: "one", body: "first note" }));
    await json(["sync", a]);

    const made = await json(["token", "create", a, "--scope", "read", "--label", "tablet"]);
    expect(made.token).toMatch(/^pst_r_[A-Za-z0-9_-]{43}$/);
    expect(made).toMatchObject({ scope: "read", label: "tablet" });
    const human = await cli(["token", "create", a, "--scope", "write"]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout.split("\n")[0]).toMatch(/^pst_w_/);

    // The read token joins and pulls.
    await json(["init", b, "--remote", fixture.server.url, "--vault", "tokv"], made.token);
    await json(["pull", b], made.token);
    expect(JSON.parse(await readFile(path.join(b, "notes", "n1.json"), "utf8")).body).toBe("first note");

    // ...but cannot push: exit 1, one line that says why, and the remote head stays.
    const before = await head();
    await writeFile(path.join(b, "notes", "n2.json"), JSON.stringify({ title: "two", body: "from the tablet" }));
    const refused = await cli(["sync", b], made.token);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/may not do this.*read-only/s);
    expect(await head()).toBe(before);

    // Managing tokens needs the operator token.
    const notOperator = await cli(["token", "list", a], made.token);
    expect(notOperator.code).toBe(1);
    expect(notOperator.stderr).toContain("operator token");

    const listed = await json(["token", "list", a]);
    const mine = listed.tokens.find((t: any) => t.id === made.id);
    expect(mine).toMatchObject({ scope: "read", label: "tablet" });
    expect(mine.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(listed)).not.toContain(made.token);
    expect(listed.tokens).toHaveLength(2);

    expect(await json(["token", "revoke", a, made.id])).toEqual({ id: made.id, revoked: true });
    const after = await cli(["pull", b], made.token);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("refused the token");
    expect((await json(["token", "list", a])).tokens).toHaveLength(1);
  });

  it("rejects bad usage with exit 2", async () => {
    const a = path.join(fixture.tmp, "a"); // usage is checked before the folder or the server is touched
    for (const args of [["token"], ["token", "create", a, "--scope", "admin"], ["token", "revoke", a, "nothex"], ["token", "rotate", a]]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
    }
  });
});
