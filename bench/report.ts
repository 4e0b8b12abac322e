// The benchmark's output: bench/results/<N>-notes.md (tables, goals, profile), .json (every
// figure) and .svg (bytes on the wire vs share of notes changed, log scale, hand-rolled).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { EditResult } from "./edits.ts";
import type { EnginePhases } from "./engine-client.ts";
import type { ProfileBucket } from "./profile.ts";

export type SystemId = "penumbra-sync" | "predecessor" | "git" | "restic";
export const SYSTEMS: SystemId[] = ["penumbra-sync", "predecessor", "git", "restic"];

export interface ScenarioInfo {
  id: string;
  label: string;
  device: "A" | "B" | "C";
}

export interface Row {
  system: SystemId;
  scenario: string;
  device: string;
  status: "ok" | "failed" | "skipped";
  error?: string;
  note?: string;
  wallMs?: number;
  /** penumbra-sync clients: from the process's start to the operation's (Node's boot, loading the client). */
  startupMs?: number;
  cpuMs?: number;
  peakRssBytes?: number;
  up?: number;
  down?: number;
  requests?: number;
  r2A?: number;
  r2B?: number;
  storedObjects?: number;
  storedDetail?: string;
  storedBytes?: number;
  /** Vault data read + hashed + packed by the client, per second of scan + commit (MB = 1e6 B). */
  pipelineMBs?: number;
  hashedBytes?: number;
  /** workerd's peak RSS during the operation (VmHWM, reset before it). */
  serverPeakRssBytes?: number;
  phases?: Record<string, number>;
}

export interface BenchResult {
  notes: number;
  seed: number;
  date: string;
  durationMs: number;
  machine: { nproc: number; cpu: string; memoryGB: number; node: string; os: string; git: string | null; restic: string | null; loadAverage: { start: number; end: number } };
  vault: { bytes: number; files: number; generateMs: number };
  scenarios: ScenarioInfo[];
  rows: Row[];
  edits: Record<string, EditResult & { ids: number }>;
  remarks: string[];
  profile?: {
    ok: boolean;
    error?: string;
    wallMs: number;
    cpuMs: number;
    phases: EnginePhases;
    hashedBytes: number;
    totalMs: number;
    buckets: ProfileBucket[];
    worker?: { ok: boolean; error?: string; pushMs: number; packs: number; bytes: number; requests: number; totalMs: number; buckets: ProfileBucket[] };
  };
}

// ---- formatting -------------------------------------------------------------------------------

const KiB = 1024;
const MiB = 1024 * 1024;
const int = (n: number) => Math.round(n).toLocaleString("en");

export function fmtBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "—";
  const neg = n < 0 ? "−" : "";
  const a = Math.abs(n);
  if (a < 10 * KiB) return `${neg}${int(a)} B`;
  if (a < MiB) return `${neg}${(a / KiB).toFixed(1)} KiB`;
  if (a < 1024 * MiB) return `${neg}${(a / MiB).toFixed(a < 10 * MiB ? 2 : 1)} MiB`;
  return `${neg}${(a / 1024 / MiB).toFixed(2)} GiB`;
}

const fmtS = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? "—" : ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`);
const fmtMB = (b: number | undefined) => (b === undefined || !b || !Number.isFinite(b) ? "—" : `${int(b / MiB)} MiB`);
const fmtN = (n: number | undefined) => (n === undefined ? "—" : int(n));

function table(head: string[], rows: string[][], align: ("l" | "r")[]): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  return [
    `| ${head.join(" | ")} |`,
    `|${align.map((a) => (a === "r" ? "---:" : "---")).join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

// ---- goals ------------------------------------------------------------------------------------

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  verdict: "met" | "not met" | "n/a" | "indirect";
}

