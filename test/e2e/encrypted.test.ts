// Encrypted vaults through the real local Worker (engine clients over HTTP): two devices converge
// with merge; after syncing, nothing the server stored (R2 objects, Durable Object SQLite files)
// holds a note's text, a note id, embedding bytes or a device name; a flipped byte is refused and
// never applied; the passphrase can change (rekey) without re-encrypting; the predecessor's routes
// answer 409 encrypted_vault.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readdir, readFile, rm, writeFile, stat } from "node:fs/promises";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { Vault, MemoryStore, HttpRemote, sync, push, pull } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { FsStore } from "../../engine/node/fs-store.ts";
import { installNodeCrypto } from "../../engine/crypto/node.ts";
import { createEncryption, unlockEncryption, rewrapEncryption, WrongPassphraseError } from "../../engine/crypto/envelope.ts";
import { TamperedObjectError } from "../../engine/crypto/seal.ts";
import type { VaultKeys } from "../../engine/crypto/keys.ts";
import { VaultKeyError } from "../../engine/vault/vault.ts";
import { decodePackHeader, Codec } from "../../engine/core/pack.ts";
import { readSections, Section } from "../../engine/core/stream.ts";
import type { Remote } from "../../engine/remote/remote.ts";

installNodeFastPaths();
installNodeCrypto();
const FAST = { kdf: { name: "scrypt" as const, N: 1024, r: 8, p: 1 }, allowWeakKdf: true };
const PASS = "violet kettle under seven moons";
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

function remoteFor(vault: string, s: TestServer = server): HttpRemote {
  return new HttpRemote({ url: s.url, vault, token: s.token });
}

/** Creates an encrypted vault (device `a`'s keys) or joins it with the passphrase. */
async function encryptedDevice(vault: string, device: string, s: TestServer = server, store = new MemoryStore()): Promise<{ v: Vault; remote: HttpRemote; keys: VaultKeys; store: MemoryStore }> {
  const remote = remoteFor(vault, s);
  let info = await remote.info();
  let keys: VaultKeys;
  if (!info) {
    const made = await createEncryption(PASS, FAST);
    info = await remote.create({ format: 1, addressing: "hmac-sha256", encryption: made.encryption });
    keys = made.keys;
  } else keys = await unlockEncryption(info.config.encryption, PASS);
  const v = await Vault.open({ store, device, compressor: nodeCompressor, keys });
  return { v, remote, keys, store };
}

