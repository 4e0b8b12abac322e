// One vault of the load run (bench/load.ts) and the engine clients that sync it: seeding, rounds of
// concurrent edits and syncs, convergence, and the final checks (every client holds the same
// vault as the server, and no line any client wrote was lost).
//
// Clients are engine Vaults over MemoryStore in this process, each with its own HttpRemote; their
// requests go through the run's recording fetch. Every edit inserts one line no one else writes,
// so "lost" can be decided by content.
import { HttpRemote, MemoryStore, RemoteError, SyncError, Vault, sync } from "../engine/index.ts";
import { nodeCompressor } from "../engine/node/native.ts";
import type { JsonObject } from "../engine/core/canonical.ts";
import { generateVault, makeRng, type Rng } from "../sample/generator.ts";
import { pick } from "./edits.ts";
import { lostLines, originalIdOf } from "./load-checks.ts";

export interface LoadEnv {
  /** Server (or proxy) URL, token, and the recording fetch every client uses. */
  url: string;
  token: string;
  fetch: typeof fetch;
  /** The run's time bound: once aborted, every client stops at its next step. */
  signal: AbortSignal;
}

export interface VaultSpec {
  name: string;
  clients: number;
  notes: number;
  seed: number;
}

/** What one vault's clients did and what the checks found. */
export interface VaultOutcome {
  vault: string;
  clients: number;
  /** Completed syncs (each may have taken several push attempts). */
  syncs: number;
  /** Push attempts lost to another client (409 head_moved), summed over the sync reports. */
  casRetries: number;
  /** Syncs that gave up after the engine's attempt limit (too_many_conflicts); the next sync carries their change. */
  gaveUp: number;
  /**
   * Syncs that failed because a request got no answer even after HttpRemote's retries (the device
   * keeps its change and the next sync sends it, as an app would). Any of these fails the run.
   */
  unreachable: string[];
  /** Syncs that merged a concurrent head. */
  merges: number;
  linesWritten: number;
  /** Notes in the final state, and how many of them are conflict copies. */
  notesAtEnd: number;
  conflictCopies: number;
  /** Quiet passes (every client syncing in turn) it took until all agreed. */
  convergePasses: number;
  /** Every client's head is the same snapshot, fully pushed, and is the server's head. */
  converged: boolean;
  /** A fresh device pulling the vault from scratch gets the clients' manifest root. */
  cloneMatches: boolean;
  /** Lines (and seeded notes) missing from the final state; empty = nothing lost. */
  lost: string[];
  /** Failures other than lost compare-and-swap races (any of these fails the run). */
  errors: string[];
}

interface Client {
  name: string;
  vault: Vault;
  remote: HttpRemote;
}

/**
 * Lets timers and socket events run between client steps. Engine steps over a MemoryStore are
 * chains of microtasks that never yield, and dozens of clients share this process's event loop.
 */
const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** How many notes each client edits per round; the first is the vault's "hot" note that every client edits. */
const EDITS_PER_ROUND = 3;
/** The engine's default attempt limit, as an app would run it. */
const MAX_ATTEMPTS = 6;
const MAX_CONVERGE_PASSES = 4;

export class LoadVault {
  readonly outcome: VaultOutcome;
  private readonly clients: Client[] = [];
  private readonly rng: Rng;
  private seededIds: string[] = [];
  /** line -> note id it was inserted into. */
  private readonly written = new Map<string, string>();

  constructor(readonly spec: VaultSpec, private readonly env: LoadEnv) {
    this.rng = makeRng(spec.seed);
    this.outcome = { vault: spec.name, clients: spec.clients, syncs: 0, casRetries: 0, gaveUp: 0, unreachable: [], merges: 0, linesWritten: 0, notesAtEnd: 0, conflictCopies: 0, convergePasses: 0, converged: false, cloneMatches: false, lost: [], errors: [] };
  }

