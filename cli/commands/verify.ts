// verify <dir> [--repair]: re-hash every object this device holds for its head, have the remote read
// back (and re-hash) every object of the head, and name the notes any damage touches. --repair sends
// the damaged remote objects again from this device (engine/sync/repair.ts), then checks again.
import { parse, emit } from "../args.ts";
import { openFolder, tokenFrom, explain } from "../context.ts";
import { CliError } from "../errors.ts";
import type { Address } from "../../engine/core/hash.ts";
import { objectsOf, notesOf, type ObjectMap } from "../../engine/sync/objects-of.ts";
import { checkRemote, repairRemote, type RepairResult } from "../../engine/sync/repair.ts";
import type { FolderContext } from "../context.ts";

export const summary = "Re-hash local and remote objects, report any corruption (and which notes it touches); --repair re-uploads what this device holds.";
export const usage = "penumbra-sync verify <dir> [--repair] [--token <t>] [--json]";

interface LocalCheck {
  checked: number;
  corrupt: { addr: Address; notes: string[]; error: string }[];
}

/** Every object of the head, read back from the local store (which checks each hash). */
async function checkLocal(ctx: FolderContext, head: Address | null): Promise<{ objects: ObjectMap; local: LocalCheck }> {
  const v = ctx.vault;
  const local: LocalCheck = { checked: 0, corrupt: [] };
  if (!head) return { objects: new Map(), local };
  const unreadable = new Map<Address, string>();
  const objects = await objectsOf(v, head, { unreadable });
  for (const [addr, use] of objects) {
    local.checked++;
    let error = unreadable.get(addr);
    if (error === undefined) {
      try {
        if (!(await v.readStored(addr))) error = "not in the local store";
      } catch (e) {
        error = (e as Error).message;
      }
    }
    if (error !== undefined) local.corrupt.push({ addr, notes: use.notes, error });
  }
  return { objects, local };
}

/**
 * Encrypted vaults: the server cannot re-hash sealed objects, so everything it serves is pulled and
 * authenticated here instead; objects of the head the pull did not deliver are reported missing.
 */
async function checkRemoteByPull(ctx: FolderContext, objects: ObjectMap, errors: string[]): Promise<Address[]> {
  const seen = new Set<Address>();
  try {
    await ctx.remote.pull(null, [], async (pack) => {
      try {
        for (const o of await ctx.vault.readPack(pack)) seen.add(o.addr);
      } catch (e) {
        errors.push((e as Error).message);
      }
    });
  } catch (e) {
    errors.push(`the pull was cut short: ${(e as Error).message}`);
  }
  return [...objects.keys()].filter((a) => !seen.has(a));
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { repair: { type: "boolean" } });
  const ctx = await openFolder(positionals[0], tokenFrom(values.token));
  try {
    const v = ctx.vault;
    const head = v.refs.head;
    const { objects, local } = await checkLocal(ctx, head);
    const info = await ctx.remote.info();
    if (!info) throw new CliError(`the vault ${ctx.config.vault} does not exist on the server`, "run init again", "unknown_vault");
    const remoteHead = info.head?.snapshot ?? null;
    // The remote is checked against this device's head: only then does this device know its objects.
    const comparable = remoteHead !== null && remoteHead === head;
    const remote = { checked: 0, damaged: [] as Address[], missing: [] as Address[], errors: [] as string[], note: "" };
    if (!comparable) remote.note = remoteHead === null ? "the remote vault is empty" : "the remote head differs from this device's: sync first to check the remote against it";
    else if (!v.encrypted) {
      const r = await checkRemote(ctx.remote, [...objects.keys()]);
      remote.checked = objects.size;
      remote.damaged = r.damaged;
      remote.missing = r.missing;
    } else {
      remote.checked = objects.size;
      remote.missing = await checkRemoteByPull(ctx, objects, remote.errors);
    }
    const remoteBad = [...remote.damaged, ...remote.missing];
    let repair: (RepairResult & { repairedNotes: string[]; remainingNotes: string[] }) | null = null;
    let repairNote = "";
    if (values.repair && remoteBad.length) {
      if (v.encrypted)
        repairNote =
          "the server cannot check encrypted objects, so it accepts no repair uploads. What you can do: edit the affected notes (any change gives them new addresses, which the next sync sends), or init a new encrypted vault from a copy of this folder and sync it.";
      else {
        const r = await repairRemote(v, ctx.remote, objects, remote.damaged, remote.missing);
        repair = { ...r, repairedNotes: notesOf(objects, r.repaired), remainingNotes: notesOf(objects, r.remaining) };
      }
    }
    const remaining = repair ? repair.remaining : remoteBad;
    const affected = notesOf(objects, [...local.corrupt.map((c) => c.addr), ...remoteBad]);
    const ok = local.corrupt.length === 0 && remaining.length === 0 && remote.errors.length === 0;
    const out = { ok, head, remoteHead, local, remote, affectedNotes: affected, repair, ...(repairNote ? { repairNote } : {}) };
    emit(values.json, out, () => {
      const lines = [
        `local: ${local.checked} object(s) checked, ${local.corrupt.length} corrupt${local.corrupt.length ? `: notes ${notesOf(objects, local.corrupt.map((c) => c.addr)).join(", ") || "(tree structure)"}` : ""}`,
        remote.note
          ? `remote: not checked (${remote.note})`
          : `remote: ${remote.checked} object(s) checked, ${remote.damaged.length} damaged, ${remote.missing.length} missing`,
        ...remote.errors.slice(0, 5).map((e) => `  ${e}`),
      ];
      if (remoteBad.length) lines.push(`remote damage touches notes: ${notesOf(objects, remoteBad).join(", ") || "(tree structure only)"}`);
      if (repair) {
        lines.push(`repair: uploaded ${repair.uploaded.length} object(s) in ${repair.requests} request(s) (${repair.bytes} B)`);
        lines.push(`  repaired: ${repair.repaired.length} object(s); notes: ${repair.repairedNotes.join(", ") || "(tree structure only)"}`);
        if (repair.remaining.length)
          lines.push(`  still damaged: ${repair.remaining.length} object(s) (${repair.notHeld.length} not held intact here); notes: ${repair.remainingNotes.join(", ") || "(tree structure only)"}`);
      } else if (remoteBad.length && !values.repair && !v.encrypted) lines.push("run verify --repair to upload intact copies from this device");
      if (repairNote) lines.push(repairNote);
      lines.push(ok ? "ok" : `not ok${local.corrupt.length ? " (the local store is damaged: move .penumbra-sync away and init again to re-clone)" : ""}`);
      return lines.join("\n");
    });
    return ok ? 0 : 1;
  } catch (e) {
    explain(e, ctx);
  } finally {
    await ctx.store.close();
  }
}
