// The workerd processes a local server (Miniflare) started under this process: for killing the
// runtime mid-request (test/e2e/upload-lease.test.ts) and reading its memory (bench/inflate-bomb.ts).
import { execFileSync } from "node:child_process";

/** Pids of this process's descendants running workerd. */
export function workerdPids(): number[] {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,comm="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .map(([pid, ppid, comm]) => ({ pid: Number(pid), ppid: Number(ppid), comm }));
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of rows) if (mine.has(r.ppid) && !mine.has(r.pid)) (mine.add(r.pid), (grew = true));
  }
  return rows.filter((r) => mine.has(r.pid) && r.comm.startsWith("workerd")).map((r) => r.pid);
}
