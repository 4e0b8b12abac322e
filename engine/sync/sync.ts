// sync() = pull + merge + push, with the head moved by compare-and-swap on the server.
//
// Invariant: the local store holds every object reachable from `refs.base` and `refs.head`. A
// push uploads the local packs written since base (they hold exactly what base lacks); a pull
// stores what the remote committed after base, then fetches anything still missing by address.
import type { Address } from "../core/hash.ts";
import { decodeChunkList } from "../core/chunklist.ts";
import { entryRefs } from "../core/tree.ts";
import { RemoteError, type Remote, type PullResult } from "../remote/remote.ts";
import type { Vault } from "../vault/vault.ts";
import { mergeBase, mergeBases } from "./ancestry.ts";
import { mergeTrees } from "./merge.ts";
import { countChanges, countChangesOf, emptyReport, type SyncReport } from "./report.ts";
import { walkTreeDiff } from "../core/tree-walk.ts";
import { reuploadForCommit } from "./repair.ts";
import { deltaPusher } from "./delta-push.ts";

export interface SyncOptions {
  /** Verify object addresses on download (plain vaults). Encrypted vaults verify by AEAD instead. */
  verifyAddresses?: boolean;
  maxAttempts?: number;
  /** Upload requests carry packs up to about this many bytes. */
  requestTarget?: number;
  onProgress?: (p: { phase: "upload" | "download"; bytes: number; total?: number }) => void;
  sleep?: (ms: number) => Promise<void>;
  /** Unpushed packs the remote already holds (sent early: early-upload.ts): not sent again, still listed in the commit. */
  sentPacks?: ReadonlySet<Address>;
  /** Send tree nodes as deltas against the server's tree (delta-push.ts; plain vaults). Default true. */
  deltas?: boolean;
}

/**
 * Pack bytes per push request (about one 8 MiB pack), two requests in flight: their packs stay in
 * memory until the server answers. After an initial push's scan at 100,000 notes, two 16 MiB
 * requests held 28 MiB more than two of 8 (bench/memory-ops.ts, sampled), for the same upload.
 */
const DEFAULT_REQUEST_TARGET = 8 * 1024 * 1024;
/** Part addresses checked (and fetched if missing) at a time after a pull. */
const MISSING_BATCH = 8192;
/** Above this many unpushed bytes (a one-note edit is ~11 KiB), sync checks the remote head before uploading. */
const LOOK_BEFORE_PUSH = 64 * 1024;