export function evaluateGoals(r: BenchResult): Goal[] {
  const get = (system: SystemId, scenario: string) => r.rows.find((x) => x.system === system && x.scenario === scenario);
  const e = (s: string) => get("penumbra-sync", s);
  const total = (x?: Row) => (x ? (x.up ?? 0) + (x.down ?? 0) : NaN);
  const at = r.notes === 100_000 ? "" : ` (this run: ${int(r.notes)} notes; the goal is set at 100,000)`;
  const goals: Goal[] = [];
  const verdict = (ok: boolean, row?: Row) => (!row || row.status !== "ok" ? "not met" : ok ? "met" : "not met");

  const one = e("edit1");
  const onePull = e("edit1-pull");
  goals.push({
    goal: `one note edited: push and pull on the wire${at}`,
    target: "push ≤ 16 KiB and pull ≤ 16 KiB",
    measured: `push ${fmtBytes(total(one))} (${fmtBytes(one?.up)} up, ${fmtBytes(one?.down)} down, ${one?.requests ?? "—"} req); pull ${fmtBytes(total(onePull))} (${onePull?.requests ?? "—"} req)`,
    verdict: verdict(total(one) <= 16 * KiB && total(onePull) <= 16 * KiB, one && onePull && onePull.status === "ok" ? one : undefined),
  });
  const noop = e("noop");
  goals.push({
    goal: `no-op sync${at}`,
    target: "≤ 2 s and ≤ 2 KiB",
    measured: `${fmtS(noop?.wallMs)} (open ${fmtS(noop?.phases?.openMs)}, scan ${fmtS(noop?.phases?.scanMs)}, remote ${fmtS(noop?.phases?.remoteMs)}; the whole command with Node's start-up ${fmtS(noop?.startupMs !== undefined && noop.wallMs !== undefined ? noop.wallMs + noop.startupMs : undefined)}), ${fmtBytes(total(noop))} in ${noop?.requests ?? "—"} request(s)`,
    verdict: verdict((noop?.wallMs ?? Infinity) <= 2000 && total(noop) <= 2 * KiB, noop),
  });
  const pct = e("edit1pct");
  const ed = r.edits.edit1pct;
  goals.push({
    goal: "1% of notes edited: bytes up",
    target: "≤ 1.3 × gzip of the changed items",
    measured: ed ? `${fmtBytes(pct?.up)} up = ${((pct?.up ?? NaN) / ed.gzipBytes).toFixed(2)} × gzip of the ${int(ed.notes)} changed notes' items (${fmtBytes(ed.gzipBytes)} of ${fmtBytes(ed.rawBytes)} raw)` : "—",
    verdict: ed ? verdict((pct?.up ?? Infinity) <= 1.3 * ed.gzipBytes, pct) : "n/a",
  });
  const init = e("initial");
  const resticInit = get("restic", "initial");
  const e2e = init?.wallMs ? r.vault.bytes / 1e6 / (init.wallMs / 1000) : NaN;
  goals.push({
    goal: `initial push: time vs restic's first backup of the same folder${at}`,
    target: "≤ ½ of restic's time",
    measured: resticInit?.status === "ok" ? `${fmtS(init?.wallMs)} vs restic ${fmtS(resticInit.wallMs)} (${((init?.wallMs ?? NaN) / resticInit.wallMs!).toFixed(2)} ×)` : `${fmtS(init?.wallMs)}; restic not run`,
    verdict: resticInit?.status === "ok" ? verdict((init?.wallMs ?? Infinity) <= 0.5 * resticInit.wallMs!, init) : "n/a",
  });
  goals.push({
    goal: "initial push: vault data through the client pipeline (read + parse + hash + pack + gzip)",
    target: "≥ 100 MB/s",
    measured: `${init?.pipelineMBs?.toFixed(1) ?? "—"} MB/s over scan + commit (${fmtS((init?.phases?.scanMs ?? 0) + (init?.phases?.commitMs ?? 0))} for ${(r.vault.bytes / 1e6).toFixed(1)} MB); end to end ${e2e.toFixed(1)} MB/s`,
    verdict: verdict((init?.pipelineMBs ?? 0) >= 100, init),
  });
  const engineRows = r.rows.filter((x) => x.system === "penumbra-sync" && x.peakRssBytes);
  const peakRow = engineRows.reduce<Row | undefined>((m, x) => (!m || (x.peakRssBytes ?? 0) > (m.peakRssBytes ?? 0) ? x : m), undefined);
  goals.push({
    goal: `client peak RSS${at}`,
    target: "≤ 512 MiB",
    measured: peakRow ? `${fmtMB(peakRow.peakRssBytes)} (scenario ${peakRow.scenario}; the client process's VmHWM; the client runs bundled, as the CLI does)` : "—",
    verdict: peakRow ? ((peakRow.peakRssBytes ?? Infinity) <= 512 * MiB ? "met" : "not met") : "n/a",
  });
  const initPeak = init?.serverPeakRssBytes;
  const noopPeak = noop?.serverPeakRssBytes;
  goals.push({
    goal: "the Worker holds at most one pack of a request in memory",
    target: "≤ one pack (MAX_PACK_BYTES 8 MiB; push requests carry ≤ 16 MiB)",
    measured:
      initPeak !== undefined
        ? `workerd peak RSS ${fmtMB(initPeak)} during the initial push vs ${fmtMB(noopPeak)} during the no-op sync; workerd also holds the local R2 and SQLite, so this bounds, not measures, the request's share`
        : "workerd RSS not readable",
    verdict: "indirect",
  });
  return goals;
}

