// The benchmark of issue 6: penumbra-sync through the real local Worker over HTTP, side by side with
// the predecessor's protocol, git and restic, on one generated vault folder, in one run.
//
// Layout of one run (under a temporary work folder):
//   vault-a/          the generated vault: device A of every system reads and edits it
//   engine-b/, engine-c/, legacy-b/, legacy-c/   second device and fresh clone folders
//   server/, legacy-server/                      Miniflare state (R2 + Durable Objects on disk)
//   git/, restic/                                the peers' repositories and their second devices
// Clients run in child processes (bench/engine-client.ts, bench/baseline/client.ts), so CPU and
// peak RSS are the client's alone; bytes are counted on the wire by a loopback TCP proxy.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, readdir, cp, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { startLocalServer, type LocalServer } from "../cli/local-server.ts";
import { writeFolderConfig } from "../cli/context.ts";
import { ensureFolders } from "../cli/vault-folder.ts";
import { HttpRemote } from "../engine/remote/http-remote.ts";
import { startCountingProxy, type CountingProxy } from "../test/helpers/counting-proxy.ts";
import { generateVault, makeRng } from "../sample/generator.ts";
import { writeVaultFolder } from "../sample/folder.ts";
import { runChild as runChildRaw, type ClientFigures } from "./child.ts";
import type { EnginePhases } from "./engine-client.ts";
import { startLegacyServer, type LegacyServer } from "./baseline/server.ts";
import { GitPeer, ResticPeer, type PeerFigures } from "./peers.ts";
import { deleteNotes, editNotes, listIds, pick, type EditResult } from "./edits.ts";
import { analyseProfile, WORKER_RULES, type ProfileBucket } from "./profile.ts";
import { resetPeakRss, rssOf, workerdPids, versionOf } from "./util.ts";
import { writeReports, type BenchResult, type Row, type ScenarioInfo, type SystemId } from "./report.ts";

export type Peer = "predecessor" | "git" | "restic";

/** A child that dies without a result (crash, out of memory) is a failed row, not a failed run. */
async function runChild<T extends ClientFigures>(...a: Parameters<typeof runChildRaw>): Promise<T> {
  try {
    return await runChildRaw<T>(...a);
  } catch (e) {
    return { ok: false, error: (e as Error).message, wallMs: NaN, cpuMs: NaN, peakRssBytes: NaN, requests: 0, r2A: 0, r2B: 0 } as T;
  }
}

export interface BenchOptions {
  notes: number;
  seed?: number;
  /** Folder for <N>-notes.md/.json/.svg; default bench/results. */
  out?: string;
  /** Work folder (vaults, servers, repositories); default a fresh temp folder, removed at the end. */
  work?: string;
  keep?: boolean;
  /** Baselines to run; default all three. */
  peers?: Peer[];
  /** The CPU-profiled extra initial push (default true). */
  profile?: boolean;
  log?: (s: string) => void;
}

const SCENARIOS: ScenarioInfo[] = [
  { id: "initial", label: "initial push", device: "A" },
  { id: "initial-pull", label: "↳ pull on device B (its first pull)", device: "B" },
  { id: "noop", label: "no-op sync", device: "A" },
  { id: "noop-pull", label: "↳ pull-since on device B", device: "B" },
  { id: "edit1", label: "1 note edited", device: "A" },
  { id: "edit1-pull", label: "↳ pull-since on device B", device: "B" },
  { id: "edit1pct", label: "1% of notes edited", device: "A" },
  { id: "edit1pct-pull", label: "↳ pull-since on device B", device: "B" },
  { id: "edit10pct", label: "10% of notes edited", device: "A" },
  { id: "edit10pct-pull", label: "↳ pull-since on device B", device: "B" },
  { id: "delete", label: "notes deleted", device: "A" },
  { id: "delete-pull", label: "↳ pull-since on device B", device: "B" },
  { id: "clone", label: "fresh clone of the whole vault (device C)", device: "C" },
];

