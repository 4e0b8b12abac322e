// Uploading packs while a big scan still produces them. A scan packs what it staged every 16 MiB
// (Vault.flushStaged) into unpushed packs; sending those at once, without a commit, lets the
// client's scan and the server's ingest overlap instead of adding up (an initial push of 100,000
// notes spent 49 s scanning and committing, then 76 s in the server's ingest). The server keeps
// such packs pending until a commit lists them (docs/protocol.md, "push"); the push then sends
// only the packs not sent here and still lists every unpushed pack in its commit.
//
// Best effort: an upload that fails stops the early uploads, and the push sends what is left (and
// reports the error, if it persists). Nothing here moves a ref.
import type { Address } from "../core/hash.ts";
import type { Vault } from "../vault/vault.ts";
import type { Remote } from "../remote/remote.ts";

export class EarlyUpload {
  /** Unpushed packs the remote holds now (pending until a commit lists them). */
  readonly sent = new Set<Address>();
  /** Requests sent (their bytes are in the remote's stats). */
  requests = 0;
  private running: Promise<void> | null = null;
  private failure: unknown = null;
  private stopped = false;
  private looked = 0;
  /** Packs unpushed before this scan (an earlier push that failed): left to the push, as before. */
  private readonly older: Set<Address>;

  constructor(
    private readonly v: Vault,
    private readonly remote: Remote,
    /**
     * Pack bytes per request: about one pack (4 MiB), where the push's own target is 16. A request's
     * packs are held in memory until the server answers, and these go out in the middle of a scan,
     * beside its staged objects and the packs being built. At 100,000 notes an initial push then
     * makes 55 requests instead of 23 (its peak, measured together with cli/id-list.ts's listings:
     * 363/350/348 -> 298/306/313 MiB in alternating runs).
     */
    private readonly requestTarget = 4 * 1024 * 1024,
  ) {
    this.older = new Set(v.refs.unpushed);
  }

  /** The error that stopped early uploads, if one did. */
  get error(): unknown {
    return this.failure;
  }

  /**
   * Starts sending the packs flushed since this was made and not sent yet (cheap to call after
   * every file: it looks only when there are new packs). Call it while scanning, not after the
   * commit: the commit's pack goes with the push, which may find the head moved first.
   */
  poke(): void {
    const unpushed = this.v.refs.unpushed;
    if (this.stopped || this.running || this.failure !== null || unpushed.length === this.looked) return;
    this.looked = unpushed.length;
    const ids = unpushed.filter((id) => !this.sent.has(id) && !this.older.has(id));
    if (!ids.length) return;
    this.running = this.upload(ids).then(
      () => {
        this.running = null;
        this.looked = 0; // packs may have come while this upload ran
        this.poke();
      },
      (e: unknown) => {
        this.running = null;
        this.failure = e;
      },
    );
  }

  /**
   * Starts no more uploads and waits for the one running (its error is not thrown: see `error`).
   * Called once the scan is over: packs that come later (the commit's own) go with the push.
   */
  async settle(): Promise<void> {
    this.stopped = true;
    while (this.running) await this.running;
  }

  private async upload(ids: Address[]): Promise<void> {
    let batch: Uint8Array[] = [];
    let batchIds: Address[] = [];
    let size = 0;
    const send = async () => {
      if (!batch.length) return;
      await this.remote.push(batch);
      this.requests++;
      for (const id of batchIds) this.sent.add(id);
      batch = [];
      batchIds = [];
      size = 0;
    };
    for (const id of ids) {
      const pack = await this.v.store.getPack(id);
      if (!pack) continue; // the push reports a missing local pack
      if (batch.length && size + pack.length > this.requestTarget) await send();
      batch.push(pack);
      batchIds.push(id);
      size += pack.length;
    }
    await send();
  }
}
