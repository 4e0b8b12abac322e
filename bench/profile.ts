// Where the client's time goes, from a V8 CPU profile (.cpuprofile, written by node --cpu-prof):
// each sample is charged to the first frame, walking from the leaf up, that a rule recognises.
import { readFile } from "node:fs/promises";

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileBucket {
  category: string;
  ms: number;
  share: number;
}

export type ProfileRule = [string, (f: CallFrame) => boolean];

/** Client (Node) rules: by source file of the engine, or Node's own modules. */
export const CLIENT_RULES: ProfileRule[] = [
  ["idle: waiting for disk, zlib pool, network, Worker", (f) => f.functionName === "(idle)"],
  ["garbage collection", (f) => f.functionName === "(garbage collector)"],
  ["compression (gzip, shuffle)", (f) => f.url.includes("node:zlib") || f.url.endsWith("/compress.ts") || /^(shuffle4|unshuffle4|gzipSync|zlibBufferSync|processChunkSync)$/.test(f.functionName)],
  ["hashing (SHA-256 + hex)", (f) => f.url.endsWith("/hash.ts") || f.functionName === "nodeSha256" || f.functionName === "toHex" || f.functionName === "fromHex"],
  ["JSON parse + canonical form", (f) => f.url.endsWith("/canonical.ts") || f.url.endsWith("/parts.ts")],
  ["chunking (CDC) of large notes", (f) => f.url.endsWith("/chunker.ts") || f.url.endsWith("/chunklist.ts")],
  ["packing (frames, pack headers)", (f) => f.url.endsWith("/pack.ts")],
  ["Merkle tree", (f) => f.url.endsWith("/tree.ts")],
  ["local store (pack files, meta)", (f) => f.url.endsWith("/fs-store.ts") || f.url.endsWith("/atomic-file.ts")],
  ["HTTP (fetch, framing)", (f) => f.url.includes("undici") || f.url.includes("/http-remote.ts") || f.url.endsWith("/stream.ts") || f.url.includes("node:internal/deps/undici") || f.url.includes("node:net") || f.url.includes("node:internal/stream_base")],
  ["file system calls (stat, read, write)", (f) => f.url.includes("node:fs") || f.url.includes("node:internal/fs")],
  ["folder scan bookkeeping", (f) => f.url.endsWith("/vault-folder.ts")],
  ["vault staging + commit", (f) => f.url.endsWith("/vault.ts")],
  ["sync logic", (f) => f.url.includes("/engine/sync/")],
  ["module loading (tsx, start-up)", (f) => f.url.includes("node_modules/tsx") || f.url.includes("node:internal/modules")],
];

/** Worker (workerd) rules: the bundle is one file, so by function name (esbuild keeps the names). */
export const WORKER_RULES: ProfileRule[] = [
  ["idle: waiting for R2, the Durable Object, the client's bytes", (f) => f.functionName === "(idle)"],
  ["garbage collection", (f) => f.functionName === "(garbage collector)"],
  ["Durable Object index: SQLite inserts of the pack's objects", (f) => /^(registerPack|transactionSync|settlePacks|bump|stats)$/.test(f.functionName)],
  ["SHA-256 of objects and pack (crypto.subtle) + hex", (f) => /^(sha256Hex|digest|toHex|verifyObject)$/.test(f.functionName)],
  ["inflate frames (inflateCapped: one pass into the declared length) + unshuffle", (f) => /^(gunzip|decodeFrame|unshuffle4|inflateCapped|gunzipExact|inflateRaw|crc32|DecompressionStream|boundedInflater)$/.test(f.functionName)],
  ["R2 put", (f) => f.functionName === "put"],
  ["request handling: body stream, framing, copies", (f) => /^(fill|pull|readSections|sectionsOf|limitedBody|addPack|handlePush)$/.test(f.functionName)],
  ["pack header decoding", (f) => /^(decodePackHeader|varint|byte|need|bytes)$/.test(f.functionName)],
  ["commit check (tree walk)", (f) => /^(commitPush|walk|checkTree)/.test(f.functionName)],
];

export async function analyseProfile(file: string, rules: ProfileRule[] = CLIENT_RULES): Promise<{ totalMs: number; buckets: ProfileBucket[] }> {
  const p = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const categoryOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = categoryOf.get(id);
    if (known) return known;
    let cat = "other (V8 native, runtime)";
    for (let q: number | undefined = id; q !== undefined; q = parent.get(q)) {
      const f = byId.get(q)!.callFrame;
      const hit = rules.find(([, test]) => test(f));
      if (hit) {
        cat = hit[0];
        break;
      }
      if (f.functionName === "(program)" && q === id) cat = "(program): V8 compiling, runtime";
      if (f.url && !f.url.startsWith("node:") && q === id) cat = "other JS";
    }
    categoryOf.set(id, cat);
    return cat;
  };
  const ms = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const c = classify(p.samples[i]);
    ms.set(c, (ms.get(c) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const totalMs = [...ms.values()].reduce((a, b) => a + b, 0);
  const buckets = [...ms].map(([category, v]) => ({ category, ms: v, share: v / totalMs })).sort((a, b) => b.ms - a.ms);
  return { totalMs, buckets };
}