describe("two devices on an encrypted vault", () => {
  it("sync both ways, converge with a three-way merge (line merge, conflict copy, edit beats delete)", async () => {
    const a = await encryptedDevice("enc-merge", "dev-a");
    const b = await encryptedDevice("enc-merge", "dev-b");
    await a.v.putNote("n", { title: "T", body: "line1\nline2\nline3\nline4", updated: "2026-01-01T00:00:00.000Z" });
    await a.v.putNote("c", { title: "C", body: "same line", updated: "2026-01-01T00:00:00.000Z" });
    await a.v.putNote("d", { title: "D", body: "to be deleted", updated: "2026-01-01T00:00:00.000Z" });
    await a.v.putEmbedding("n", new Float32Array([1, 2, 3, 4]));
    await a.v.putPosition("n", { x: 1, y: 2, z: 3 });
    await sync(a.v, a.remote);
    const rb = await sync(b.v, b.remote);
    expect(rb.changes.added).toBe(3);
    expect(b.v.refs.head).toBe(a.v.refs.head);

    // Concurrent edits: disjoint lines of n, the same line of c (conflict copy), d deleted on a and edited on b.
    await a.v.putNote("n", { title: "T", body: "line1 edited by a\nline2\nline3\nline4", updated: "2026-01-02T00:00:00.000Z" });
    await b.v.putNote("n", { title: "T", body: "line1\nline2\nline3\nline4 edited by b", updated: "2026-01-03T00:00:00.000Z" });
    await a.v.putNote("c", { title: "C", body: "a's line", updated: "2026-01-02T00:00:00.000Z" });
    await b.v.putNote("c", { title: "C", body: "b's line", updated: "2026-01-03T00:00:00.000Z" });
    await a.v.delete("d");
    await b.v.putNote("d", { title: "D", body: "edited, not deleted", updated: "2026-01-03T00:00:00.000Z" });
    await b.v.putNote("only-b", { title: "B", body: "new" });
    await sync(a.v, a.remote);
    await expect(push(b.v, b.remote)).rejects.toMatchObject({ code: "head_moved" });
    const merged = await sync(b.v, b.remote);
    expect(merged.merged).toBe(true);
    expect(merged.conflicts.map((c) => c.kind).sort()).toEqual(["edit-beats-delete", "text-conflict-copy"]);
    await sync(a.v, a.remote);
    expect(a.v.refs.head).toBe(b.v.refs.head);
    for (const v of [a.v, b.v]) {
      expect((await v.getNote("n"))?.body).toBe("line1 edited by a\nline2\nline3\nline4 edited by b");
      expect((await v.getNote("c"))?.body).toBe("b's line");
      expect((await v.getNote("d"))?.body).toBe("edited, not deleted");
      expect(v.ids().filter((id) => id.startsWith("c.conflict-"))).toHaveLength(1);
      expect([...((await v.getEmbedding("n")) as Float32Array)]).toEqual([1, 2, 3, 4]);
    }
    expect(a.v.ids()).toEqual(b.v.ids());
    // Pull-only and a third device cloning from scratch reach the same state.
    const c = await encryptedDevice("enc-merge", "dev-c");
    await pull(c.v, c.remote);
    expect(c.v.refs.head).toBe(a.v.refs.head);
    expect(c.v.ids()).toEqual(a.v.ids());
  });

  it("a large (chunked) note and its edit travel encrypted", async () => {
    const a = await encryptedDevice("enc-large", "dev-a");
    const b = await encryptedDevice("enc-large", "dev-b");
    const lines = Array.from({ length: 12_000 }, (_, i) => `line ${i}: ${"lorem ipsum ".repeat(i % 7)}`);
    await a.v.putNote("big", { title: "Big", body: lines.join("\n") });
    await sync(a.v, a.remote);
    await sync(b.v, b.remote);
    expect(b.v.entry("big")?.chunked).toBe(true);
    lines[6000] = "edited in the middle";
    await b.v.putNote("big", { title: "Big", body: lines.join("\n") });
    const r = await sync(b.v, b.remote);
    expect(r.uploaded.bytes).toBeLessThan(80_000);
    await sync(a.v, a.remote);
    expect((await a.v.getNote("big"))?.body).toBe(lines.join("\n"));
  });

  it("a store refuses to open without the vault's keys, or with another vault's", async () => {
    const a = await encryptedDevice("enc-keys", "dev-a");
    await a.v.putNote("x", { title: "x" });
    await sync(a.v, a.remote);
    await expect(Vault.open({ store: a.store })).rejects.toBeInstanceOf(VaultKeyError);
    const other = await createEncryption(PASS, FAST);
    await expect(Vault.open({ store: a.store, keys: other.keys })).rejects.toThrow(/holds the encrypted vault with key/);
    // A device opened with another vault's keys cannot read what it pulls: refused, not applied.
    const wrong = await Vault.open({ store: new MemoryStore(), keys: other.keys, compressor: nodeCompressor });
    await expect(sync(wrong, remoteFor("enc-keys"))).rejects.toBeInstanceOf(TamperedObjectError);
    expect(wrong.refs.head).toBeNull();
    await expect(unlockEncryption((await a.remote.info())!.config.encryption, "not the passphrase")).rejects.toBeInstanceOf(WrongPassphraseError);
  });
});

/** A Remote whose pulled packs have one byte flipped inside the sealed bytes of one object. */
function corrupting(inner: HttpRemote, pick: (type: number) => boolean): Remote & { flipped: string[] } {
  const flipped: string[] = [];
  const r = Object.create(inner) as Remote & { flipped: string[] };
  r.flipped = flipped;
  r.pull = (since, want, onPack) =>
    inner.pull(since, want, async (pack) => {
      const h = decodePackHeader(pack);
      const o = h.objects.find((x) => pick(x.type) && !flipped.includes(x.addr));
      if (o) {
        const f = h.frames[o.frame];
        expect(f.codec).toBe(Codec.Stored);
        const bad = pack.slice();
        bad[f.offset + o.offset + Math.floor(o.length / 2)] ^= 0x10;
        flipped.push(o.addr);
        return onPack(bad);
      }
      return onPack(pack);
    });
  return r;
}