export class SyncError extends Error {
  override name = "SyncError";
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

function snapshotStats(remote: Remote) {
  return { ...remote.stats };
}

function finishReport(r: SyncReport, remote: Remote, start: { requests: number; bytesUp: number; bytesDown: number }): SyncReport {
  // Requests that carried an upload count as uploads; the rest as downloads.
  const requests = remote.stats.requests - start.requests;
  r.uploaded.bytes = remote.stats.bytesUp - start.bytesUp;
  r.downloaded.bytes = remote.stats.bytesDown - start.bytesDown;
  r.downloaded.requests = Math.max(0, requests - r.uploaded.requests);
  return r;
}

/**
 * Stores one downloaded pack after checking it: layout, and every object (plain vaults: its
 * SHA-256; encrypted vaults: its AEAD tag and keyed address, by opening it). A pack with one bad
 * object is refused whole, before anything of it is stored.
 */
async function ingestPack(v: Vault, pack: Uint8Array, report: SyncReport, opts: SyncOptions): Promise<void> {
  const objects = await v.readPack(pack, opts.verifyAddresses ?? true);
  await v.store.putObjects(objects, pack);
  report.downloaded.objects += objects.length;
  report.downloaded.packs++;
  downloadedPackBytes.set(report, (downloadedPackBytes.get(report) ?? 0) + pack.length);
  opts.onProgress?.({ phase: "download", bytes: downloadedPackBytes.get(report) as number });
}

/** Pack bytes received so far per report, for progress. */
const downloadedPackBytes = new WeakMap<SyncReport, number>();

/**
 * Downloads what the remote committed after `since`, then makes sure every object of the new head's
 * tree that `since` did not have is stored (fetching stragglers by address).
 */
export async function pullSince(v: Vault, remote: Remote, since: Address | null, report: SyncReport, opts: SyncOptions): Promise<PullResult> {
  let res: PullResult;
  try {
    res = await remote.pull(since, [], (p) => ingestPack(v, p, report, opts));
  } catch (e) {
    if (e instanceof RemoteError && e.code === "unknown_snapshot" && since) {
      // The remote forgot our base (history pruned): fall back to a full pull; dedupe happens here.
      res = await remote.pull(null, [], (p) => ingestPack(v, p, report, opts));
    } else throw e;
  }
  if (res.head) await fetchMissing(v, remote, await v.rootOf(since), res.head.snapshot, report, opts);
  return res;
}

/** Makes sure the local store holds snapshot `snapshot` and its whole tree (restore, verify). */
export async function fetchSnapshot(v: Vault, remote: Remote, snapshot: Address, opts: SyncOptions = {}): Promise<SyncReport> {
  const report = emptyReport();
  await fetchMissing(v, remote, v.headRoot, snapshot, report, opts, v.refs.base);
  return report;
}

/**
 * Fetches every object of `head`'s tree that is not in `knownRoot`'s and not stored here: a missing
 * tree node when the walk meets it (rare: a pull sends the new nodes), the parts of every 8,192
 * addresses in one request. `since` should be the newest snapshot the remote knows we have, so that the
 * requests carry just the wanted objects.
 */
async function fetchMissing(v: Vault, remote: Remote, knownRoot: Address | null, head: Address, report: SyncReport, opts: SyncOptions, since: Address | null = head): Promise<void> {
  const want = async (addrs: Address[]) => {
    const have = await v.store.hasObjects(addrs);
    const need = addrs.filter((a) => !have.has(a));
    if (!need.length) return;
    const r = await remote.pull(since, need, (p) => ingestPack(v, p, report, opts));
    if (r.missing.length) throw new SyncError(`the remote lacks ${r.missing.length} objects of its own head (first: ${r.missing[0]}); run verify`, "remote_incomplete");
  };
  await want([head]);
  const root = (await v.snapshot(head)).root;
  await want([root]);
  // Walk the new part of the tree level by level, fetching each level's missing nodes in one request.
  const load = async (a: Address) => {
    let b = await v.readStored(a);
    if (!b) {
      await want([a]);
      b = await v.readStored(a);
    }
    if (!b) throw new SyncError(`object ${a} could not be fetched`, "remote_incomplete");
    return b;
  };
  // The new part of the tree, streamed (tree-walk.ts): the parts of each batch of changes are
  // fetched together, so a clone never lists the whole tree's entries or addresses.
  let refs: Address[] = [];
  let lists: Address[] = [];
  const flush = async () => {
    await want(refs);
    const chunks: Address[] = [];
    for (const l of lists) for (const ch of decodeChunkList(await load(l)).chunks) chunks.push(ch.addr);
    await want(chunks);
    refs = [];
    lists = [];
  };
  for await (const c of walkTreeDiff(knownRoot, root, load)) {
    if (!c.after) continue;
    refs.push(...entryRefs(c.after));
    if (c.after.chunked && c.after.note) lists.push(c.after.note);
    if (refs.length >= MISSING_BATCH) await flush();
  }
  await flush();
}

/**
 * Encrypted vaults do not trust the server with anything but storage: before a device fast-forwards
 * to the remote head, that head must descend from the snapshot the device last synced (snapshots
 * are sealed, so the server cannot forge that history). A server that rolled the vault back, forked
 * it between devices or withheld history gets a clear error instead of a silent step back in time.
 */
async function checkDescends(v: Vault, base: Address | null, head: Address): Promise<void> {
  if (!v.encrypted || !base || base === head) return;
  const lcas = await mergeBases(v, base, head);
  if (lcas.length !== 1 || lcas[0] !== base)
    throw new SyncError(`the remote head ${head} does not descend from this device's last synced ${base} (the server rolled back, forked or withheld history); nothing was applied`, "rollback");
}

/** Uploads the unpushed local packs and commits the head. Throws RemoteError head_moved on a lost CAS. */
async function pushHead(v: Vault, remote: Remote, report: SyncReport, opts: SyncOptions): Promise<void> {
  const head = v.refs.head as Address;
  const snap = await v.snapshot(head);
  const target = opts.requestTarget ?? DEFAULT_REQUEST_TARGET;
  const packIds = [...v.refs.unpushed];
  const batches: Address[][] = [];
  let cur: Address[] = [];
  let curBytes = 0;
  const sizes = new Map<Address, number>();
  for (const id of packIds) {
    if (opts.sentPacks?.has(id)) continue;
    // Sized without reading it where the store can (files): every pack is read once, when sent.
    const size = v.store.packSize ? await v.store.packSize(id) : (await v.store.getPack(id))?.length;
    if (size === undefined) throw new SyncError(`local pack ${id} is missing; the local state is damaged (run verify)`, "local_corrupt");
    sizes.set(id, size);
    if (cur.length && curBytes + size > target) {
      batches.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(id);
    curBytes += size;
  }
  const last = cur;
  const read = async (ids: Address[]) => Promise.all(ids.map(async (id) => (await v.store.getPack(id)) as Uint8Array));
  const wire = await deltaPusher(v, remote, opts.deltas !== false);
  // Every batch but the last goes up first (two at a time); the last carries the commit.
  let sent = 0;
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  for (let i = 0; i < batches.length; i += 2) {
    await Promise.all(
      batches.slice(i, i + 2).map(async (ids) => {
        await wire.push(await read(ids));
        report.uploaded.requests++;
        report.uploaded.packs += ids.length;
        sent += ids.reduce((n, id) => n + (sizes.get(id) ?? 0), 0);
        opts.onProgress?.({ phase: "upload", bytes: sent, total });
      }),
    );
  }
  report.uploaded.requests++;
  const commit = { snapshot: head, parents: snap.parents, expect: v.refs.base, packs: packIds };
  const lastPacks = await read(last);
  try {
    await wire.push(lastPacks, commit);
  } catch (e) {
    if (!(e instanceof RemoteError && e.code === "missing_objects")) throw e;
    // The remote lost objects this device believed it had (garbage-collected since): send them
    // again from the local store, once; a second refusal is not something a retry can fix.
    const again = await reuploadForCommit(v, remote, e, last.map((id, i) => ({ id, bytes: lastPacks[i] })), commit);
    report.uploaded.requests++;
    report.reuploaded += again.objects;
    try {
      await remote.push(again.packs, again.commit);
    } catch (e2) {
      if (e2 instanceof RemoteError && e2.code === "missing_objects") throw new SyncError(`the remote still lacks objects of this snapshot after sending them again: ${e2.message}; run verify`, "remote_incomplete");
      throw e2;
    }
  }
  report.uploaded.packs += last.length;
  opts.onProgress?.({ phase: "upload", bytes: total, total });
  for (const id of packIds) await v.store.releasePack(id);
  await v.setRefs({ base: head, unpushed: [], unpushedBytes: 0 });
}

/** A retry merges again: report each conflict and re-embed request once. */
function addConflicts(report: SyncReport, m: { conflicts: SyncReport["conflicts"]; needsEmbedding: string[] }): void {
  const seen = new Set(report.conflicts.map((c) => JSON.stringify(c)));
  for (const c of m.conflicts) if (!seen.has(JSON.stringify(c))) report.conflicts.push(c);
  for (const id of m.needsEmbedding) if (!report.needsEmbedding.includes(id)) report.needsEmbedding.push(id);
}

/** pull + merge + push. */
export async function sync(v: Vault, remote: Remote, opts: SyncOptions = {}): Promise<SyncReport> {
  const report = emptyReport();
  const start = snapshotStats(remote);
  const sleep = opts.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const before = v.headRoot;
  const committed = await v.commit();
  if (committed.changes.length) report.pushed = countChanges(committed.changes);
  const maxAttempts = opts.maxAttempts ?? 6;
  for (let attempt = 0; ; attempt++) {
    if (attempt >= maxAttempts) throw new SyncError(`gave up after ${attempt} attempts: other devices keep moving the head`, "too_many_conflicts");
    const { head, base } = v.refs;
    if (head === base) {
      const res = await pullSince(v, remote, base, report, opts);
      if (res.head && res.head.snapshot !== base) {
        await checkDescends(v, base, res.head.snapshot);
        await v.loadWorking(res.head.snapshot);
        await v.setRefs({ head: res.head.snapshot, base: res.head.snapshot, unpushed: [], unpushedBytes: 0 });
      }
      break;
    }
    try {
      // A large upload first asks (cheaply) whether the remote moved, rather than being sent twice.
      if (attempt === 0 && (v.refs.unpushedBytes ?? 0) > LOOK_BEFORE_PUSH && (await remote.info())?.head?.snapshot !== (base ?? undefined)) throw new RemoteError(409, "head_moved", "remote moved (checked before upload)");
      await pushHead(v, remote, report, opts);
      break;
    } catch (e) {
      if (!(e instanceof RemoteError && e.code === "head_moved")) throw e;
      report.retries++;
      const res = await pullSince(v, remote, base, report, opts);
      if (!res.head) throw new SyncError("the remote head vanished during sync", "remote_reset");
      const remoteHead = res.head.snapshot;
      const localHead = head as Address;
      const anc = await mergeBase(v, localHead, remoteHead);
      const [ls, rs] = await Promise.all([v.snapshot(localHead), v.snapshot(remoteHead)]);
      const m = await mergeTrees(v, anc ? (await v.snapshot(anc)).root : null, { root: ls.root, device: ls.device }, { root: rs.root, device: rs.device });
      report.merged = true;
      addConflicts(report, m);
      if (m.tree.root === rs.root) {
        // The remote already holds everything we had: adopt its head, nothing to push.
        await v.loadWorking(remoteHead);
        await v.setRefs({ head: remoteHead, base: remoteHead, unpushed: [], unpushedBytes: 0 });
        break;
      }
      await v.writeSnapshot(m.tree, [localHead, remoteHead], "merge", true, { base: remoteHead });
      await sleep(Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random()));
    }
  }
  report.snapshot = v.refs.head;
  const after = v.headRoot;
  if (after && after !== before) {
    const pushedIds = new Set(committed.changes.map((c) => c.id));
    report.changes = await countChangesOf(walkTreeDiff(before, after, v.load), (c) => !pushedIds.has(c.id) || report.merged);
  }
  return finishReport(report, remote, start);
}

/** Push only: fails with head_moved (no merge) when the remote moved. */
export async function push(v: Vault, remote: Remote, opts: SyncOptions = {}): Promise<SyncReport> {
  const report = emptyReport();
  const start = snapshotStats(remote);
  const c = await v.commit();
  report.pushed = countChanges(c.changes);
  if (v.refs.head && v.refs.head !== v.refs.base) await pushHead(v, remote, report, opts);
  report.snapshot = v.refs.head;
  return finishReport(report, remote, start);
}

/** Pull only: fast-forwards when this device has nothing unpushed, else merges locally (push later). */
export async function pull(v: Vault, remote: Remote, opts: SyncOptions = {}): Promise<SyncReport> {
  const report = emptyReport();
  const start = snapshotStats(remote);
  const before = v.headRoot;
  await v.commit();
  const { head, base } = v.refs;
  const res = await pullSince(v, remote, base, report, opts);
  if (res.head && res.head.snapshot !== base) {
    if (head === base) {
      await checkDescends(v, base, res.head.snapshot);
      await v.loadWorking(res.head.snapshot);
      await v.setRefs({ head: res.head.snapshot, base: res.head.snapshot, unpushed: [], unpushedBytes: 0 });
    } else {
      const remoteHead = res.head.snapshot;
      const anc = await mergeBase(v, head as Address, remoteHead);
      const [ls, rs] = await Promise.all([v.snapshot(head as Address), v.snapshot(remoteHead)]);
      const m = await mergeTrees(v, anc ? (await v.snapshot(anc)).root : null, { root: ls.root, device: ls.device }, { root: rs.root, device: rs.device });
      report.merged = true;
      addConflicts(report, m);
      // base moves with the head, in one refs write (see Vault.writeSnapshot).
      if (m.tree.root === rs.root) {
        await v.loadWorking(remoteHead);
        await v.setRefs({ head: remoteHead, base: remoteHead, unpushed: [], unpushedBytes: 0 });
      } else await v.writeSnapshot(m.tree, [head as Address, remoteHead], "merge", true, { base: remoteHead });
    }
  }
  report.snapshot = v.refs.head;
  if (v.headRoot && v.headRoot !== before) report.changes = await countChangesOf(walkTreeDiff(before, v.headRoot, v.load));
  return finishReport(report, remote, start);
}