// ---- markdown ---------------------------------------------------------------------------------

function systemTable(r: BenchResult, system: SystemId): string {
  const rows = r.scenarios.map((sc) => {
    const x = r.rows.find((y) => y.system === system && y.scenario === sc.id);
    if (!x) return [sc.label, ...Array(10).fill("—"), system === "restic" && sc.device === "B" ? "not run (see notes)" : ""];
    const failed = x.status !== "ok";
    const cpuPct = x.wallMs && x.cpuMs !== undefined && Number.isFinite(x.cpuMs) ? ` (${Math.round((100 * x.cpuMs) / x.wallMs)}%)` : "";
    return [
      failed ? `${sc.label} — **failed**` : sc.label,
      fmtS(x.wallMs),
      x.cpuMs === undefined || !Number.isFinite(x.cpuMs) ? "—" : `${fmtS(x.cpuMs)}${cpuPct}`,
      fmtMB(x.peakRssBytes),
      failed && !x.up ? "—" : fmtBytes(x.up),
      failed && !x.down ? "—" : fmtBytes(x.down),
      failed && !x.requests ? "—" : fmtN(x.requests),
      x.r2A === undefined || (failed && !x.r2A && !x.r2B) ? "—" : `${fmtN(x.r2A)} / ${fmtN(x.r2B)}`,
      x.storedDetail ?? "—",
      x.pipelineMBs && (x.hashedBytes ?? 0) >= 1e6 ? x.pipelineMBs.toFixed(1) : "—",
      fmtMB(x.serverPeakRssBytes),
      [failed ? x.error : "", x.note].filter(Boolean).join("; "),
    ];
  });
  const head = ["scenario", "wall", "client CPU", "client peak RSS", "bytes up", "bytes down", "HTTP req", "R2 ops A / B", "stored", "pipeline MB/s", "workerd peak RSS", "note"];
  // Drop the columns a system does not have (all "—" or empty).
  const keep = head.map((_, i) => i < 2 || rows.some((row) => row[i] !== "—" && row[i] !== ""));
  const align = head.map((_, i) => (i === 0 || i === head.length - 1 ? "l" : "r") as "l" | "r");
  return table(head.filter((_, i) => keep[i]), rows.map((row) => row.filter((_, i) => keep[i])), align.filter((_, i) => keep[i]));
}

function sideBySide(r: BenchResult): string {
  const present = SYSTEMS.filter((s) => r.rows.some((x) => x.system === s));
  const rows = r.scenarios.map((sc) => [
    sc.label,
    ...present.map((s) => {
      const x = r.rows.find((y) => y.system === s && y.scenario === sc.id);
      if (!x) return "—";
      if (x.status !== "ok") return "failed";
      return `${fmtBytes(x.up)} ↑ ${fmtBytes(x.down)} ↓ · ${fmtS(x.wallMs)}`;
    }),
  ]);
  return table(["scenario", ...present], rows, ["l", ...present.map(() => "r" as const)]);
}