const ENGINE_VAULT = "bench";

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const N = opts.notes;
  const seed = opts.seed ?? 1;
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const peers = new Set<Peer>(opts.peers ?? ["predecessor", "git", "restic"]);
  const work = opts.work ?? (await mkdtemp(join(os.tmpdir(), `penumbra-bench-${N}-`)));
  await mkdir(work, { recursive: true });
  const started = Date.now();
  const out = opts.out ?? join(process.cwd(), "bench", "results");
  const partial = join(out, `${N}-notes.partial.json`);
  const loadBefore = os.loadavg()[0];
  const rows: Row[] = [];
  const remarks: string[] = [];
  const edits: Record<string, EditResult & { ids: number }> = {};
  const deleteCount = Math.min(1000, Math.max(1, Math.round(N / 10)));
  const scenarios = SCENARIOS.map((s) => ({ ...s }));
  scenarios.find((s) => s.id === "delete")!.label = `${deleteCount.toLocaleString("en")} notes deleted`;
  const editCount = { edit1: 1, edit1pct: Math.max(1, Math.round(N / 100)), edit10pct: Math.max(1, Math.round(N / 10)) };
  scenarios.find((s) => s.id === "edit1pct")!.label = `1% of notes edited (${editCount.edit1pct.toLocaleString("en")})`;
  scenarios.find((s) => s.id === "edit10pct")!.label = `10% of notes edited (${editCount.edit10pct.toLocaleString("en")})`;

  let server: LocalServer | undefined;
  let proxy: CountingProxy | undefined;
  let legacy: LegacyServer | undefined;
  let legacyProxy: CountingProxy | undefined;
  try {
    // ---- the vault ----
    const A = join(work, "vault-a");
    log(`generating ${N.toLocaleString("en")} notes (seed ${seed}) in ${A}`);
    const g0 = performance.now();
    const vault = await writeVaultFolder(A, generateVault({ notes: N, seed }));
    const genMs = performance.now() - g0;
    log(`  ${(vault.bytes / 1e6).toFixed(1)} MB in ${(genMs / 1000).toFixed(1)} s`);

    // ---- servers ----
    const token = randomBytes(16).toString("hex");
    const before = new Set(await workerdPids());
    server = await startLocalServer({ port: 0, state: join(work, "server"), token });
    const enginePid = (await workerdPids()).find((p) => !before.has(p));
    proxy = await startCountingProxy(server.url);
    let engineVault = ENGINE_VAULT;
    let direct = new HttpRemote({ url: server.url, vault: engineVault, token });
    await direct.create({ format: 1, addressing: "sha256", encryption: null });
    const folder = async (dir: string, vaultName = engineVault) => {
      await ensureFolders(dir);
      await mkdir(join(dir, ".penumbra-sync"), { recursive: true });
      await writeFolderConfig(dir, { remote: proxy!.url, vault: vaultName });
    };
    const [B, C] = [join(work, "engine-b"), join(work, "engine-c")];
    await folder(A);
    await folder(B);
    await folder(C);

    let legacyPid: number | undefined;
    if (peers.has("predecessor")) {
      const b2 = new Set(await workerdPids());
      legacy = await startLegacyServer(join(work, "legacy-server"));
      legacyPid = (await workerdPids()).find((p) => !b2.has(p));
      legacyProxy = await startCountingProxy(legacy.url);
    }
    const git = peers.has("git") ? await GitPeer.open(join(work, "git"), A) : null;
    if (peers.has("git") && !git) remarks.push(`git is not installed: skipped (install: ${GitPeer.install})`);
    const restic = peers.has("restic") ? await ResticPeer.open(join(work, "restic"), A) : null;
    if (peers.has("restic") && !restic) remarks.push(`restic is not installed: skipped (install: ${ResticPeer.install})`);
    if (!peers.has("predecessor")) remarks.push("predecessor baseline not run (--peers)");

    // ---- measuring one operation of each system ----
    const serverPeak = async (pid: number | undefined, op: () => Promise<void>) => {
      if (pid) await resetPeakRss(pid);
      await op();
      return pid ? (await rssOf(pid))?.peak : undefined;
    };

    // The engine's client reuses kept-alive connections (fetch's default) and retries a request
    // whose socket died. If a run still dies on the transport (seen at 100k notes before that retry:
    // ECONNRESET/EPIPE on a reused connection during parallel uploads), the failure is recorded and
    // the operation retried once with one connection per request.
    let closeAll = false;
    const transportFailures: { scenario: string; error: string; wallMs: number; up: number; down: number }[] = [];
    const TRANSPORT = /cannot reach|ECONNRESET|EPIPE|other side closed|socket/i;
    const engineOp = async (sc: ScenarioInfo, dir: string, extra: Partial<Row> = {}, resetForRetry?: () => Promise<void>): Promise<Row> => {
      proxy!.reset();
      let r!: ClientFigures & { phases?: EnginePhases; hashedBytes?: number };
      let peak = await serverPeak(enginePid, async () => {
        r = await runChild("bench/engine-client.ts", { dir, token, mode: "sync", closeConnections: closeAll });
      });
      if (!r.ok && !closeAll && TRANSPORT.test(r.error ?? "")) {
        const first = r;
        const firstBytes = { up: proxy!.up, down: proxy!.down };
        log(`  penumbra-sync ${sc.id}: FAILED after ${(first.wallMs / 1000).toFixed(1)} s (${first.error}); retrying with one connection per request`);
        transportFailures.push({ scenario: sc.id, error: first.error ?? "", wallMs: first.wallMs, ...firstBytes });
        await resetForRetry?.();
        proxy!.reset();
        peak = await serverPeak(enginePid, async () => {
          r = await runChild("bench/engine-client.ts", { dir, token, mode: "sync", closeConnections: true });
        });
        extra = { ...extra, note: `first attempt failed after ${(first.wallMs / 1000).toFixed(1)} s, ${firstBytes.up.toLocaleString("en")} B up: ${first.error}; figures are from a retry with one connection per request${resetForRetry ? " from scratch (new local state, new vault)" : ""}` };
        // Once one operation needed it, every later one gets fresh connections too (comparable rows).
        closeAll = true;
      }
      const info = await direct.info().catch((e) => (log(`  (vault info failed: ${(e as Error).message})`), null));
      const ph = r.phases;
      const pipeMs = ph ? ph.scanMs + ph.commitMs : 0;
      const row: Row = {
        system: "penumbra-sync",
        scenario: sc.id,
        device: sc.device,
        status: r.ok ? "ok" : "failed",
        error: r.error,
        wallMs: r.wallMs,
        startupMs: r.startupMs,
        cpuMs: r.cpuMs,
        peakRssBytes: r.peakRssBytes,
        up: proxy!.up,
        down: proxy!.down,
        requests: r.requests,
        r2A: r.r2A,
        r2B: r.r2B,
        storedObjects: info?.stats.packs,
        storedDetail: info ? `${info.stats.packs} packs / ${info.stats.objects.toLocaleString("en")} objects` : undefined,
        storedBytes: info?.stats.bytes,
        pipelineMBs: r.hashedBytes && pipeMs > 0 ? r.hashedBytes / 1e6 / (pipeMs / 1000) : undefined,
        hashedBytes: r.hashedBytes,
        serverPeakRssBytes: peak,
        phases: ph as unknown as Record<string, number>,
        ...extra,
      };
      rows.push(row);
      const phaseText = ph ? ` [open ${(ph.openMs / 1000).toFixed(2)}, scan ${(ph.scanMs / 1000).toFixed(2)}, commit ${(ph.commitMs / 1000).toFixed(2)}, remote ${(ph.remoteMs / 1000).toFixed(2)}, other ${(ph.otherMs / 1000).toFixed(2)}; rss ${((r.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB]` : "";
      log(`  penumbra-sync ${sc.id}: ${(r.wallMs / 1000).toFixed(2)} s, up ${proxy!.up} B, down ${proxy!.down} B, ${r.requests} req${phaseText}${r.ok ? "" : ` FAILED ${r.error}`}`);
      return row;
    };

    let legacyBroken: string | undefined;
    const legacyOp = async (sc: ScenarioInfo, dir: string, mode: "push" | "pull"): Promise<void> => {
      if (!legacy || !legacyProxy) return;
      if (legacyBroken) {
        const error = mode === "push" ? `not attempted again: the same body only grows (${legacyBroken})` : `not attempted: no push ever succeeded (${legacyBroken})`;
        rows.push({ system: "predecessor", scenario: sc.id, device: sc.device, status: "failed", error });
        return;
      }
      legacyProxy.reset();
      let r!: ClientFigures & { bodyBytes?: number; failedAt?: string; phases?: Record<string, number> };
      const peak = await serverPeak(legacyPid, async () => {
        r = await runChild("bench/baseline/client.ts", { dir, url: legacyProxy!.url, mode });
      });
      const stored = await legacy.objectCount().catch((e) => (log(`  (status failed: ${(e as Error).message})`), null));
      const row: Row = {
        system: "predecessor",
        scenario: sc.id,
        device: sc.device,
        status: r.ok ? "ok" : "failed",
        error: r.ok ? undefined : `${r.error}${r.failedAt ? ` (in ${r.failedAt})` : ""}`,
        wallMs: r.wallMs,
        cpuMs: r.cpuMs,
        peakRssBytes: r.peakRssBytes,
        up: legacyProxy.up,
        down: legacyProxy.down,
        requests: r.requests,
        r2A: r.r2A,
        r2B: r.r2B,
        storedObjects: stored?.objects,
        storedDetail: stored ? `${stored.objects.toLocaleString("en")} R2 objects` : undefined,
        storedBytes: stored?.bytes,
        serverPeakRssBytes: peak,
        phases: r.phases,
      };
      rows.push(row);
      log(`  predecessor ${sc.id}: ${(r.wallMs / 1000).toFixed(2)} s, up ${legacyProxy.up} B, down ${legacyProxy.down} B${r.ok ? "" : ` FAILED ${row.error}`}`);
      // A push that cannot even be encoded fails the same way on every later sync.
      if (!r.ok && mode === "push" && r.failedAt) legacyBroken = `${r.error} (in ${r.failedAt})`;
    };

    const peerRow = (system: SystemId, sc: ScenarioInfo, f: PeerFigures): void => {
      rows.push({
        system,
        scenario: sc.id,
        device: sc.device,
        status: f.ok ? "ok" : "failed",
        error: f.error,
        note: f.note,
        wallMs: f.wallMs,
        cpuMs: f.cpuMs,
        peakRssBytes: f.peakRssBytes,
        up: f.up,
        down: f.down,
        storedObjects: f.objects,
        storedDetail: f.objects !== undefined ? `${f.objects.toLocaleString("en")} ${system === "git" ? "objects" : "repo files"}` : undefined,
        storedBytes: f.storedBytes,
      });
      log(`  ${system} ${sc.id}: ${(f.wallMs / 1000).toFixed(2)} s, up ${f.up ?? "-"} B, down ${f.down ?? "-"} B${f.ok ? "" : ` FAILED ${f.error}`}`);
    };

    const step = async (id: string, change?: () => Promise<void>) => {
      const sc = scenarios.find((s) => s.id === id)!;
      const pull = scenarios.find((s) => s.id === `${id}-pull`)!;
      if (change) await change();
      log(`${sc.label.trim()}`);
      // A failed initial push is retried from scratch: a new vault and new local state, so the retry
      // hashes, packs and uploads everything again like the first attempt.
      await engineOp(sc, A, {}, id !== "initial" ? undefined : async () => {
        engineVault = `${ENGINE_VAULT}-retry`;
        direct = new HttpRemote({ url: server!.url, vault: engineVault, token });
        await direct.create({ format: 1, addressing: "sha256", encryption: null });
        for (const d of [A, B, C]) {
          await rm(join(d, ".penumbra-sync"), { recursive: true, force: true });
          await folder(d);
        }
      });
      await engineOp(pull, B);
      await legacyOp(sc, A, "push");
      await legacyOp(pull, join(work, "legacy-b"), "pull");
      if (git) {
        peerRow("git", sc, await git.push(id));
        peerRow("git", pull, await git.pull("b"));
      }
      if (restic) {
        peerRow("restic", sc, await restic.backup());
        if (id === "initial") peerRow("restic", pull, await restic.restore("b"));
      }
      // Figures so far, for a long run that is watched or interrupted.
      await mkdir(out, { recursive: true });
      await writeFile(partial, JSON.stringify({ notes: N, rows, edits }, null, 1));
    };

    const rng = makeRng(seed ^ 0x6265_6e63);
    const edit = (key: keyof typeof editCount) => async () => {
      const ids = pick(await listIds(A), editCount[key], rng);
      edits[key] = { ...(await editNotes(A, ids, rng)), ids: ids.length };
    };

    await step("initial");
    await step("noop");
    await step("edit1", edit("edit1"));
    await step("edit1pct", edit("edit1pct"));
    await step("edit10pct", edit("edit10pct"));
    await step("delete", async () => deleteNotes(A, pick(await listIds(A), deleteCount, rng)));
    const clone = scenarios.find((s) => s.id === "clone")!;
    log(clone.label);
    await engineOp(clone, C);
    await legacyOp(clone, join(work, "legacy-c"), "pull");
    if (git) peerRow("git", clone, await git.pull("c"));
    if (restic) peerRow("restic", clone, await restic.restore("c"));
    if (transportFailures.length)
      remarks.push(
        `penumbra-sync's client failed on the transport in: ${transportFailures.map((f) => `${f.scenario} (${f.error}, after ${(f.wallMs / 1000).toFixed(1)} s)`).join("; ")}. ` +
          "Rows from the first such failure on are measured with `Connection: close` on every request (the retried operation re-sent what the failed attempt had stored; the Worker stored those packs only once).",
      );
    if (restic) remarks.push("restic has no incremental restore (0.14 re-reads the whole snapshot), so its second device is measured only for the first pull and the fresh clone");

    // ---- profile: one more initial push, of a hard-linked copy of the folder, into a new vault ----
    let profile: BenchResult["profile"];
    if (opts.profile ?? true) {
      log("profile: initial push of the same folder into a new vault, with --cpu-prof");
      const P = join(work, "profile-vault");
      for (const d of ["notes", "embeddings", "positions"]) await cp(join(A, d), join(P, d), { recursive: true });
      await new HttpRemote({ url: server.url, vault: "profile", token }).create({ format: 1, addressing: "sha256", encryption: null });
      await folder(P, "profile");
      const profDir = join(work, "cpuprof");
      const r = await runChild<ClientFigures & { phases: EnginePhases; hashedBytes: number }>("bench/engine-client.ts", { dir: P, token, mode: "sync", syncGzip: true, closeConnections: closeAll }, { cpuProfDir: profDir });
      const file = (await readdir(profDir)).find((f) => f.endsWith(".cpuprofile"));
      const analysis = file ? await analyseProfile(join(profDir, file)) : { totalMs: 0, buckets: [] as ProfileBucket[] };
      profile = { wallMs: r.wallMs, cpuMs: r.cpuMs, phases: r.phases, hashedBytes: r.hashedBytes, buckets: analysis.buckets, totalMs: analysis.totalMs, ok: r.ok, error: r.error };
      // The Worker's side: its CPU profile (workerd inspector) while it ingests the first packs.
      log("profile: the Worker ingesting pushed packs, with workerd's inspector");
      const wfile = join(profDir, "worker.cpuprofile");
      const w = await runChild<ClientFigures & { pushMs: number; packs: number; bytes: number }>(
        "bench/worker-profile.ts",
        { packsDir: join(P, ".penumbra-sync", "store", "packs"), packs: 20, state: join(work, "worker-profile"), out: wfile },
        { nodeFlags: ["--experimental-websocket", "--no-warnings"] },
      );
      if (w.ok) {
        const wa = await analyseProfile(wfile, WORKER_RULES);
        profile.worker = { ok: true, pushMs: w.pushMs, packs: w.packs, bytes: w.bytes, requests: w.requests, totalMs: wa.totalMs, buckets: wa.buckets };
      } else profile.worker = { ok: false, error: w.error, pushMs: 0, packs: 0, bytes: 0, requests: 0, totalMs: 0, buckets: [] };
    }

    const machine = {
      nproc: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? "unknown",
      memoryGB: Math.round(os.totalmem() / 1e9),
      node: process.version,
      os: `${os.type()} ${os.release()}`,
      git: git?.version ?? (await versionOf("git --version")),
      restic: restic?.version ?? (await versionOf("restic version")),
      loadAverage: { start: loadBefore, end: os.loadavg()[0] },
    };
    const result: BenchResult = {
      notes: N,
      seed,
      date: new Date().toISOString(),
      durationMs: Date.now() - started,
      machine,
      vault: { bytes: vault.bytes, files: vault.notes * 3, generateMs: genMs },
      scenarios,
      rows,
      edits,
      remarks: [...new Set(remarks)],
      profile,
    };
    await writeReports(result, out);
    await rm(partial, { force: true });
    return result;
  } finally {
    await proxy?.close();
    await legacyProxy?.close();
    await server?.stop();
    await legacy?.stop();
    if (!opts.keep && !opts.work) await rm(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}
