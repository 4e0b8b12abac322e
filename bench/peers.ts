// What a user would use instead, on the same vault folder: git (commit + push to a local bare
// repository; a second clone pulls) and restic (backup to a local repository; restore elsewhere).
// Bytes are what the repositories grow by (git gc is never run: gc.auto=0), as issue 6 asks.
import { mkdir, writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { dirBytes, timedShell, versionOf, type ShellRun } from "./util.ts";

export interface PeerFigures {
  ok: boolean;
  error?: string;
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  up?: number;
  down?: number;
  /** Objects (git) or files (restic) in the repository after the operation. */
  objects?: number;
  storedBytes?: number;
  note?: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function figures(r: ShellRun): PeerFigures {
  const ok = r.code === 0;
  return { ok, error: ok ? undefined : `exit ${r.code}: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`, wallMs: r.wallMs, cpuMs: r.cpuMs, peakRssBytes: r.peakRssBytes };
}

// ---- git --------------------------------------------------------------------------------------

export class GitPeer {
  static readonly install = "apt-get install -y git";
  readonly remote: string;
  private readonly env: Record<string, string>;

  private constructor(readonly work: string, readonly vaultDir: string, readonly version: string) {
    this.remote = join(work, "remote.git");
    const config: [string, string][] = [
      ["gc.auto", "0"],
      ["maintenance.auto", "false"],
      ["receive.autogc", "false"],
      ["init.defaultBranch", "main"],
      ["commit.gpgsign", "false"],
      ["core.excludesFile", join(work, "exclude")],
    ];
    this.env = {
      GIT_CONFIG_NOSYSTEM: "1",
      HOME: work,
      GIT_AUTHOR_NAME: "bench",
      GIT_AUTHOR_EMAIL: "bench@localhost",
      GIT_COMMITTER_NAME: "bench",
      GIT_COMMITTER_EMAIL: "bench@localhost",
      GIT_CONFIG_COUNT: String(config.length),
      ...Object.fromEntries(config.flatMap(([k, v], i) => [[`GIT_CONFIG_KEY_${i}`, k], [`GIT_CONFIG_VALUE_${i}`, v]])),
    };
  }

  /** Null when git is not installed. */
  static async open(work: string, vaultDir: string): Promise<GitPeer | null> {
    const version = await versionOf("git --version");
    if (!version) return null;
    const g = new GitPeer(work, vaultDir, version);
    await mkdir(work, { recursive: true });
    // The engine's state and the predecessor's marker are not part of the vault.
    await writeFile(join(work, "exclude"), ".penumbra-sync/\n.legacy-sync.json\n");
    for (const r of [await g.sh(`git init -q --bare ${q(g.remote)}`), await g.sh("git init -q", undefined, { GIT_DIR: join(work, "a.git"), GIT_WORK_TREE: vaultDir })]) {
      if (r.code !== 0) throw new Error(`git init failed: ${r.stderr}`);
    }
    return g;
  }

  private sh(cmd: string, cwd?: string, env: Record<string, string> = {}) {
    return timedShell(cmd, { cwd, env: { ...this.env, ...env } });
  }

  private async repoFigures(): Promise<{ objects: number; bytes: number }> {
    const r = await this.sh(`git --git-dir=${q(this.remote)} count-objects -v`);
    const field = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, "m").exec(r.stdout)?.[1] ?? 0);
    return { objects: field("count") + field("in-pack"), bytes: (await dirBytes(this.remote)).bytes };
  }

  /** add -A, commit (if anything changed), push. Bytes up = growth of the bare repository. */
  async push(label: string): Promise<PeerFigures> {
    const before = (await dirBytes(this.remote)).bytes;
    const gitEnv = { GIT_DIR: join(this.work, "a.git"), GIT_WORK_TREE: this.vaultDir };
    const r = await this.sh(`git add -A && { git diff --cached --quiet || git commit -q -m ${q(label)}; } && git push -q ${q("file://" + this.remote)} HEAD:refs/heads/main`, this.vaultDir, gitEnv);
    const f = figures(r);
    const repo = await this.repoFigures();
    return { ...f, up: repo.bytes - before, down: 0, objects: repo.objects, storedBytes: repo.bytes };
  }

  /** Second device: clone once, then pull. Bytes down = growth of its .git. */
  async pull(device: string): Promise<PeerFigures> {
    const dir = join(this.work, device);
    const gitDir = join(dir, ".git");
    const before = (await dirBytes(gitDir)).bytes;
    const cmd = before === 0 ? `git clone -q ${q("file://" + this.remote)} ${q(dir)}` : `git -C ${q(dir)} pull -q --ff-only`;
    const f = figures(await this.sh(cmd));
    return { ...f, up: 0, down: (await dirBytes(gitDir)).bytes - before, note: before === 0 ? "git clone" : "git pull" };
  }
}

// ---- restic -----------------------------------------------------------------------------------

export class ResticPeer {
  static readonly install = "apt-get install -y restic   # Debian package";
  readonly repo: string;
  private readonly env: Record<string, string>;

  private constructor(readonly work: string, readonly vaultDir: string, readonly version: string) {
    this.repo = join(work, "repo");
    this.env = { RESTIC_PASSWORD: "penumbra-bench", RESTIC_REPOSITORY: this.repo, RESTIC_CACHE_DIR: join(work, "cache-a"), RESTIC_PROGRESS_FPS: "0.016" };
  }

  static async open(work: string, vaultDir: string): Promise<ResticPeer | null> {
    const version = await versionOf("restic version");
    if (!version) return null;
    const p = new ResticPeer(work, vaultDir, version);
    await mkdir(work, { recursive: true });
    const r = await p.sh("restic init -q");
    if (r.code !== 0) throw new Error(`restic init failed: ${r.stderr}`);
    return p;
  }

  private sh(cmd: string, cwd?: string, env: Record<string, string> = {}) {
    return timedShell(cmd, { cwd, env: { ...this.env, ...env } });
  }

  /** restic backup of the vault's three folders. Bytes up = growth of the repository. */
  async backup(): Promise<PeerFigures> {
    const before = (await dirBytes(this.repo)).bytes;
    const r = await this.sh("restic backup -q --host bench notes embeddings positions", this.vaultDir);
    const after = await dirBytes(this.repo);
    return { ...figures(r), up: after.bytes - before, down: 0, objects: after.files, storedBytes: after.bytes };
  }

  /**
   * Restore of the latest snapshot into a fresh folder with a fresh cache (another device).
   * Bytes down = what restic read (rchar): the repository files it needed, the wire of a remote repo.
   */
  async restore(device: string): Promise<PeerFigures> {
    const target = join(this.work, device);
    const cache = join(this.work, `cache-${device}`);
    await rm(target, { recursive: true, force: true });
    await rm(cache, { recursive: true, force: true });
    const r = await this.sh(`restic restore -q latest --target ${q(target)}`, undefined, { RESTIC_CACHE_DIR: cache });
    return { ...figures(r), up: 0, down: r.rchar, note: "restic restore into an empty folder; bytes = bytes restic read (rchar)" };
  }
}