describe("tamper detection", () => {
  it("a flipped byte in a pulled object is refused with a clear error; nothing of it is stored or applied", async () => {
    const a = await encryptedDevice("enc-tamper", "dev-a");
    const b = await encryptedDevice("enc-tamper", "dev-b");
    await a.v.putNote("n1", { title: "first", body: "v1" });
    await sync(a.v, a.remote);
    await sync(b.v, b.remote);
    await a.v.putNote("n1", { title: "first", body: "v2, tampered on the way" });
    await a.v.putNote("n2", { title: "second" });
    await sync(a.v, a.remote);
    const headBefore = b.v.refs.head;
    for (const type of [1, 3, 4]) {
      const evil = corrupting(b.remote, (t) => t === type);
      const err = await sync(b.v, evil).catch((e) => e);
      expect(err).toBeInstanceOf(TamperedObjectError);
      expect(String(err.message)).toMatch(/failed authentication \(the AEAD tag does not verify\).*refused and nothing of it was used/);
      expect(evil.flipped).toHaveLength(1);
      expect(b.store.debugObjects().has(evil.flipped[0])).toBe(false);
      expect(b.v.refs.head).toBe(headBefore);
      expect((await b.v.getNote("n1"))?.body).toBe("v1");
      expect(b.v.ids()).toEqual(["n1"]);
    }
    // Untampered, the same sync goes through.
    await sync(b.v, b.remote);
    expect(b.v.refs.head).toBe(a.v.refs.head);
    expect((await b.v.getNote("n1"))?.body).toBe("v2, tampered on the way");
  });

  it("a flipped byte in a local pack file is refused on read", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-enc-local-"));
    try {
      const made = await createEncryption(PASS, FAST);
      const store = await FsStore.open(dir, nodeCompressor);
      const v = await Vault.open({ store, keys: made.keys, compressor: nodeCompressor });
      await v.putNote("n", { title: "local", body: "x".repeat(500) });
      await v.commit();
      const entry = v.entry("n")!;
      await store.close();
      // Flip one byte of every pack in the middle of its data; reopen and read.
      for (const f of await readdir(path.join(dir, "packs"))) {
        const p = path.join(dir, "packs", f);
        const bytes = await readFile(p);
        const h = decodePackHeader(bytes);
        for (const o of h.objects) if (o.addr === entry.note) bytes[h.frames[o.frame].offset + o.offset + 40] ^= 1;
        await writeFile(p, bytes);
      }
      const store2 = await FsStore.open(dir, nodeCompressor);
      const v2 = await Vault.open({ store: store2, keys: made.keys, compressor: nodeCompressor }).catch((e) => e);
      // The tree still opens (its node is intact); the note itself is refused.
      expect(v2).toBeInstanceOf(Vault);
      await expect((v2 as Vault).getNote("n")).rejects.toBeInstanceOf(TamperedObjectError);
      await store2.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a server that goes back in time", () => {
  it("a remote head that does not descend from the last synced snapshot is refused (rollback), nothing applied", async () => {
    const a = await encryptedDevice("enc-rollback", "dev-a");
    const b = await encryptedDevice("enc-rollback", "dev-b");
    await a.v.putNote("n", { title: "v1" });
    await sync(a.v, a.remote);
    const old = a.v.refs.head!;
    await a.v.putNote("gone", { title: "deleted later" });
    await sync(a.v, a.remote);
    await a.v.delete("gone");
    await a.v.putNote("n", { title: "v2" });
    await sync(a.v, a.remote);
    await sync(b.v, b.remote);
    const synced = b.v.refs.head;
    // A lying remote: answers every pull with the old head (all of whose objects b holds).
    const liar = Object.create(b.remote) as Remote;
    liar.pull = async (since, want, onPack) => {
      const r = await b.remote.pull(since, want, onPack);
      return { ...r, head: r.head && { ...r.head, snapshot: old } };
    };
    for (const op of [sync, pull]) {
      const err = await op(b.v, liar).catch((e) => e);
      expect(err).toMatchObject({ code: "rollback" });
      expect(b.v.refs.head).toBe(synced);
      expect(b.v.ids()).toEqual(["n"]);
      expect((await b.v.getNote("n"))?.title).toBe("v2");
    }
  });
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe("the server never sees plaintext", () => {
  it("after syncing, no stored byte (R2 objects, SQLite files) holds note text, ids, embedding bytes or device names", async () => {
    const s = await startTestServer({ keepState: true });
    try {
      const marker = `ZEBRA${Math.random().toString(36).slice(2)}CROSSING`;
      const ids = Array.from({ length: 40 }, (_, i) => `secret-id-${i}-${marker.slice(5, 13)}`);
      const device = `laptop-of-${marker.slice(5, 12)}`;
      // An embedding whose bytes are distinctive: a 24-byte pattern repeated.
      const emb = new Float32Array(384);
      const pattern = new Uint32Array([0x13579bdf, 0x2468ace0, 0x0badf00d, 0x5eedbeef, 0x7e57ab1e, 0x600dcafe]);
      for (let i = 0; i < emb.length; i++) new Uint32Array(emb.buffer)[i] = pattern[i % pattern.length];
      const a = await encryptedDevice("enc-scan", device, s);
      for (const [i, id] of ids.entries()) {
        await a.v.putNote(id, { title: `${marker} title ${i}`, body: `${marker} body of note ${id}\n`.repeat(1 + (i % 5) * 400), id });
        await a.v.putEmbedding(id, emb);
        await a.v.putPosition(id, { x: 123.456789 + i, y: 987.654321, z: 0, label: marker });
      }
      await sync(a.v, a.remote);
      const b = await encryptedDevice("enc-scan", `${device}-b`, s);
      await b.v.putNote(ids[0], { title: `${marker} edited on b`, body: marker });
      await sync(b.v, b.remote);
      await sync(a.v, a.remote);
      expect(a.v.refs.head).toBe(b.v.refs.head);

      // What the server serves: every pack's frames are stored (ciphertext is not compressed) and hold no marker.
      const res = await s.fetch("/v1/vaults/enc-scan/pull", { method: "POST", body: JSON.stringify({ since: null }), headers: { "content-type": "application/json" } });
      let packs = 0;
      for await (const sec of readSections(res.body!, { maxSection: 64 * 1024 * 1024 })) {
        if (sec.kind !== Section.Pack) continue;
        packs++;
        const h = decodePackHeader(sec.payload);
        for (const f of h.frames) expect(f.codec).toBe(Codec.Stored);
        expect(Buffer.from(sec.payload).includes(marker)).toBe(false);
      }
      expect(packs).toBeGreaterThan(0);
      // The log of an encrypted vault carries no device, time, stats or root.
      const log = (await (await s.fetch("/v1/vaults/enc-scan/log")).json()) as { snapshots: Record<string, unknown>[] };
      expect(log.snapshots.length).toBe(2);
      for (const e of log.snapshots) expect(Object.keys(e).sort()).toEqual(["committedAt", "parents", "seq", "snapshot"]);

      // A plain vault on the same server, as a positive control of the scan: its ids are in the
      // R2 objects (stored tree frames), its device name in the SQLite snapshot log.
      const controlId = `control-id-${marker.slice(5, 13)}`;
      const plainRemote = remoteFor("plain-control", s);
      await plainRemote.create({ format: 1, addressing: "sha256", encryption: null });
      const pv = await Vault.open({ store: new MemoryStore(), device: `control-device-${marker.slice(5, 12)}`, compressor: nodeCompressor });
      await pv.putNote(controlId, { title: "control" });
      await sync(pv, plainRemote);

      await s.stop();
      const files = await filesUnder(s.state);
      expect(files.length).toBeGreaterThan(2);
      const needles: [string, Buffer][] = [
        ["note text", Buffer.from(marker)],
        ...ids.map((id) => [`id ${id}`, Buffer.from(id)] as [string, Buffer]),
        ["device name", Buffer.from(device)],
        ["embedding bytes", Buffer.from(emb.buffer, 0, 24)],
        ["embedding bytes (shifted)", Buffer.from(emb.buffer, 12, 24)],
        ["position", Buffer.from("123.456789")],
      ];
      const found: string[] = [];
      const control = { id: false, device: false };
      let scanned = 0;
      for (const f of files) {
        const bytes = await readFile(f);
        scanned += bytes.length;
        for (const [what, needle] of needles) if (bytes.includes(needle)) found.push(`${what} in ${path.relative(s.state, f)}`);
        if (bytes.includes(Buffer.from(controlId))) control.id = true;
        if (bytes.includes(Buffer.from(`control-device-${marker.slice(5, 12)}`))) control.device = true;
      }
      expect(found).toEqual([]);
      expect(control).toEqual({ id: true, device: true });
      expect(scanned).toBeGreaterThan(100_000);
      expect((await stat(s.state)).isDirectory()).toBe(true);
    } finally {
      await s.stop();
      await rm(s.state, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("rekey and the server's config update", () => {
  it("rewraps the vault key under a new passphrase; joined devices keep syncing; the old passphrase no longer joins", async () => {
    const a = await encryptedDevice("enc-rekey", "dev-a");
    const b = await encryptedDevice("enc-rekey", "dev-b");
    await a.v.putNote("n", { title: "before rekey" });
    await sync(a.v, a.remote);
    await sync(b.v, b.remote);
    const info = (await a.remote.info())!;
    const next = await rewrapEncryption(info.config.encryption, a.keys, "a brand new pass phrase");
    const after = await a.remote.replaceEncryption({ format: 1, addressing: "hmac-sha256", encryption: next }, info.config.encryption);
    expect(after.config.encryption).toEqual(next);
    expect(after.head).toEqual(info.head);
    // The same vault key: b keeps syncing with what it holds; a new device needs the new passphrase.
    await b.v.putNote("n", { title: "after rekey" });
    await sync(b.v, b.remote);
    await sync(a.v, a.remote);
    expect((await a.v.getNote("n"))?.title).toBe("after rekey");
    await expect(unlockEncryption((await a.remote.info())!.config.encryption, PASS)).rejects.toBeInstanceOf(WrongPassphraseError);
    const c = await unlockEncryption((await a.remote.info())!.config.encryption, "a brand new pass phrase");
    expect(c.keyId).toBe(a.keys.keyId);
  });

  it("the route is guarded: compare-and-swap on the old block, encrypted vaults only, nothing else may change", async () => {
    const a = await encryptedDevice("enc-guard", "dev-a");
    const info = (await a.remote.info())!;
    const next = await rewrapEncryption(info.config.encryption, a.keys, "another pass phrase");
    const put = (body: unknown, vault = "enc-guard") => server.fetch(`/v1/vaults/${vault}`, { method: "PUT", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const cfg = { format: 1, addressing: "hmac-sha256", encryption: next };
    const err = async (r: Response) => ({ status: r.status, error: ((await r.json()) as { error: string }).error });
    expect(await err(await put({ config: cfg, replaceEncryption: true, expect: { ...(info.config.encryption as object), keyId: "00".repeat(16) } }))).toEqual({ status: 409, error: "encryption_changed" });
    expect(await err(await put({ config: cfg, replaceEncryption: true }))).toEqual({ status: 400, error: "bad_request" });
    expect(await err(await put({ config: { ...cfg, addressing: "sha256" }, replaceEncryption: true, expect: info.config.encryption }))).toEqual({ status: 400, error: "bad_request" });
    expect(await err(await put({ config: cfg, replaceEncryption: "yes", expect: info.config.encryption }))).toEqual({ status: 400, error: "bad_request" });
    expect(await err(await put({ config: cfg, replaceEncryption: true, expect: info.config.encryption }, "enc-guard-missing"))).toEqual({ status: 404, error: "unknown_vault" });
    const plain = remoteFor("enc-guard-plain");
    await plain.create({ format: 1, addressing: "sha256", encryption: null });
    expect(await err(await put({ config: cfg, replaceEncryption: true, expect: {} }, "enc-guard-plain"))).toEqual({ status: 409, error: "not_encrypted" });
    // Without replaceEncryption, a PUT with another config is still 409 vault_exists, and nothing changed so far.
    expect(await err(await put({ config: cfg }))).toEqual({ status: 409, error: "vault_exists" });
    expect((await a.remote.info())!.config).toEqual(info.config);
    const ok = await put({ config: cfg, replaceEncryption: true, expect: info.config.encryption });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { config: unknown }).config).toEqual(cfg);
    // Replaying the old CAS now loses.
    expect(await err(await put({ config: cfg, replaceEncryption: true, expect: info.config.encryption }))).toEqual({ status: 409, error: "encryption_changed" });
  });
});

describe("the predecessor's API", () => {
  it("answers 409 encrypted_vault for an encrypted vault that holds data", async () => {
    const a = await encryptedDevice("enc-legacy", "dev-a");
    await a.v.putNote("n", { title: "hidden" });
    await sync(a.v, a.remote);
    for (const [p, init] of [
      ["/sync/pull?vault=enc-legacy", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }],
      ["/sync/status?vault=enc-legacy", {}],
      ["/notes/n?vault=enc-legacy", {}],
      ["/notes/n?vault=enc-legacy", { method: "PUT", body: JSON.stringify({ title: "overwrite" }), headers: { "content-type": "application/json" } }],
    ] as [string, RequestInit][]) {
      const r = await server.fetch(p, init);
      expect(r.status, p).toBe(409);
      expect(((await r.json()) as { error: string }).error).toBe("encrypted_vault");
    }
    expect((await a.remote.info())!.stats.snapshots).toBe(1);
  });
});

describe("config mismatch", () => {
  it("sealed objects pushed into a plain vault are refused by the server (hash_mismatch): nothing is stored", async () => {
    const remote = remoteFor("enc-into-plain");
    await remote.create({ format: 1, addressing: "sha256", encryption: null });
    const made = await createEncryption(PASS, FAST);
    const v = await Vault.open({ store: new MemoryStore(), keys: made.keys, compressor: nodeCompressor });
    await v.putNote("n", { title: "sealed" });
    await expect(sync(v, remote)).rejects.toMatchObject({ code: "hash_mismatch" });
    expect((await remote.info())!.stats.packs).toBe(0);
  });
});