function profileSection(r: BenchResult): string {
  const p = r.profile;
  if (!p) return "";
  const init = r.rows.find((x) => x.system === "penumbra-sync" && x.scenario === "initial");
  const ph = init?.phases as EnginePhases | undefined;
  const lines: string[] = ["## Initial push: where the time goes", ""];
  if (ph) {
    const tot = init!.wallMs!;
    const share = (v: number) => `${fmtS(v)} (${Math.round((100 * v) / tot)}%)`;
    lines.push(
      "Phases of the measured initial push (timers in bench/engine-client.ts around the engine's own steps):",
      "",
      table(
        ["phase", "what runs", "time"],
        [
          ["open", "openFolder: local store index, working tree, stat cache", share(ph.openMs)],
          ["scan", "stat every file; read, parse, canonicalise and SHA-256 each new one (cli/vault-folder.ts)", share(ph.scanMs)],
          ["commit", "Merkle tree, packs: frames gzipped on libuv's pool, pack SHA-256, local pack files (engine/vault/vault.ts)", share(ph.commitMs)],
          ["remote", "HTTP upload of the packs; the Worker inflates + SHA-256s every object, puts each pack to R2, indexes it in the Durable Object; commit", share(ph.remoteMs)],
          ["other", "refs, stat cache, closing", share(ph.otherMs)],
          ["total", "", fmtS(tot)],
        ],
        ["l", "l", "r"],
      ),
      "",
    );
  }
  if (p.ok) {
    lines.push(
      `CPU profile (\`node --cpu-prof\`) of a second initial push of the same folder into a new vault, with gzip moved onto the main thread so the sampling profiler sees it (so this run is slower: ${fmtS(p.wallMs)}, CPU ${fmtS(p.cpuMs)}). gzip alone took ${fmtS(p.phases.gzipMs)} for ${(p.phases.gzipRawBytes ?? 0) / 1e6 > 0 ? ((p.phases.gzipRawBytes ?? 0) / 1e6).toFixed(1) : "0"} MB (${(((p.phases.gzipRawBytes ?? 0) / 1e6) / ((p.phases.gzipMs ?? 1) / 1000)).toFixed(1)} MB/s). Main-thread samples by category (start-up included):`,
      "",
      table(["category", "time", "share"], p.buckets.filter((b) => b.share >= 0.005).map((b) => [b.category, fmtS(b.ms), `${(100 * b.share).toFixed(1)}%`]), ["l", "r", "r"]),
      "",
      `Phases of the profiled run: open ${fmtS(p.phases.openMs)}, scan ${fmtS(p.phases.scanMs)}, commit ${fmtS(p.phases.commitMs)} (gzip ${fmtS(p.phases.gzipMs)}), remote ${fmtS(p.phases.remoteMs)}, other ${fmtS(p.phases.otherMs)}.`,
      "",
    );
  } else lines.push(`The profiled run failed: ${p.error}`, "");
  const w = p.worker;
  if (w?.ok) {
    lines.push(
      `The Worker's side (bench/worker-profile.ts): workerd's own CPU profile, through its inspector, while the Worker ingested the first ${w.packs} packs of that push (${fmtBytes(w.bytes)}, ${w.requests} requests of 4 packs, one after another, into a fresh vault): ${fmtS(w.pushMs)}, ${((w.bytes / 1e6) / (w.pushMs / 1000)).toFixed(1)} MB/s. ` +
        "R2 itself and the SQLite engine run inside workerd too; their time shows where the Worker waits for them (idle) or calls them.",
      "",
      table(["category", "time", "share"], w.buckets.filter((b) => b.share >= 0.005).map((b) => [b.category, fmtS(b.ms), `${(100 * b.share).toFixed(1)}%`]), ["l", "r", "r"]),
      "",
    );
  } else if (w) lines.push(`The Worker profile failed: ${w.error}`, "");
  return lines.join("\n");
}

