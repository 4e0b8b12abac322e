// Packs flushed during a big scan go up before the commit (engine/sync/early-upload.ts): the push
// then sends only the rest, its commit still lists every pack, and another device gets every note,
// for plain and encrypted vaults (whose commits must list the packs for a pull to deliver them).
// A failed early upload costs nothing but the overlap: the push sends what is left.
import { describe, it, expect } from "vitest";
import { serverForFile } from "../helpers/server-fixture.ts";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { installNodeCrypto } from "../../engine/crypto/node.ts";
import { createEncryption, unlockEncryption } from "../../engine/crypto/envelope.ts";
import type { VaultKeys } from "../../engine/crypto/keys.ts";
import { EarlyUpload } from "../../engine/sync/early-upload.ts";

installNodeFastPaths();
installNodeCrypto();
const FAST = { kdf: { name: "scrypt" as const, N: 1024, r: 8, p: 1 }, allowWeakKdf: true };
const fixture = serverForFile();

async function device(vault: string, name: string, encrypted: boolean) {
  const { server } = fixture;
  const remote = new HttpRemote({ url: server.url, vault, token: server.token });
  let info = await remote.info();
  let keys: VaultKeys | undefined;
  if (!info && encrypted) {
    const made = await createEncryption("a passphrase", FAST);
    info = await remote.create({ format: 1, addressing: "hmac-sha256", encryption: made.encryption });
    keys = made.keys;
  } else if (!info) info = await remote.create({ format: 1, addressing: "sha256", encryption: null });
  else if (encrypted) keys = await unlockEncryption(info.config.encryption, "a passphrase");
  return { v: await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor, keys }), remote };
}

const note = (i: number) => ({ title: `note ${i}`, body: `the body of note ${i}, `.repeat(30) });

describe.each([
  ["plain", false],
  ["encrypted", true],
])("early upload, %s vault", (name, encrypted) => {
  it("sends flushed packs while staging goes on; the push sends the rest and the other device gets everything", async () => {
    const a = await device(`early-${name}`, "dev-a", encrypted);
    const b = await device(`early-${name}`, "dev-b", encrypted);
    const early = new EarlyUpload(a.v, a.remote);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) await a.v.putNote(`r${round}-${i}`, note(round * 100 + i));
      await a.v.flushStaged();
      early.poke();
      early.poke(); // an upload is running: this one waits for it to pick up new packs
    }
    await early.settle();
    expect(early.error).toBeNull();
    const flushed = [...a.v.refs.unpushed];
    expect(flushed.length).toBe(3);
    // The first flush's pack at least went up early; the last may have been left to the push
    // (settle starts no new upload), never anything that is not a flushed pack.
    expect(early.sent.has(flushed[0])).toBe(true);
    for (const id of early.sent) expect(flushed).toContain(id);
    expect(early.requests).toBeGreaterThanOrEqual(1);

    await a.v.putNote("late", note(999)); // staged after the uploads: goes with the commit
    const r = await sync(a.v, a.remote, { sentPacks: early.sent });
    // The commit's pack (tree nodes, snapshot, the late note) and the flushed packs not sent early.
    expect(r.uploaded.packs).toBe(1 + flushed.length - early.sent.size);
    expect(a.v.refs.unpushed).toEqual([]);

    const rb = await sync(b.v, b.remote);
    expect(rb.changes.added).toBe(121);
    expect(await b.v.getNote("r0-0")).toEqual(note(0));
    expect(await b.v.getNote("r2-39")).toEqual(note(239));
    expect(await b.v.getNote("late")).toEqual(note(999));
  });
});

it("a failed early upload leaves every pack to the push", async () => {
  const a = await device("early-fail", "dev-a", false);
  const refused = new HttpRemote({ url: fixture.server.url, vault: "early-fail", token: "not-the-token" });
  const early = new EarlyUpload(a.v, refused);
  for (let i = 0; i < 30; i++) await a.v.putNote(`n${i}`, note(i));
  await a.v.flushStaged();
  early.poke();
  await early.settle();
  expect(early.error).toBeTruthy();
  expect(early.sent.size).toBe(0);
  const r = await sync(a.v, a.remote, { sentPacks: early.sent });
  expect(r.uploaded.packs).toBe(2); // the flushed pack + the commit's
  const b = await device("early-fail", "dev-b", false);
  expect((await sync(b.v, b.remote)).changes.added).toBe(30);
});

it("leaves packs that were unpushed before the scan (an earlier push that failed) to the push", async () => {
  const a = await device("early-older", "dev-a", false);
  await a.v.putNote("old", note(1));
  await a.v.flushStaged();
  const early = new EarlyUpload(a.v, a.remote);
  early.poke(); // only the older pack is unpushed: nothing to send
  expect(early.requests).toBe(0);
  await a.v.putNote("new", note(2));
  await a.v.flushStaged();
  early.poke();
  await early.settle();
  expect(early.sent.size).toBe(1);
  expect(early.sent.has(a.v.refs.unpushed[0])).toBe(false);
});

it("sends nothing that comes after the scan: the commit's pack goes with the push, even if an upload was still running", async () => {
  const a = await device("early-late", "dev-a", false);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  // The remote, with every push held until the gate opens.
  const held = new Proxy(a.remote, {
    get(target, prop, receiver) {
      if (prop === "push") return async (...args: Parameters<HttpRemote["push"]>) => (await gate, target.push(...args));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const early = new EarlyUpload(a.v, held);
  for (let i = 0; i < 30; i++) await a.v.putNote(`n${i}`, note(i));
  await a.v.flushStaged();
  early.poke(); // uploading the flushed pack, held at the gate
  await a.v.putNote("late", note(99));
  await a.v.commit(); // the commit's pack joins unpushed while that upload is out
  const settled = early.settle();
  open();
  await settled;
  const [flushed, commitPack] = a.v.refs.unpushed;
  expect([...early.sent]).toEqual([flushed]);
  const r = await sync(a.v, a.remote, { sentPacks: early.sent });
  expect(r.uploaded.packs).toBe(1);
  expect(early.sent.has(commitPack)).toBe(false);
});
