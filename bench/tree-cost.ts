// What a one-note edit costs in manifest-tree bytes, and how large tree nodes get, for plain and
// encrypted (keyed) vaults at several sizes and vault keys. Prints markdown tables.
//
//   node --import tsx bench/tree-cost.ts [--sizes 10000,100000] [--edits 500] [--keys 4] [--seed 1]
//
// An edit changes all three parts of one note (text, embedding, position), as the app does; the
// tree is updated incrementally (tree-update.ts) and the bytes of the nodes it creates are summed.
// Encrypted vaults store nodes sealed (engine/crypto/seal.ts: deflated, padded, nonce and tag), so
// their cost is also given sealed. Entries point at made-up addresses: the tree stores only bytes.
import { parseArgs } from "node:util";
import { installNodeFastPaths } from "../engine/node/native.ts";
import { installNodeCrypto } from "../engine/crypto/node.ts";
import { VaultKeys } from "../engine/crypto/keys.ts";
import { ObjectType } from "../engine/core/object.ts";
import { toHex } from "../engine/core/bytes.ts";
import { buildTree, decodeNode, plainKeying, type Entry, type TreeKeying } from "../engine/core/tree.ts";
import { updateTree } from "../engine/core/tree-update.ts";
import type { Address } from "../engine/core/hash.ts";
import { makeRng, type Rng } from "../sample/generator.ts";

installNodeFastPaths();
installNodeCrypto();

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000" },
    edits: { type: "string", default: "500" },
    keys: { type: "string", default: "4" },
    seed: { type: "string", default: "1" },
  },
});
const SIZES = (args.sizes as string).split(",").map(Number);
const EDITS = Number(args.edits);
const KEYS = Number(args.keys);
const SEED = Number(args.seed);

const hex = (rng: Rng, digits: number) => {
  let s = "";
  while (s.length < digits) s += rng.int(0x10000).toString(16).padStart(4, "0");
  return s.slice(0, digits);
};
/** v4-UUID-shaped ids (the app's and the generated vault's shape), from a seeded generator. */
function uuids(n: number, rng: Rng): string[] {
  const set = new Set<string>();
  while (set.size < n) set.add(`${hex(rng, 8)}-${hex(rng, 4)}-4${hex(rng, 3)}-${"89ab"[rng.int(4)]}${hex(rng, 3)}-${hex(rng, 12)}`);
  return [...set];
}
const randomAddr = (rng: Rng): Address => hex(rng, 64);
const fullEntry = (id: string, rng: Rng): Entry => ({ id, note: randomAddr(rng), embedding: randomAddr(rng), dims: 384, position: randomAddr(rng) });

interface Stats {
  n: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}
function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s[s.length - 1] };
}
const row = (label: string, st: Stats) => `| ${label} | ${st.n} | ${Math.round(st.mean)} | ${st.p50} | ${st.p95} | ${st.p99} | ${st.max} |`;

interface Keying {
  name: string;
  keying: TreeKeying;
  keys?: VaultKeys;
}

function keyings(): Keying[] {
  const out: Keying[] = [{ name: "plain", keying: plainKeying }];
  for (let k = 1; k <= KEYS; k++) {
    const rng = makeRng(1000 + k);
    const vaultKey = Uint8Array.from({ length: 32 }, () => rng.int(256));
    const keys = VaultKeys.fromVaultKey(vaultKey);
    out.push({ name: `keyed #${k} (${toHex(vaultKey).slice(0, 8)}…)`, keying: keys.keying, keys });
  }
  return out;
}

async function measure(n: number, k: Keying) {
  const rng = makeRng(SEED * 7919 + n);
  const entries = uuids(n, rng).map((id) => fullEntry(id, rng));
  const tree = buildTree(entries, k.keying);
  const load = async (a: Address) => tree.nodes.get(a) as Uint8Array;
  const sealed = (a: Address, b: Uint8Array) => (k.keys ? k.keys.sealObject(ObjectType.Tree, a, b, true).length : b.length);

  // Node sizes per level, and the depth.
  const perLevel = new Map<number, { bytes: number[]; items: number[] }>();
  for (const b of tree.nodes.values()) {
    const node = decodeNode(b);
    const l = perLevel.get(node.level) ?? { bytes: [], items: [] };
    l.bytes.push(b.length);
    l.items.push(node.keys.length);
    perLevel.set(node.level, l);
  }
  const depth = decodeNode(tree.nodes.get(tree.root) as Uint8Array).level + 1;

  // One-note edits: every part of a random note changes; sum the bytes of the nodes the update creates.
  const raw: number[] = [];
  const sealedBytes: number[] = [];
  const newNodes: number[] = [];
  for (let i = 0; i < EDITS; i++) {
    const e = entries[rng.int(entries.length)];
    const up = await updateTree(tree.root, new Map([[e.id, fullEntry(e.id, rng)]]), load, k.keying);
    let r = 0;
    let s = 0;
    for (const [a, b] of up.nodes) {
      r += b.length;
      s += sealed(a, b);
    }
    raw.push(r);
    sealedBytes.push(s);
    newNodes.push(up.nodes.size);
  }
  return { perLevel, depth, nodes: tree.nodes.size, raw: stats(raw), sealed: stats(sealedBytes), newNodes: stats(newNodes) };
}

const HEAD = "| | samples | mean | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|";
console.log(`# Manifest tree: bytes a one-note edit writes, node sizes (${EDITS} edits per tree, seed ${SEED})\n`);
for (const n of SIZES) {
  const edits: string[] = [];
  const levels: string[] = [];
  for (const k of keyings()) {
    const t0 = performance.now();
    const m = await measure(n, k);
    const ms = performance.now() - t0;
    edits.push(row(`${k.name}: tree bytes (depth ${m.depth}, ${m.nodes} nodes)`, m.raw));
    if (k.keys) edits.push(row(`${k.name}: sealed`, m.sealed));
    edits.push(row(`${k.name}: new nodes`, m.newNodes));
    for (const [level, l] of [...m.perLevel].sort((a, b) => a[0] - b[0])) {
      levels.push(row(`${k.name}, level ${level}: bytes`, stats(l.bytes)));
      levels.push(row(`${k.name}, level ${level}: items`, stats(l.items)));
    }
    process.stderr.write(`${n} ${k.name}: ${Math.round(ms)} ms\n`);
  }
  console.log(`## ${n.toLocaleString("en")} entries (note + embedding + position each)\n\nOne-note edit:\n\n${HEAD}\n${edits.join("\n")}\n`);
  console.log(`Nodes per level (samples = nodes):\n\n${HEAD}\n${levels.join("\n")}\n`);
}
