// The load run's results as markdown (bench/results/load.md) and JSON (load.json).
import { writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ROUTE_CLASSES, type LatencySummary, type RouteClass } from "./load-recorder.ts";
import type { VaultOutcome } from "./load-vault.ts";

export interface PhaseFigures {
  phase: string;
  wallMs: number;
  requests: number;
  /** Bytes on the wire (counting proxy), request and answer directions. */
  bytesUp: number;
  bytesDown: number;
}

export interface StatusCounts {
  /** 2xx answers. */
  ok: number;
  /** 409 answers (a lost compare-and-swap on the head: the client pulls, merges and pushes again). */
  conflict409: number;
  /** Other 4xx answers. */
  client4xx: number;
  server5xx: number;
  /** Attempts that got no answer (connection refused or reset); HttpRemote retries these. */
  unanswered: number;
  /** Requests still without an answer after HttpRemote's retries. */
  neverAnswered: number;
  /** Answers whose body was not read to its end (cut streams). */
  incomplete: number;
  /** Why requests got no answer: error text -> count. */
  noAnswerReasons: Record<string, number>;
}

export interface ScenarioResult {
  id: string;
  label: string;
  vaults: number;
  clients: number;
  rounds: number;
  notesPerVault: number;
  wallMs: number;
  phases: PhaseFigures[];
  /** Requests per second in the rounds phase (all clients editing and syncing at once). */
  requestsPerSecond: number;
  /** Latency per route class in the rounds phase, plus "all". */
  latency: Record<RouteClass | "all", LatencySummary>;
  /** Over the whole scenario. */
  statuses: StatusCounts;
  /** How late this process's event loop ran (ms): every client waits on it, so it is part of every latency figure. */
  clientLoopDelay: { p50: number; p99: number; max: number };
  syncs: number;
  casRetries: number;
  gaveUp: number;
  /** Syncs cut off by a request that got no answer even after HttpRemote's retries. */
  unreachableSyncs: number;
  merges: number;
  linesWritten: number;
  conflictCopies: number;
  converged: boolean;
  nothingLost: boolean;
  ok: boolean;
  /** Lost lines and errors (the first 50). */
  failures: string[];
  vaultOutcomes: VaultOutcome[];
}

export interface LoadResult {
  startedAt: string;
  options: { clients: number; vaults: number; rounds: number; notesPerVault: number; seed: number; timeoutMs: number };
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAvgBefore: number[]; loadAvgAfter: number[] };
  remarks: string[];
  wallMs: number;
  scenarios: ScenarioResult[];
  ok: boolean;
}

const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString("en")) : "–");
const int = (x: number) => x.toLocaleString("en");
const mb = (x: number) => `${(x / 1e6).toFixed(2)} MB`;
const s = (x: number) => `${(x / 1000).toFixed(1)} s`;

function verdictProblems(r: LoadResult): string[] {
  const p: string[] = [];
  for (const x of r.scenarios) {
    if (x.statuses.neverAnswered || x.unreachableSyncs) p.push(`${x.id}: ${x.statuses.neverAnswered} requests never answered (${x.unreachableSyncs} syncs cut off)`);
    if (!x.converged) p.push(`${x.id}: not converged`);
    p.push(`${x.id}: ${x.nothingLost ? "nothing lost" : "**something lost**"}`);
    const other = x.vaultOutcomes.reduce((n, o) => n + o.errors.length, 0);
    if (other) p.push(`${x.id}: ${other} other errors`);
  }
  return p;
}

