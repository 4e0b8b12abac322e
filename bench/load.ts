// npm run load -- [--clients 8] [--vaults 50] [--rounds 10] [--notes-per-vault 100] [--seed 1]
//                 [--timeout 600] [--out bench/results] [--remark "<text>"]
//
// Issue 7's load run against the real local Worker (workerd via cli/local-server.ts), bounded in time:
//   A: `--clients` engine clients syncing one vault, each doing `--rounds` rounds of (edit a few
//      notes, one of them the note every client edits; sync), then all syncing until they agree;
//   B: `--vaults` vaults syncing at the same time, one or two clients each (alternately), same rounds.
// Reports requests/s, latency per route class, 409 answers, bytes, and whether anything was lost
// (bench/load-vault.ts checks), to <out>/load.md and load.json. Exit status 1 if a check fails or the
// run exceeds `--timeout` seconds.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { startLocalServer, type LocalServer } from "../cli/local-server.ts";
import { installNodeFastPaths } from "../engine/node/native.ts";
import { startCountingProxy, type CountingProxy } from "../test/helpers/counting-proxy.ts";
import { LoadVault, type VaultSpec } from "./load-vault.ts";
import { RequestRecorder, ROUTE_CLASSES, recordingFetch, summarizeLatency, type LatencySummary, type RouteClass } from "./load-recorder.ts";
import { writeLoadReports, type LoadResult, type PhaseFigures, type ScenarioResult, type StatusCounts } from "./load-report.ts";

export interface LoadOptions {
  /** Scenario A: clients on one vault (default 8; 0 skips A). */
  clients?: number;
  /** Scenario B: vaults syncing at once (default 50; 0 skips B). */
  vaults?: number;
  /** Rounds of (edit, sync) per client (default 10). */
  rounds?: number;
  /** Generated notes each vault starts with (default 100). */
  notesPerVault?: number;
  seed?: number;
  /** The time bound for the whole run, server start included (default 10 minutes). */
  timeoutMs?: number;
  /** Folder for load.md and load.json; null writes nothing. Default bench/results. */
  out?: string | null;
  /** Lines added to the report (e.g. that the machine was shared). */
  remarks?: string[];
  log?: (s: string) => void;
}

export class LoadTimeoutError extends Error {
  override name = "LoadTimeoutError";
}

const PHASES = ["seed", "rounds", "converge", "verify"] as const;
type Phase = (typeof PHASES)[number];

function statusCounts(rec: RequestRecorder): StatusCounts {
  const c: StatusCounts = { ok: 0, conflict409: 0, client4xx: 0, server5xx: 0, unanswered: 0, neverAnswered: rec.neverAnswered, incomplete: 0, noAnswerReasons: {} };
  for (const x of rec.samples) {
    if (x.status === 0) {
      c.unanswered++;
      const why = x.error ?? "unknown";
      c.noAnswerReasons[why] = (c.noAnswerReasons[why] ?? 0) + 1;
    }
    else if (x.status < 300) c.ok++;
    else if (x.status === 409) c.conflict409++;
    else if (x.status < 500) c.client4xx++;
    else c.server5xx++;
    if (x.status > 0 && !x.complete) c.incomplete++;
  }
  return c;
}

interface ScenarioDef {
  id: string;
  label: string;
  specs: VaultSpec[];
  rounds: number;
}

