// Sealing in batches: the wire form, and the Node seal pool on real worker threads. Sealing is
// deterministic, so every path must give exactly the bytes sealObject gives inline, in job order.
import { describe, it, expect, afterEach, afterAll } from "vitest";
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { toHex, utf8 } from "../../engine/core/bytes.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { portableCrypto, useCryptoImpl } from "../../engine/crypto/primitives.ts";
import { nodeCrypto } from "../../engine/crypto/node.ts";
import { VaultKeys } from "../../engine/crypto/keys.ts";
import { MAX_PLAINTEXT, sealObject, type SealKeys } from "../../engine/crypto/seal.ts";
import { encodeSealBatch, inlineSealer, sealWireBatch, splitSealedBatch, useBatchSealer, type SealJob } from "../../engine/crypto/seal-batch.ts";
import { SealPool } from "../../engine/node/seal-pool.ts";

const keys = VaultKeys.fromVaultKey(Uint8Array.from({ length: 32 }, (_, i) => i * 5 + 1));
const TYPES = [ObjectType.Blob, ObjectType.ChunkList, ObjectType.Tree, ObjectType.Snapshot];

function jobOf(bytes: Uint8Array, type: ObjectType, compress: boolean): SealJob {
  return { type, addr: keys.addressOf(bytes), bytes, compress };
}

/** Notes-like jobs: compressible text of every size class, embeddings-like noise, empty objects. */
function sampleJobs(n: number): SealJob[] {
  const jobs: SealJob[] = [];
  for (let i = 0; i < n; i++) {
    const text = utf8(`{"body":"${"line of a note ".repeat(i % 300)}${i}","title":"note ${i}"}`);
    const noise = Uint8Array.from({ length: 1536 }, (_, k) => (k * 2654435761 + i) >>> 24);
    jobs.push(jobOf(text, TYPES[i % TYPES.length], i % 3 !== 0), jobOf(noise, ObjectType.Blob, false));
  }
  jobs.push(jobOf(new Uint8Array(0), ObjectType.Blob, true));
  return jobs;
}

const inline = (jobs: readonly SealJob[]) => jobs.map((j) => toHex(keys.sealObject(j.type, j.addr, j.bytes, j.compress)));
const hex = (a: Uint8Array[]) => a.map(toHex);

afterEach(() => {
  useCryptoImpl(portableCrypto);
  useBatchSealer(inlineSealer);
});

describe("seal batches (wire form)", () => {
  it("encode -> seal -> split gives sealObject's bytes in order, for any objects", () => {
    const sk: SealKeys = { addrKey: new Uint8Array(32).fill(1), nonceKey: new Uint8Array(32).fill(2), sealKey: new Uint8Array(32).fill(3) };
    for (const impl of [portableCrypto, nodeCrypto]) {
      useCryptoImpl(impl);
      fc.assert(
        fc.property(fc.array(fc.record({ bytes: fc.uint8Array({ maxLength: 3000 }), type: fc.constantFrom(...TYPES), compress: fc.boolean() }), { maxLength: 12 }), (specs) => {
          const jobs = specs.map((s) => jobOf(s.bytes, s.type, s.compress));
          const wire = encodeSealBatch(jobs);
          expect(wire.ends.length).toBe(jobs.length);
          expect(hex(splitSealedBatch(sealWireBatch(sk, wire)))).toEqual(jobs.map((j) => toHex(sealObject(sk, j.type, j.addr, j.bytes, j.compress))));
        }),
        { numRuns: 60 },
      );
    }
  });

  it("every sealed object of a batch opens to its plaintext", async () => {
    const jobs = sampleJobs(20);
    const sealed = await keys.sealMany(jobs);
    jobs.forEach((j, i) => expect(keys.openObject(j.addr, sealed[i], j.type).bytes).toEqual(j.bytes));
  });
});

describe("SealPool (worker threads)", () => {
  const pools: SealPool[] = [];
  const pool = (opts: ConstructorParameters<typeof SealPool>[0]) => {
    const p = new SealPool(opts);
    pools.push(p);
    useBatchSealer(p);
    return p;
  };
  afterAll(async () => {
    for (const p of pools) await p.close();
  });

  it("seals on its threads exactly the bytes sealed inline, in job order across many messages", async () => {
    useCryptoImpl(nodeCrypto);
    const p = pool({ size: 2, minBytes: 0, chunkBytes: 16 * 1024 });
    const jobs = sampleJobs(300);
    const sealed = await keys.sealMany(jobs);
    expect(p.started).toBe(true);
    expect(p.failure).toBeNull();
    expect(hex(sealed)).toEqual(inline(jobs));
  });

  it("keeps small syncs inline: the threads start only once enough was sealed to repay their start-up", async () => {
    useCryptoImpl(nodeCrypto);
    const jobs = sampleJobs(100); // ~0.6 MB
    const bytes = jobs.reduce((n, j) => n + j.bytes.length, 0);
    const p = pool({ size: 2, minBytes: 2 * bytes }); // the default is 16 MiB
    expect(hex(await keys.sealMany(jobs))).toEqual(inline(jobs));
    expect(hex(await keys.sealMany(jobs))).toEqual(inline(jobs));
    expect(p.started).toBe(false); // 2 x bytes sealed inline: the threshold is reached, not passed
    expect(hex(await keys.sealMany(jobs))).toEqual(inline(jobs));
    expect(p.started).toBe(true);
  });

  it("reports a sealing error with its name and message (an object over the size limit)", async () => {
    pool({ size: 1, minBytes: 0 });
    const big = new Uint8Array(MAX_PLAINTEXT + 1);
    const jobs = [...sampleJobs(2), { type: ObjectType.Blob, addr: "0".repeat(64), bytes: big, compress: false }];
    await expect(keys.sealMany(jobs)).rejects.toMatchObject({ name: "RangeError", message: expect.stringContaining(`object of ${MAX_PLAINTEXT + 1} bytes exceeds`) });
  });

  it("finishes the batches of a worker that dies on this thread, with the same bytes", async () => {
    useCryptoImpl(nodeCrypto);
    const p = pool({ size: 2, minBytes: 0, chunkBytes: 8 * 1024 });
    const jobs = sampleJobs(200);
    const sealing = keys.sealMany(jobs);
    // Kill the threads while their batches are out: the pool notices the exits and seals here.
    await (p as unknown as { pool: { workers: { terminate(): Promise<number> }[] } }).pool.workers[0].terminate();
    expect(hex(await sealing)).toEqual(inline(jobs));
    expect(p.failure?.message).toMatch(/penumbra-seal thread exited/);
    expect(hex(await keys.sealMany(jobs.slice(0, 5)))).toEqual(inline(jobs.slice(0, 5)));
  });

  it("does not keep a process alive once its batches are sealed", () => {
    const script = `
      import { VaultKeys } from "./engine/crypto/keys.ts";
      import { installNodeCrypto } from "./engine/crypto/node.ts";
      import { installSealPool } from "./engine/node/seal-pool.ts";
      installNodeCrypto();
      const pool = installSealPool({ minBytes: 0 });
      const k = VaultKeys.generate();
      const b = new TextEncoder().encode("hello ".repeat(100));
      const out = await k.sealMany([{ type: 1, addr: k.addressOf(b), bytes: b, compress: true }]);
      console.log(pool.started, out.length, pool.failure);`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: process.cwd(), encoding: "utf8", timeout: 30_000 });
    expect(r.error).toBeUndefined(); // a timeout would show here
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("true 1 null");
    expect(r.status).toBe(0);
  });
});