export function renderMarkdown(r: BenchResult): string {
  const m = r.machine;
  const goals = evaluateGoals(r);
  const present = SYSTEMS.filter((s) => r.rows.some((x) => x.system === s));
  const out: string[] = [
    `# penumbra-sync benchmark: ${int(r.notes)} notes`,
    "",
    `Run ${r.date.slice(0, 16).replace("T", " ")} UTC with \`npm run bench -- --notes ${r.notes} --seed ${r.seed}\`; the whole run took ${fmtS(r.durationMs)}.`,
    "",
    `Machine: ${m.nproc} vCPU (${m.cpu}), ${m.memoryGB} GB RAM, ${m.os}, Node ${m.node}, ${m.git ?? "git not installed"}, ${m.restic ?? "restic not installed"}. ` +
      `1-minute load average ${m.loadAverage.start.toFixed(1)} at the start, ${m.loadAverage.end.toFixed(1)} at the end (the machine is shared: times are noisy, compare ratios).`,
    "",
    `Vault: ${int(r.notes)} generated notes (sample/generator.ts, seed ${r.seed}), ${int(r.vault.files)} files, ${(r.vault.bytes / 1e6).toFixed(1)} MB (notes JSON + 1,536-byte embeddings + positions); generated in ${fmtS(r.vault.generateMs)}.`,
    "",
    "Every system works on the same vault folder (device A), in the same run, on this one machine; servers listen on loopback only. " +
      "penumbra-sync and the predecessor run as real Workers in workerd (Miniflare) with R2 on disk; their bytes are counted on the wire by a TCP proxy (request lines, headers, bodies). " +
      "Clients run in their own process per operation: wall and CPU (user + system, all threads) cover the operation without Node start-up; client peak RSS is that process's VmHWM. " +
      "git and restic are timed with GNU time around the whole command; their bytes are repository growth.",
    "",
    "## Goals (issue 6)",
    "",
    table(["goal", "target", "measured", "verdict"], goals.map((g) => [g.goal, g.target, g.measured, `**${g.verdict}**`]), ["l", "l", "l", "l"]),
    "",
    "## Bytes on the wire vs share of notes changed",
    "",
    `![bytes transferred vs share of notes changed](${r.notes}-notes.svg)`,
    "",
    "## Side by side (bytes up ↑, down ↓, wall time)",
    "",
    sideBySide(r),
    "",
  ];
  const titles: Record<SystemId, string> = {
    "penumbra-sync": "penumbra-sync through the local Worker over HTTP",
    predecessor: "predecessor's protocol (bench/baseline/: push everything as one JSON body, pull everything)",
    git: "git: add + commit + push to a local bare repository; device B: clone, then pull",
    restic: "restic: backup to a local repository; device B/C: restore into an empty folder",
  };
  for (const s of present) out.push(`## ${titles[s]}`, "", systemTable(r, s), "");
  out.push(profileSection(r));
  const ed = Object.entries(r.edits);
  out.push(
    "## Notes",
    "",
    "- Columns: *R2 ops A / B* are the Worker's own counts (class A: put, list, delete; class B: get, head), read from `x-r2-ops` or a pull's `E` section. " +
      "*stored*: penumbra-sync — packs in R2 / objects indexed; predecessor — R2 objects; git — objects in the bare repository; restic — files in the repository. " +
      "*pipeline MB/s*: vault bytes the client read and hashed, per second of scan + commit (MB = 10^6 bytes). *workerd peak RSS*: VmHWM of the workerd process serving that Worker (reset before each operation); it includes the local R2 and SQLite.",
    "- penumbra-sync's second device (B) and clone (C) run the same `sync` as A; B has nothing to push, so it is a pull-since.",
    "- The predecessor's client does not know what changed: every sync pushes the whole folder, every pull receives the whole vault and rewrites every file. Its push only writes, so deleted notes stay on its server (and come back on the next pull). " +
      "A push body over 100 MB would be refused by Cloudflare (Free/Pro request limit) and the Worker's 128 MB memory would not hold it; locally neither limit applies.",
    "- git: `git add -A && git commit && git push` (gc.auto=0, git gc never runs); bytes up = growth of the bare repository, bytes down = growth of the second clone's .git.",
    "- restic: `restic backup` of notes/, embeddings/, positions/; bytes up = growth of the repository. Restores read the whole snapshot; bytes down = bytes restic read (rchar), i.e. what a remote repository would have to send.",
    ...ed.map(([k, v]) => `- ${k}: ${int(v.notes)} note${v.notes === 1 ? "" : "s"} edited; changed items ${fmtBytes(v.rawBytes)} raw, ${fmtBytes(v.gzipBytes)} gzipped together; files rewritten ${fmtBytes(v.fileBytes)}.`),
    ...r.remarks.map((n) => `- ${n}`),
    "",
    `Raw figures: [${r.notes}-notes.json](${r.notes}-notes.json).`,
    "",
  );
  return out.join("\n");
}

// ---- SVG chart --------------------------------------------------------------------------------