  private async newClient(name: string): Promise<Client> {
    const remote = new HttpRemote({ url: this.env.url, vault: this.spec.name, token: this.env.token, fetch: this.env.fetch });
    return { name, remote, vault: await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor }) };
  }

  private checkAborted(): void {
    if (this.env.signal.aborted) throw this.env.signal.reason;
  }

  /**
   * One sync as an app runs it. Lost races beyond the attempt limit are counted and so are syncs cut
   * off by an unanswered request: the device keeps its change for the next sync. Anything else is
   * an error that stops this client.
   */
  private async syncClient(c: Client): Promise<"ok" | "unreachable" | "failed"> {
    await yieldToEventLoop();
    this.checkAborted();
    try {
      const r = await sync(c.vault, c.remote, { maxAttempts: MAX_ATTEMPTS });
      this.outcome.syncs++;
      this.outcome.casRetries += r.retries;
      if (r.merged) this.outcome.merges++;
      return "ok";
    } catch (e) {
      this.checkAborted();
      if (e instanceof SyncError && e.code === "too_many_conflicts") {
        this.outcome.casRetries += MAX_ATTEMPTS;
        this.outcome.gaveUp++;
        return "ok";
      }
      if (e instanceof RemoteError && e.code === "unreachable") {
        this.outcome.unreachable.push(`${this.spec.name}/${c.name}: sync failed: ${e.message}`);
        return "unreachable";
      }
      this.outcome.errors.push(`${this.spec.name}/${c.name}: ${(e as Error).name}: ${(e as Error).message}`);
      return "failed";
    }
  }

  /** Seeding and the verifying clone need their sync to land: try again after an unanswered request. */
  private async syncUntilDone(c: Client): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await this.syncClient(c);
      if (r !== "unreachable") return r === "ok";
    }
    this.outcome.errors.push(`${this.spec.name}/${c.name}: no sync got through in 3 tries`);
    return false;
  }

  /** Creates the vault, puts the generated notes on client 0, pushes them; the other clients pull. */
  async seed(): Promise<void> {
    for (let i = 0; i < this.spec.clients; i++) this.clients.push(await this.newClient(`c${i}`));
    const first = this.clients[0];
    await first.remote.create({ format: 1, addressing: "sha256", encryption: null });
    for (const n of generateVault({ notes: this.spec.notes, seed: this.spec.seed })) {
      await first.vault.putNote(n.id, n.note as JsonObject);
      await first.vault.putEmbedding(n.id, n.embedding);
      await first.vault.putPosition(n.id, n.position);
      this.seededIds.push(n.id);
      await yieldToEventLoop();
    }
    for (const c of this.clients) if (!(await this.syncUntilDone(c))) return;
  }

  /** Client `ci`'s edits of round `r`: one unique line into each of a few notes, re-embedding or moving some. */
  private async edit(c: Client, ci: number, r: number): Promise<void> {
    const [hot, ...rest] = this.seededIds;
    const ids = [hot, ...pick(rest, EDITS_PER_ROUND - 1, this.rng)];
    for (const id of ids) {
      await yieldToEventLoop();
      const note = await c.vault.getNote(id);
      if (!note) throw new Error(`${this.spec.name}/${c.name}: seeded note ${id} is gone`);
      const lines = String(note.body ?? "").split("\n");
      const line = `[load ${this.spec.name} c${ci} r${r} n${this.seededIds.indexOf(id)}]`;
      lines.splice(this.rng.int(lines.length + 1), 0, line);
      this.written.set(line, id);
      this.outcome.linesWritten++;
      await c.vault.putNote(id, { ...note, body: lines.join("\n"), updated: new Date().toISOString() });
      if (this.rng.next() < 0.5) {
        const e = (await c.vault.getEmbedding(id)) ?? new Float32Array(384);
        const drifted = Float32Array.from(e);
        drifted[this.rng.int(drifted.length)] += 0.01;
        await c.vault.putEmbedding(id, drifted);
      }
      if (this.rng.next() < 0.3) {
        const p = (await c.vault.getPosition(id)) ?? {};
        await c.vault.putPosition(id, { ...p, x: Number(p.x ?? 0) + 1 });
      }
    }
  }

  /** Every client, concurrently: `rounds` times (edit, sync). A client stops at its first real failure. */
  async runRounds(rounds: number): Promise<void> {
    if (this.outcome.errors.length) return;
    await Promise.all(
      this.clients.map(async (c, ci) => {
        for (let r = 0; r < rounds; r++) {
          this.checkAborted();
          try {
            await this.edit(c, ci, r);
          } catch (e) {
            this.checkAborted();
            this.outcome.errors.push(`${this.spec.name}/${c.name}: edit failed: ${(e as Error).message}`);
            return;
          }
          if ((await this.syncClient(c)) === "failed") return;
        }
      }),
    );
  }

  private async agreed(): Promise<boolean> {
    const head = this.clients[0].vault.refs.head;
    if (!this.clients.every((c) => c.vault.refs.head === head && c.vault.refs.base === head && !c.vault.refs.unpushed.length)) return false;
    const info = await this.clients[0].remote.info();
    return (info?.head?.snapshot ?? null) === head;
  }

  /** Quiet passes: every client syncs in turn until all hold the server's head with nothing unpushed. */
  async converge(): Promise<void> {
    if (this.outcome.errors.length) return;
    for (let pass = 1; pass <= MAX_CONVERGE_PASSES; pass++) {
      for (const c of this.clients) if ((await this.syncClient(c)) === "failed") return;
      this.outcome.convergePasses = pass;
      if (await this.agreed()) {
        this.outcome.converged = true;
        return;
      }
    }
  }

  /** A fresh device clones the vault; its state must be the clients' and hold every line written. */
  async verify(): Promise<void> {
    this.checkAborted();
    const clone = await this.newClient("verifier");
    if (!(await this.syncUntilDone(clone))) return;
    const roots = new Set(this.clients.map((c) => c.vault.headRoot));
    this.outcome.cloneMatches = roots.size === 1 && roots.has(clone.vault.headRoot);
    const bodies = new Map<string, string>();
    for (const id of clone.vault.ids()) {
      const note = await clone.vault.getNote(id);
      bodies.set(id, typeof note?.body === "string" ? note.body : "");
    }
    this.outcome.notesAtEnd = bodies.size;
    this.outcome.conflictCopies = [...bodies.keys()].filter((id) => originalIdOf(id) !== id).length;
    this.outcome.lost = [...this.seededIds.filter((id) => !bodies.has(id)).map((id) => `note ${id}`), ...lostLines(bodies, this.written)];
  }

  get ok(): boolean {
    const o = this.outcome;
    return o.converged && o.cloneMatches && !o.lost.length && !o.errors.length && !o.unreachable.length;
  }
}