async function runScenario(def: ScenarioDef, proxy: CountingProxy, token: string, signal: AbortSignal, log: (s: string) => void): Promise<ScenarioResult> {
  const rec = new RequestRecorder();
  const env = { url: proxy.url, token, fetch: recordingFetch(rec, signal), signal };
  const vaults = def.specs.map((spec) => new LoadVault(spec, env));
  const steps: Record<Phase, (v: LoadVault) => Promise<void>> = {
    seed: (v) => v.seed(),
    rounds: (v) => v.runRounds(def.rounds),
    converge: (v) => v.converge(),
    verify: (v) => v.verify(),
  };
  const phases: PhaseFigures[] = [];
  const clients = def.specs.reduce((n, s) => n + s.clients, 0);
  log(`${def.label}: ${def.specs.length} vault(s), ${clients} client(s), ${def.rounds} round(s)`);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const t0 = performance.now();
  try {
    for (const phase of PHASES) {
      rec.phase = phase;
      const [up0, down0, n0, p0] = [proxy.up, proxy.down, rec.samples.length, performance.now()];
      // Every vault at once; a failure of one vault is its outcome, not the end of the run.
      await Promise.all(
        vaults.map(async (v) => {
          try {
            await steps[phase](v);
          } catch (e) {
            if (signal.aborted) return;
            v.outcome.errors.push(`${v.spec.name} ${phase}: ${(e as Error).name}: ${(e as Error).message}`);
          }
        }),
      );
      if (signal.aborted) throw signal.reason;
      const p: PhaseFigures = { phase, wallMs: performance.now() - p0, requests: rec.samples.length - n0, bytesUp: proxy.up - up0, bytesDown: proxy.down - down0 };
      phases.push(p);
      log(`  ${phase}: ${(p.wallMs / 1000).toFixed(1)} s, ${p.requests} requests`);
    }
  } finally {
    loopDelay.disable();
  }
  const wallMs = performance.now() - t0;
  const clientLoopDelay = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  const rounds = rec.samples.filter((x) => x.phase === "rounds");
  const latency = {} as Record<RouteClass | "all", LatencySummary>;
  for (const k of ROUTE_CLASSES) latency[k] = summarizeLatency(rounds.filter((x) => x.route === k));
  latency.all = summarizeLatency(rounds);
  const outcomes = vaults.map((v) => v.outcome);
  const sum = (f: (o: (typeof outcomes)[number]) => number) => outcomes.reduce((n, o) => n + f(o), 0);
  const failures = outcomes.flatMap((o) => [...o.errors, ...o.unreachable, ...o.lost.map((l) => `${o.vault}: lost ${l}`), ...(o.converged || o.errors.length ? [] : [`${o.vault}: clients did not converge`]), ...(o.cloneMatches || o.errors.length ? [] : [`${o.vault}: a fresh clone differs from the clients`])]);
  const roundsPhase = phases.find((p) => p.phase === "rounds")!;
  return {
    id: def.id,
    label: def.label,
    vaults: def.specs.length,
    clients,
    rounds: def.rounds,
    notesPerVault: def.specs[0]?.notes ?? 0,
    wallMs,
    phases,
    requestsPerSecond: roundsPhase.requests / (roundsPhase.wallMs / 1000),
    latency,
    statuses: statusCounts(rec),
    clientLoopDelay,
    syncs: sum((o) => o.syncs),
    casRetries: sum((o) => o.casRetries),
    gaveUp: sum((o) => o.gaveUp),
    unreachableSyncs: sum((o) => o.unreachable.length),
    merges: sum((o) => o.merges),
    linesWritten: sum((o) => o.linesWritten),
    conflictCopies: sum((o) => o.conflictCopies),
    converged: outcomes.every((o) => o.converged && o.cloneMatches),
    nothingLost: outcomes.every((o) => !o.lost.length && o.cloneMatches),
    ok: vaults.every((v) => v.ok),
    failures: failures.slice(0, 50),
    vaultOutcomes: outcomes.map((o) => ({ ...o, lost: o.lost.slice(0, 20), unreachable: o.unreachable.slice(0, 20) })),
  };
}

async function runUnbounded(o: Required<Omit<LoadOptions, "out" | "log" | "remarks">>, signal: AbortSignal, log: (s: string) => void): Promise<{ scenarios: ScenarioResult[] }> {
  const state = await mkdtemp(path.join(os.tmpdir(), "penumbra-load-"));
  let server: LocalServer | undefined;
  let proxy: CountingProxy | undefined;
  try {
    const token = randomBytes(16).toString("hex");
    server = await startLocalServer({ port: 0, state, token });
    proxy = await startCountingProxy(server.url);
    if (signal.aborted) throw signal.reason;
    const defs: ScenarioDef[] = [];
    if (o.clients > 0) defs.push({ id: "A", label: `A: ${o.clients} clients, one vault`, rounds: o.rounds, specs: [{ name: "load-a", clients: o.clients, notes: o.notesPerVault, seed: o.seed }] });
    if (o.vaults > 0)
      defs.push({
        id: "B",
        label: `B: ${o.vaults} vaults at once, 1-2 clients each`,
        rounds: o.rounds,
        specs: Array.from({ length: o.vaults }, (_, i) => ({ name: `load-b-${i}`, clients: i % 2 === 0 ? 2 : 1, notes: o.notesPerVault, seed: o.seed + 1 + i })),
      });
    const scenarios: ScenarioResult[] = [];
    for (const d of defs) scenarios.push(await runScenario(d, proxy, token, signal, log));
    return { scenarios };
  } finally {
    await proxy?.close();
    await server?.stop();
    await rm(state, { recursive: true, force: true });
  }
}

