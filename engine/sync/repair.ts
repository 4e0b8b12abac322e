// Sending objects again that the remote lost, from this device's store.
//
// - repairRemote (`verify --repair`): objects the remote holds damaged are re-packed from the local
//   store (each re-hashed on the way out) and uploaded through the repair route, which makes them
//   the located copy; then the remote is checked again. Objects the remote does not know at all
//   cannot come this way (the route takes only replacements of committed objects).
// - reuploadForCommit (sync, after a commit answered `missing_objects`): the remote's garbage
//   collection removed objects this device's snapshot relies on (it believed the remote had them);
//   the objects of the change that the remote now lacks are re-packed and sent with the commit.
import type { Address } from "../core/hash.ts";
import { decodePackHeader, PackBuilder } from "../core/pack.ts";
import { RemoteError, type CommitRequest, type Remote } from "../remote/remote.ts";
import type { Vault } from "../vault/vault.ts";
import { objectsOf, type ObjectMap } from "./objects-of.ts";

/** Raw bytes per re-built pack: well under the server's MAX_PACK_BYTES (8 MiB by default). */
const REPACK_TARGET = 4 * 1024 * 1024;
/** Packs per repair request. */
const REQUEST_TARGET = 16 * 1024 * 1024;
/** Addresses per check request (the route's limit). */
const CHECK_BATCH = 10_000;

export interface Repacked {
  packs: { id: Address; bytes: Uint8Array }[];
  /** Objects put into the packs. */
  packed: Address[];
  /** Objects this device does not hold intact (not stored here, or failing their hash check here). */
  notHeld: Address[];
}

/**
 * Packs these objects from the local store as a push would (same frame codecs; in encrypted vaults
 * the stored sealed bytes, in stored frames). The store checks every object it returns, so nothing
 * damaged here goes out.
 */
export async function repackObjects(v: Vault, objects: ObjectMap, addrs: Iterable<Address>): Promise<Repacked> {
  const out: Repacked = { packs: [], packed: [], notHeld: [] };
  let b = new PackBuilder();
  const flush = async () => {
    if (!b.objectCount) return;
    const built = await b.finish(v.compressor);
    out.packs.push({ id: built.id, bytes: built.bytes });
    b = new PackBuilder();
  };
  for (const addr of addrs) {
    const use = objects.get(addr);
    let bytes: Uint8Array | undefined;
    try {
      bytes = await v.store.getObject(addr);
    } catch {
      bytes = undefined; // damaged here too
    }
    if (!use || !bytes) {
      out.notHeld.push(addr);
      continue;
    }
    if ((b.rawBytes > 0 && b.rawBytes + bytes.length > REPACK_TARGET) || b.full) await flush();
    b.add(use.type, addr, bytes, v.encrypted ? false : use.codec);
    out.packed.push(addr);
  }
  await flush();
  return out;
}

/** Remote objects that cannot be served: damaged (unreadable or failing their hash) or not stored. */
export async function checkRemote(remote: Remote, addrs: readonly Address[]): Promise<{ damaged: Address[]; missing: Address[] }> {
  if (!remote.check) throw new RemoteError(0, "not_supported", "this remote cannot check stored objects");
  const out = { damaged: [] as Address[], missing: [] as Address[] };
  for (let i = 0; i < addrs.length; i += CHECK_BATCH) {
    const r = await remote.check(addrs.slice(i, i + CHECK_BATCH));
    out.damaged.push(...r.damaged);
    out.missing.push(...r.missing);
  }
  return out;
}

export interface RepairResult {
  /** Objects uploaded. */
  uploaded: Address[];
  /** Objects the remote serves correctly after the repair (of those asked for). */
  repaired: Address[];
  /** Objects still damaged or missing on the remote (this device did not hold them intact, or the upload did not take). */
  remaining: Address[];
  /** Of `remaining`, the ones this device does not hold intact. */
  notHeld: Address[];
  requests: number;
  bytes: number;
}

/**
 * Uploads the objects of `damaged` this device holds intact through the repair route (plain vaults;
 * the server checks every object's hash), then checks `damaged` and `missing` again. `missing`
 * (objects the remote's index does not hold) stay in `remaining`: the route refuses them.
 */
export async function repairRemote(v: Vault, remote: Remote, objects: ObjectMap, damaged: readonly Address[], missing: readonly Address[] = []): Promise<RepairResult> {
  if (v.encrypted) throw new RemoteError(409, "encrypted_vault", "the server cannot check encrypted objects, so it does not accept repairs");
  if (!remote.repair) throw new RemoteError(0, "not_supported", "this remote cannot take repairs");
  const bad = [...damaged, ...missing];
  const re = await repackObjects(v, objects, damaged);
  let requests = 0;
  let bytes = 0;
  for (let i = 0; i < re.packs.length; ) {
    const batch: Uint8Array[] = [];
    let size = 0;
    while (i < re.packs.length && (!batch.length || size + re.packs[i].bytes.length <= REQUEST_TARGET)) {
      batch.push(re.packs[i].bytes);
      size += re.packs[i++].bytes.length;
    }
    await remote.repair(batch);
    requests++;
    bytes += size;
  }
  const after = await checkRemote(remote, bad);
  const remaining = new Set([...after.damaged, ...after.missing]);
  return {
    uploaded: re.packed,
    repaired: bad.filter((a) => !remaining.has(a)),
    remaining: bad.filter((a) => remaining.has(a)),
    notHeld: re.notHeld.filter((a) => remaining.has(a)),
    requests,
    bytes,
  };
}

/**
 * After a commit answered `missing_objects`: the request to send instead. It carries the commit's
 * own packs again (the failed request was rolled back) plus, re-packed from the local store, every
 * object of the change since the commit's `expect` that the remote does not hold; packs the
 * remote reported gone are no longer listed.
 */
export async function reuploadForCommit(
  v: Vault,
  remote: Remote,
  failure: RemoteError,
  last: readonly { id: Address; bytes: Uint8Array }[],
  commit: CommitRequest,
): Promise<{ packs: Uint8Array[]; commit: CommitRequest; objects: number }> {
  const sentAgain = new Set<Address>();
  const lastIds = new Set(last.map((p) => p.id));
  for (const p of last) for (const o of decodePackHeader(p.bytes).objects) sentAgain.add(o.addr);
  // The remote holds `expect` whole (it is its head, or the commit would have been head_moved), so
  // what it may lack is within the change from `expect` to the snapshot.
  const change = await objectsOf(v, commit.snapshot, { since: commit.expect });
  for (const a of (failure.body?.missing as Address[] | undefined) ?? []) if (!change.has(a)) throw failure; // not ours to resend
  const candidates = [...change.keys()].filter((a) => !sentAgain.has(a));
  const absent = candidates.length ? await remote.missing(candidates) : [];
  const re = await repackObjects(v, change, absent);
  if (re.notHeld.length) throw failure;
  const gone = new Set(((failure.body?.packs as Address[] | undefined) ?? []).filter((id) => !lastIds.has(id)));
  const packs = [...new Set([...commit.packs.filter((id) => !gone.has(id)), ...re.packs.map((p) => p.id)])];
  return { packs: [...last.map((p) => p.bytes), ...re.packs.map((p) => p.bytes)], commit: { ...commit, packs }, objects: re.packed.length };
}