export function renderMarkdown(r: LoadResult): string {
  const out: string[] = [];
  out.push("# Load: many clients against the local Worker");
  out.push("");
  out.push(`Run ${r.startedAt} by \`npm run load -- --clients ${r.options.clients} --vaults ${r.options.vaults} --rounds ${r.options.rounds} --notes-per-vault ${r.options.notesPerVault} --seed ${r.options.seed}\` (bench/load.ts). Verdict: **${r.ok ? "pass: every request answered, every client converged, nothing lost" : `FAIL: ${verdictProblems(r).join("; ")}`}**; total wall time ${s(r.wallMs)} (time bound ${s(r.options.timeoutMs)}).`);
  out.push("");
  out.push(`Machine: ${r.machine.cpus} vCPU (${r.machine.cpuModel}), Node ${r.machine.node}, ${r.machine.platform}; load average ${r.machine.loadAvgBefore.map((x) => x.toFixed(2)).join(" / ")} before, ${r.machine.loadAvgAfter.map((x) => x.toFixed(2)).join(" / ")} after (1/5/15 min).`);
  for (const remark of r.remarks) out.push(`${remark}`);
  out.push("");
  out.push("How it runs: the real Worker in workerd (cli/local-server.ts, R2 and SQLite Durable Objects on local disk), engine clients (Vault + MemoryStore + HttpRemote + sync) in one Node process, every request through a loopback proxy that counts bytes. Each client, per round, inserts one unique line into 3 notes (the vault's \"hot\" note, which every client edits, and 2 random ones), re-embeds or moves some of them, and syncs with the engine's defaults (6 attempts, jittered backoff). Then every client syncs in turn until all hold the server's head, and a fresh device clones each vault: its manifest root must equal the clients' and every line written must be in its note or in a conflict copy of it. Latency is measured in the client, from sending a request to reading its answer to the end, so it includes waiting for this process's event loop; time to the answer's headers is given too, and how late the client process's event loop ran. An attempt \"without an answer\" is a request sent on a kept-alive connection that the server closed as it went out (seen as ECONNRESET or UND_ERR_SOCKET); HttpRemote sends such a request again at once, up to four times (other failures twice, with backoff), and a request never answered fails its sync and the run.");
  out.push("");
  out.push("| scenario | vaults | clients | rounds | wall | requests/s (rounds) | syncs | 409 answers | sync retries | gave up | syncs cut off | merges | conflict copies | lines written | converged | nothing lost |");
  out.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
  for (const x of r.scenarios) {
    out.push(`| ${x.label} | ${x.vaults} | ${x.clients} | ${x.rounds} | ${s(x.wallMs)} | ${x.requestsPerSecond.toFixed(1)} | ${int(x.syncs)} | ${int(x.statuses.conflict409)} | ${int(x.casRetries)} | ${int(x.gaveUp)} | ${int(x.unreachableSyncs)} | ${int(x.merges)} | ${int(x.conflictCopies)} | ${int(x.linesWritten)} | ${x.converged ? "yes" : "**no**"} | ${x.nothingLost ? "yes" : "**no**"} |`);
  }
  for (const x of r.scenarios) {
    out.push("");
    out.push(`## ${x.label}`);
    out.push("");
    out.push("Latency in the rounds phase (ms; total = until the answer was read to its end):");
    out.push("");
    out.push("| route class | requests | p50 | p90 | p99 | max | headers p50 | headers p99 |");
    out.push("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const k of [...ROUTE_CLASSES, "all"] as const) {
      const l = x.latency[k];
      if (!l.requests) continue;
      out.push(`| ${k} | ${int(l.requests)} | ${ms(l.p50)} | ${ms(l.p90)} | ${ms(l.p99)} | ${ms(l.max)} | ${ms(l.headersP50)} | ${ms(l.headersP99)} |`);
    }
    out.push("");
    out.push("| phase | wall | requests | requests/s | bytes up | bytes down |");
    out.push("|---|---:|---:|---:|---:|---:|");
    for (const p of x.phases) out.push(`| ${p.phase} | ${s(p.wallMs)} | ${int(p.requests)} | ${(p.requests / (p.wallMs / 1000)).toFixed(1)} | ${mb(p.bytesUp)} | ${mb(p.bytesDown)} |`);
    const st = x.statuses;
    out.push("");
    out.push(`Event loop delay of the client process (part of every latency above): p50 ${ms(x.clientLoopDelay.p50)} ms, p99 ${ms(x.clientLoopDelay.p99)} ms, max ${ms(x.clientLoopDelay.max)} ms.`);
    out.push("");
    out.push(`Answers over the whole scenario: ${int(st.ok)} 2xx, ${int(st.conflict409)} 409, ${int(st.client4xx)} other 4xx, ${int(st.server5xx)} 5xx, ${int(st.unanswered)} attempts without an answer${st.unanswered ? ` (${Object.entries(st.noAnswerReasons).map(([k, n]) => `${n} x ${k}`).join("; ")}), retried by the client`: ""}, ${int(st.neverAnswered)} requests never answered, ${int(st.incomplete)} answers cut short.`);
    if (x.failures.length) {
      out.push("");
      out.push("Failures:");
      out.push("");
      for (const f of x.failures) out.push(`- ${f}`);
    }
  }
  out.push("");
  return out.join("\n");
}

/** Writes <out>/load.md and <out>/load.json. */
export async function writeLoadReports(out: string, r: LoadResult): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "load.md"), renderMarkdown(r));
  await writeFile(join(out, "load.json"), JSON.stringify(r, null, 1) + "\n");
}