/** Runs the load scenarios; rejects with LoadTimeoutError if the run takes longer than its bound. */
export async function runLoad(opts: LoadOptions = {}): Promise<LoadResult> {
  const o = { clients: opts.clients ?? 8, vaults: opts.vaults ?? 50, rounds: opts.rounds ?? 10, notesPerVault: opts.notesPerVault ?? 100, seed: opts.seed ?? 1, timeoutMs: opts.timeoutMs ?? 600_000 };
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  installNodeFastPaths();
  const startedAt = new Date().toISOString();
  const loadAvgBefore = os.loadavg();
  const t0 = performance.now();
  // The bound aborts every request in flight (the clients' fetch carries the signal) and stops the
  // run's promise at once, even if something hangs outside a request.
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new LoadTimeoutError(`the load run exceeded its time bound of ${(o.timeoutMs / 1000).toFixed(0)} s (--timeout) and was aborted; nothing was reported`);
      controller.abort(e);
      reject(e);
    }, o.timeoutMs);
  });
  const work = runUnbounded(o, controller.signal, log);
  let scenarios: ScenarioResult[];
  try {
    ({ scenarios } = await Promise.race([work, bound]));
  } catch (e) {
    // Let the server and proxy stop (the aborted requests make that quick) before reporting.
    await Promise.race([work.catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const cpus = os.cpus();
  const result: LoadResult = {
    startedAt,
    options: o,
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? "unknown", node: process.versions.node, platform: `${os.platform()} ${os.release()}`, loadAvgBefore, loadAvgAfter: os.loadavg() },
    remarks: opts.remarks ?? [],
    wallMs: performance.now() - t0,
    scenarios,
    ok: scenarios.every((x) => x.ok),
  };
  if (opts.out !== null) await writeLoadReports(opts.out ?? path.resolve("bench/results"), result);
  return result;
}

const USAGE = "usage: npm run load -- [--clients 8] [--vaults 50] [--rounds 10] [--notes-per-vault 100] [--seed 1] [--timeout 600] [--out bench/results] [--remark <text>]";

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        clients: { type: "string" },
        vaults: { type: "string" },
        rounds: { type: "string" },
        "notes-per-vault": { type: "string" },
        seed: { type: "string" },
        timeout: { type: "string" },
        out: { type: "string" },
        remark: { type: "string", multiple: true },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const num = (v: string | undefined, def: number, min: number, max: number, name: string) => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${name} must be an integer ${min}..${max}`);
    return n;
  };
  let opts: LoadOptions;
  try {
    opts = {
      clients: num(values.clients, 8, 0, 64, "clients"),
      vaults: num(values.vaults, 50, 0, 1000, "vaults"),
      rounds: num(values.rounds, 10, 1, 1000, "rounds"),
      notesPerVault: num(values["notes-per-vault"], 100, 3, 100_000, "notes-per-vault"),
      seed: num(values.seed, 1, 0, 2 ** 31, "seed"),
      timeoutMs: num(values.timeout, 600, 1, 86_400, "timeout") * 1000,
      out: path.resolve(values.out ?? "bench/results"),
      remarks: values.remark ?? [],
    };
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    const r = await runLoad(opts);
    for (const x of r.scenarios) {
      const l = x.latency.all;
      console.log(`${x.label}: ${(x.wallMs / 1000).toFixed(1)} s, ${x.requestsPerSecond.toFixed(1)} requests/s, p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, ${x.statuses.conflict409} x 409, ${x.ok ? "converged, nothing lost" : `FAILED (${x.failures.length} problems)`}`);
    }
    console.log(`wrote ${path.join(opts.out as string, "load.md")} (.json)`);
    return r.ok ? 0 : 1;
  } catch (e) {
    console.error(e instanceof LoadTimeoutError ? `load: ${e.message}` : e);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
