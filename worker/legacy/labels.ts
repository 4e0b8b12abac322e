// Snapshot labels: the Penumbra app's client may name the snapshot of a push itself (`snapshotId`
// in the body) and later send that name back as `?since=`. The name is the client's, so it is only
// a label: validated, stored as data next to the vault's packs in R2, mapped to the snapshot the
// server made, and never used as an address. A label, once mapped, is never moved (a later push
// reusing it is answered with its own snapshot id instead), so a pull since a label never skips a
// change made after the snapshot it first named.
//
//   vaults/<vault>/labels/by-label/<sha256 hex of the label>   {"label", "snapshot"}
//   vaults/<vault>/labels/by-snapshot/<snapshot>               {"label", "snapshot"}
//
// Labels are meant to be fresh (the app makes UUIDs). Two pushes racing with the same NEW label
// both write it; each reads it back and answers the label only if it still names its snapshot,
// which narrows, but does not close, that race (R2 has no compare-and-swap we rely on here).
import { utf8 } from "../../engine/core/bytes.ts";
import { addressOf, isAddress, type Address } from "../../engine/core/hash.ts";
import type { PackBucket } from "../counting-bucket.ts";
import { ApiError, badRequest } from "../http.ts";

/** Visible ASCII, 1 to 128 characters: UUIDs and names like "snap-1" pass; nothing that needs escaping in a log line. */
const LABEL_RE = /^[\x21-\x7e]{1,128}$/;

export const isLabelText = (v: unknown): v is string => typeof v === "string" && LABEL_RE.test(v);

/**
 * A push's `snapshotId`: null when absent or when it is a snapshot address (64 lowercase hex: the
 * server's own namespace, which a label may not enter); 400 when it is not a label.
 */
export function parseLabel(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (!isLabelText(v)) throw badRequest(`${where} must be 1 to 128 visible ASCII characters (a snapshot label, e.g. a UUID)`);
  return isAddress(v) ? null : v;
}

interface LabelRecord {
  label: string;
  snapshot: Address;
}

export class SnapshotLabels {
  constructor(
    private readonly bucket: PackBucket,
    private readonly vault: string,
  ) {}

  private byLabelKey(label: string): string {
    return `vaults/${this.vault}/labels/by-label/${addressOf(utf8(label))}`;
  }
  private bySnapshotKey(snapshot: Address): string {
    return `vaults/${this.vault}/labels/by-snapshot/${snapshot}`;
  }

  /** A stored record, checked: it must name this label and hold an address (else it is ignored). */
  private async read(key: string, label?: string): Promise<LabelRecord | null> {
    let text: string;
    try {
      const obj = await this.bucket.get(key);
      if (!obj) return null;
      text = await obj.text();
    } catch (e) {
      throw new ApiError(503, "storage_unavailable", `reading a snapshot label failed (${(e as Error)?.message ?? e}); nothing was changed, retry`);
    }
    try {
      const r = JSON.parse(text) as LabelRecord;
      if (typeof r.label === "string" && LABEL_RE.test(r.label) && isAddress(r.snapshot) && (label === undefined || r.label === label)) return r;
    } catch {
      // a damaged record is treated as absent
    }
    return null;
  }

  /** The snapshot a label names, or null when it names none. */
  async resolve(label: string): Promise<Address | null> {
    return (await this.read(this.byLabelKey(label), label))?.snapshot ?? null;
  }

  /** The label that first named a snapshot, or null. */
  async labelOf(snapshot: Address): Promise<string | null> {
    return (await this.read(this.bySnapshotKey(snapshot)))?.label ?? null;
  }

  /**
   * Maps `label` to `snapshot` unless it already names another snapshot. Returns the id the client
   * should use for this snapshot: the label when it names it, else the snapshot's own id.
   */
  async assign(label: string, snapshot: Address): Promise<string> {
    const key = this.byLabelKey(label);
    const existing = await this.read(key, label);
    if (existing) return existing.snapshot === snapshot ? label : snapshot;
    const record = JSON.stringify({ label, snapshot } satisfies LabelRecord);
    const meta = { httpMetadata: { contentType: "application/json" } };
    await this.bucket.put(key, record, meta);
    const back = await this.read(key, label); // a racing push with the same label may have won
    if (back?.snapshot !== snapshot) return snapshot;
    if (!(await this.read(this.bySnapshotKey(snapshot)))) await this.bucket.put(this.bySnapshotKey(snapshot), record, meta);
    return label;
  }

  /** The id clients see for a snapshot: its label if one names it, else the snapshot id itself. */
  async publicId(snapshot: Address | null): Promise<string | null> {
    if (!snapshot) return null;
    // The snapshot's own id is always a valid answer: a label that cannot be read is not worth an error.
    return (await this.labelOf(snapshot).catch(() => null)) ?? snapshot;
  }
}
