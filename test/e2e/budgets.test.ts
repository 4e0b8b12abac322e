// Byte and request budgets of issue #2 on a generated 10,000-note vault, counted on the wire by a
// TCP proxy between the engine and the local Worker (counts, not times: deterministic to assert).
import { describe, it, expect } from "vitest";
import { gzipSync } from "node:zlib";
import { freshConnectionFetch } from "../helpers/counting-proxy.ts";
import { serverWithProxy } from "../helpers/server-fixture.ts";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { encodeEmbedding, encodeJsonPart } from "../../engine/core/parts.ts";
import { generateVault, editNote, makeRng, type GeneratedNote } from "../../sample/generator.ts";

installNodeFastPaths();
const NOTES = 10_000;
const KiB = 1024;
const fixture = serverWithProxy();

async function device(name: string) {
  const remote = new HttpRemote({ url: fixture.proxy.url, vault: "budgets", token: fixture.server.token, fetch: freshConnectionFetch });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  return { v, remote };
}

async function put(v: Vault, n: GeneratedNote) {
  await v.putNote(n.id, n.note as never);
  await v.putEmbedding(n.id, n.embedding);
  await v.putPosition(n.id, n.position);
}

/** Wire bytes and requests of one operation. */
async function measure<T>(remote: HttpRemote, op: () => Promise<T>) {
  fixture.proxy.reset();
  const r0 = remote.stats.requests;
  const result = await op();
  return { result, bytes: fixture.proxy.up + fixture.proxy.down, up: fixture.proxy.up, down: fixture.proxy.down, requests: remote.stats.requests - r0 };
}

describe(`budgets on a ${NOTES.toLocaleString("en")}-note vault`, () => {
  it("initial push, no-op sync, one-note edit on both devices", async () => {
    const a = await device("dev-a");
    await a.remote.create({ format: 1, addressing: "sha256", encryption: null });
    const notes: GeneratedNote[] = [];
    const blobs: Uint8Array[] = [];
    for (const n of generateVault({ notes: NOTES, seed: 7 })) {
      notes.push(n);
      await put(a.v, n);
      blobs.push(encodeJsonPart(n.note as never), encodeEmbedding(n.embedding), encodeJsonPart(n.position));
    }
    // The yardstick: every blob packed into one stream and gzipped (zlib's default level).
    const gzipPacked = gzipSync(Buffer.concat(blobs)).length;

    const initial = await measure(a.remote, () => sync(a.v, a.remote));
    console.log(`initial push: ${initial.bytes} bytes on the wire (${(initial.bytes / gzipPacked).toFixed(3)} x gzip of all blobs packed = ${gzipPacked}), ${initial.requests} requests`);
    expect(initial.up).toBeLessThanOrEqual(1.05 * gzipPacked);
    expect(initial.requests).toBeLessThanOrEqual(Math.ceil(initial.up / (4 * 1024 * 1024)) + 4);

    const b = await device("dev-b");
    const clone = await measure(b.remote, () => sync(b.v, b.remote));
    console.log(`clone: ${clone.bytes} bytes, ${clone.requests} requests`);
    expect(b.v.refs.head).toBe(a.v.refs.head);
    expect(b.v.size).toBe(NOTES);

    const noop = await measure(a.remote, () => sync(a.v, a.remote));
    console.log(`no-op sync: ${noop.bytes} bytes, ${noop.requests} requests`);
    expect(noop.requests).toBe(1);
    expect(noop.bytes).toBeLessThanOrEqual(1 * KiB);

    const rng = makeRng(99);
    const edited = editNote(notes[1234], rng);
    await put(a.v, edited);
    const one = await measure(a.remote, () => sync(a.v, a.remote));
    console.log(`one-note edit, pushing device: ${one.bytes} bytes, ${one.requests} requests`);
    expect(one.requests).toBeLessThanOrEqual(2);
    expect(one.bytes).toBeLessThanOrEqual(12 * KiB);

    const other = await measure(b.remote, () => sync(b.v, b.remote));
    console.log(`one-note edit, other device: ${other.bytes} bytes, ${other.requests} requests`);
    expect(other.requests).toBeLessThanOrEqual(2);
    expect(other.bytes).toBeLessThanOrEqual(12 * KiB);
    expect(b.v.refs.head).toBe(a.v.refs.head);
    expect(await b.v.getNote(edited.id)).toEqual(edited.note);

    // 1% of the notes, scattered: each edit rewrites its leaf and the nodes above it, which travel
    // as deltas against the server's tree (delta-frame.ts), so the bytes up follow the changed items.
    const some = Array.from({ length: NOTES / 100 }, (_, i) => editNote(notes[(i * 97 + 13) % NOTES], rng));
    const items: Uint8Array[] = [];
    for (const n of some) {
      await put(a.v, n);
      items.push(encodeJsonPart(n.note as never), encodeEmbedding(n.embedding), encodeJsonPart(n.position));
    }
    const itemsGzip = gzipSync(Buffer.concat(items)).length;
    const pct = await measure(a.remote, () => sync(a.v, a.remote));
    console.log(`1% edited: ${pct.up} bytes up = ${(pct.up / itemsGzip).toFixed(3)} x gzip of the changed items (${itemsGzip}), ${pct.requests} requests`);
    expect(pct.up).toBeLessThanOrEqual(1.3 * itemsGzip);
    const pulled = await measure(b.remote, () => sync(b.v, b.remote));
    expect(b.v.refs.head).toBe(a.v.refs.head);
    for (const n of some.slice(0, 20)) expect(await b.v.getNote(n.id)).toEqual(n.note);
    console.log(`1% edited, other device: ${pulled.down} bytes down`);
  }, 180_000);
});
