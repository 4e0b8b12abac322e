// The vault's stores (worker/vault-schema.ts ... repair-store.ts) built over a Durable Object's own
// storage, as its constructor builds them: the tests of each store call it directly, inside the
// object (runInDurableObject), and read the tables it owns.
import { env, runInDurableObject } from "cloudflare:test";
import { decodePackHeader, type BuiltPack } from "../../engine/core/pack.ts";
import { GcStore } from "../../worker/gc-store.ts";
import { ObjectIndex } from "../../worker/object-index.ts";
import { PackIndex } from "../../worker/pack-index.ts";
import { PackStore } from "../../worker/pack-store.ts";
import { RepairStore } from "../../worker/repair-store.ts";
import { SnapshotLog } from "../../worker/snapshot-log.ts";
import { VaultRecord } from "../../worker/vault-record.ts";
import { VaultDb, VaultMeta } from "../../worker/vault-schema.ts";

export const PLAIN = { format: 1 as const, addressing: "sha256" as const, encryption: null };

export function storesOf(state: DurableObjectState) {
  const db = new VaultDb(state);
  const meta = new VaultMeta(db.sql);
  const store = () => new PackStore(env.BUCKET, meta.vaultName());
  const packs = new PackIndex(db, meta, store);
  const objects = new ObjectIndex(db, meta);
  const log = new SnapshotLog(db, meta, packs, objects);
  return { db, sql: db.sql, meta, store, packs, objects, log, vault: new VaultRecord(db, meta, log), gc: new GcStore({ db, meta, packs, objects, log, store }), repair: new RepairStore(db, meta, packs) };
}

export type Stores = ReturnType<typeof storesOf>;

/** Runs `fn` inside the Durable Object of vault `name`, created (plain) unless `create` is false. */
export async function inVault<T>(name: string, fn: (s: Stores) => T | Promise<T>, create = true): Promise<T> {
  const stub = env.VAULT.get(env.VAULT.idFromName(name));
  if (create) await stub.create(name, PLAIN);
  return runInDurableObject(stub, (_o, state) => fn(storesOf(state)));
}

export const headerOf = (p: BuiltPack) => p.bytes.slice(0, decodePackHeader(p.bytes).headerEnd);

/** Stores pack `p` in R2 and registers it (uploading), as a push does; answers its R2 key. */
export async function putAndRegister(s: Stores, p: BuiltPack): Promise<string> {
  const key = s.store().key(p.id);
  await env.BUCKET.put(key, p.bytes);
  s.packs.register(p.id, p.bytes.length, headerOf(p));
  return key;
}

/** The state and uploaders of a pack, or undefined when the index does not know it. */
export function packRow(sql: SqlStorage, id: string): { state: string; uploaders: number } | undefined {
  return sql.exec<{ state: string; uploaders: number }>("SELECT state, uploaders FROM packs WHERE id = ?", id).toArray()[0];
}
