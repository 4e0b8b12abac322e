// Small measuring helpers: folder sizes, timed shell commands (wall, CPU, peak RSS, bytes read),
// and the peak RSS of the workerd processes that serve the Workers.
import { spawn } from "node:child_process";
import { readdir, lstat, readFile, writeFile, rm, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Apparent size (sum of file sizes) and file count of a folder tree; 0 if it does not exist. */
export async function dirBytes(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (let i = 0; i < names.length; i += 256) {
      await Promise.all(
        names.slice(i, i + 256).map(async (n) => {
          const p = join(d, n);
          const st = await lstat(p).catch(() => null);
          if (!st) return;
          if (st.isDirectory()) await walk(p);
          else if (st.isFile()) {
            bytes += st.size;
            files++;
          }
        }),
      );
    }
  };
  await walk(dir);
  return { bytes, files };
}

export interface ShellRun {
  code: number;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** user + system CPU of the command and every process it waited for (GNU time). */
  cpuMs: number;
  /** Largest peak RSS among those processes (GNU time %M). */
  peakRssBytes: number;
  /** Bytes the command's processes read and wrote through read()/write() (/proc/<sh>/io after they were reaped). */
  rchar: number;
  wchar: number;
}

let scratch: string | undefined;

/** Runs `sh -c cmd` under /usr/bin/time; `env` is added to the environment. */
export async function timedShell(cmd: string, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<ShellRun> {
  scratch ??= await mkdtemp(join(tmpdir(), "penumbra-bench-sh-"));
  const timeFile = join(scratch, "time");
  const ioFile = join(scratch, "io");
  await rm(ioFile, { force: true });
  const script = `${cmd}\nrc=$?\ncat /proc/$$/io > '${ioFile}'\nexit $rc`;
  const t0 = performance.now();
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-o", timeFile, "-f", "%e %U %S %M", "sh", "-c", script], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
  const wallMs = performance.now() - t0;
  const t = (await readFile(timeFile, "utf8").catch(() => "")).trim().split("\n").pop()?.split(/\s+/) ?? [];
  const io = await readFile(ioFile, "utf8").catch(() => "");
  const ioField = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, "m").exec(io)?.[1] ?? 0);
  return {
    ...r,
    wallMs,
    cpuMs: (Number(t[1] ?? 0) + Number(t[2] ?? 0)) * 1000,
    peakRssBytes: Number(t[3] ?? 0) * 1024,
    rchar: ioField("rchar"),
    wchar: ioField("wchar"),
  };
}

/** Answers a program's first output line, or null if it is not installed. */
export async function versionOf(cmd: string): Promise<string | null> {
  const r = await timedShell(`${cmd} 2>/dev/null`).catch(() => null);
  return r && r.code === 0 ? r.stdout.trim().split("\n")[0] : null;
}

// ---- workerd processes ------------------------------------------------------------------------

async function procStat(pid: number): Promise<{ ppid: number; comm: string } | null> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const ppid = Number(s.slice(close + 2).split(" ")[1]);
    return { ppid, comm };
  } catch {
    return null;
  }
}

/** Pids of workerd processes descending from this process. */
export async function workerdPids(): Promise<number[]> {
  const all = (await readdir("/proc").catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
  const info = new Map<number, { ppid: number; comm: string }>();
  await Promise.all(all.map(async (p) => {
    const s = await procStat(p);
    if (s) info.set(p, s);
  }));
  const mine = (p: number): boolean => {
    for (let q = p, depth = 0; q > 1 && depth < 10; depth++) {
      const s = info.get(q);
      if (!s) return false;
      if (s.ppid === process.pid) return true;
      q = s.ppid;
    }
    return false;
  };
  return [...info].filter(([p, s]) => s.comm.startsWith("workerd") && mine(p)).map(([p]) => p).sort((a, b) => a - b);
}

/** Resets a process's peak RSS (VmHWM) to its current RSS; false if the kernel refuses. */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** VmHWM (peak RSS since start or the last reset) and VmRSS of a process, in bytes. */
export async function rssOf(pid: number): Promise<{ peak: number; now: number } | null> {
  try {
    const s = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? 0) * 1024;
    return { peak: kb("VmHWM"), now: kb("VmRSS") };
  } catch {
    return null;
  }
}