const COLORS: Record<SystemId, string> = { "penumbra-sync": "#1b7f3b", predecessor: "#c0392b", git: "#2c5aa0", restic: "#8e44ad" };
const CHART_POINTS = [
  { scenario: "noop", label: "no change" },
  { scenario: "edit1", label: "1 note" },
  { scenario: "edit1pct", label: "1%" },
  { scenario: "edit10pct", label: "10%" },
];

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function renderSvg(r: BenchResult): string {
  const W = 780;
  const H = 440;
  const L = 80;
  const R = 560;
  const T = 50;
  const Bm = 380;
  const series = SYSTEMS.filter((s) => r.rows.some((x) => x.system === s)).map((system) => {
    const pts = CHART_POINTS.map((p) => {
      const x = r.rows.find((y) => y.system === system && y.scenario === p.scenario);
      return x && x.status === "ok" ? (x.up ?? 0) + (x.down ?? 0) : null;
    });
    const failed = r.rows.find((y) => y.system === system && y.status === "failed" && CHART_POINTS.some((p) => p.scenario === y.scenario));
    return { system, pts, failed };
  });
  const values = series.flatMap((s) => s.pts).filter((v): v is number => v !== null && v > 0);
  const lo = Math.floor(Math.log10(Math.max(1, Math.min(...values, 1e3))));
  const hi = Math.ceil(Math.log10(Math.max(...values, 1e4)));
  const y = (v: number) => Bm - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (Bm - T);
  const x = (i: number) => L + 30 + (i * (R - L - 60)) / (CHART_POINTS.length - 1);
  const tickLabel = (e: number) => fmtBytes(10 ** e).replace(/\.0 /, " ");
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="24" font-size="15" font-weight="bold">Bytes on the wire per sync vs share of notes changed (${int(r.notes)} notes)</text>`,
    `<text x="${L}" y="40" fill="#555">pushing device, up + down; git and restic: repository growth; log scale</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    parts.push(`<line x1="${L}" x2="${R}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`);
    parts.push(`<text x="${L - 8}" y="${y(10 ** e) + 4}" text-anchor="end" fill="#333">${escapeXml(tickLabel(e))}</text>`);
  }
  parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${Bm}" stroke="#333"/><line x1="${L}" x2="${R}" y1="${Bm}" y2="${Bm}" stroke="#333"/>`);
  CHART_POINTS.forEach((p, i) => {
    parts.push(`<line x1="${x(i)}" x2="${x(i)}" y1="${Bm}" y2="${Bm + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(i)}" y="${Bm + 20}" text-anchor="middle">${escapeXml(p.label)}</text>`);
  });
  parts.push(`<text x="${(L + R) / 2}" y="${Bm + 42}" text-anchor="middle" fill="#333">share of notes changed since the last sync</text>`);
  let ly = T + 10;
  for (const s of series) {
    const color = COLORS[s.system];
    const drawn = s.pts.map((v, i) => (v === null ? null : { px: x(i), py: y(v), v }));
    const segs = drawn.filter((d): d is { px: number; py: number; v: number } => d !== null);
    if (segs.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${segs.map((d) => `${d.px.toFixed(1)},${d.py.toFixed(1)}`).join(" ")}"/>`);
    for (const d of segs) {
      parts.push(`<circle cx="${d.px.toFixed(1)}" cy="${d.py.toFixed(1)}" r="4" fill="${color}"/>`);
      parts.push(`<text x="${(d.px + 6).toFixed(1)}" y="${(d.py - 6).toFixed(1)}" fill="${color}" font-size="10">${escapeXml(d.v === 0 ? "0 B" : fmtBytes(d.v))}</text>`);
    }
    parts.push(`<line x1="${R + 20}" x2="${R + 44}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    const label = s.failed && segs.length === 0 ? `${s.system}: failed` : s.system;
    parts.push(`<text x="${R + 50}" y="${ly + 4}">${escapeXml(label)}</text>`);
    if (s.failed && segs.length === 0) {
      parts.push(`<text x="${R + 50}" y="${ly + 18}" fill="#777" font-size="10">${escapeXml((s.failed.error ?? "").slice(0, 34))}</text>`);
      ly += 14;
    }
    ly += 22;
  }
  parts.push(`<text x="${R + 20}" y="${ly + 8}" fill="#777" font-size="10">0 B is drawn on the bottom line</text>`);
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}

export async function writeReports(r: BenchResult, dir: string): Promise<{ md: string; json: string; svg: string }> {
  await mkdir(dir, { recursive: true });
  const base = join(dir, `${r.notes}-notes`);
  const files = { md: `${base}.md`, json: `${base}.json`, svg: `${base}.svg` };
  await writeFile(files.json, JSON.stringify({ ...r, goals: evaluateGoals(r) }, null, 2) + "\n");
  await writeFile(files.md, renderMarkdown(r));
  await writeFile(files.svg, renderSvg(r));
  return files;
}
