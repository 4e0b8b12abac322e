// Watches the three part folders of a vault folder for changed files.
//
// Node's fs.watch on each folder, not recursive: the part folders are flat, and on Linux a
// non-recursive fs.watch is one inotify watch per folder. Measured on a burst (this machine,
// Node 20): 500 files written, atomically replaced or created and deleted: every file reported,
// no event lost; 5,000 atomic replacements with the event loop busy overflow the kernel's queue
// (16,384 events) and lose files without any signal. Node 20's recursive fs.watch reported no
// deletes at all. So: the folders are watched one by one, a burst past FULL_RESCAN_ABOVE paths
// is handled by a full rescan (the checkout index makes it cheap), and watch rescans everything at
// start, after a reconnect and periodically, as a safety net for an event lost anyway.
import { statSync, watch, type FSWatcher } from "node:fs";
import { writeFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { PART_DIRS } from "./vault-folder.ts";

/** Paths gathered in one debounce window above which a full rescan is cheaper (and the queue may have overflowed). */
export const FULL_RESCAN_ABOVE = 2000;

/**
 * Test hook, off unless set (test/e2e/watch.test.ts): events of paths matching this regular
 * expression are dropped, as if the kernel had lost them, so a test can show the periodic rescan
 * catching what the watcher missed.
 */
const DROP_ENV = "PENUMBRA_SYNC_TEST_DROP_EVENTS";

/** A barrier file: a dot-name ending in .tmp, which every scan skips (as our own temp files). */
const BARRIER = /^\.penumbra-sync-barrier-\d+-\d+\.tmp$/;

export class FolderWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  /** The inode of each watched folder when its watch began. */
  private readonly inodes = new Map<string, number>();
  private readonly barriers = new Map<string, () => void>();
  private barrierCount = 0;
  private readonly drop = process.env[DROP_ENV] ? new RegExp(process.env[DROP_ENV]!) : null;

  /** `onChange(rel)`: `<sub>/<name>` changed; `onChange(null)`: something unknown changed (rescan all). */
  constructor(
    private readonly dir: string,
    private readonly onChange: (rel: string | null) => void,
  ) {}

  /**
   * Watches every part folder not watched yet (a folder deleted and made again is watched anew), and
   * watches anew a folder that was replaced under its watch (another inode at its path: a clone's
   * first checkout renames a staged folder over an empty one, checkout-stage.ts), whose old watch
   * would report nothing more. Returns whether it did so: events in the replaced folder may have been
   * missed, so the caller rescans everything.
   */
  start(): boolean {
    let replaced = false;
    for (const { dir: sub } of Object.values(PART_DIRS)) {
      const path = join(this.dir, sub);
      const ino = statSync(path, { throwIfNoEntry: false })?.ino;
      const old = this.watchers.get(sub);
      if (old) {
        if (ino === this.inodes.get(sub)) continue;
        old.close();
        this.watchers.delete(sub);
        replaced = true;
      }
      if (ino === undefined) continue; // missing: the next full rescan (which calls start again) sees its files
      let w: FSWatcher;
      try {
        w = watch(path, { persistent: true });
      } catch {
        continue;
      }
      this.inodes.set(sub, ino); // taken before the watch: a replacement in between is seen next time
      w.on("change", (_event, name) => {
        if (name === null || name === undefined) return this.onChange(null);
        if (BARRIER.test(String(name))) return this.barriers.get(String(name))?.();
        const rel = `${sub}/${String(name)}`;
        if (this.drop?.test(rel)) return;
        this.onChange(rel);
      });
      w.on("error", () => {
        // The folder went away (deleted, renamed): forget the watch; everything needs a look.
        w.close();
        this.watchers.delete(sub);
        this.onChange(null);
      });
      this.watchers.set(sub, w);
    }
    return replaced;
  }

  /**
   * Resolves true once every change made before the call has been reported: it writes a barrier
   * file into a watched folder and waits for its own event, which the kernel queues after theirs
   * (one inotify queue per process, in order; watchman's "cookie"). False when no folder is
   * watched or the event did not come within `timeoutMs`: the caller must then rescan everything.
   */
  async barrier(timeoutMs = 2000): Promise<boolean> {
    const sub = this.watchers.keys().next().value;
    if (sub === undefined) return false;
    const name = `.penumbra-sync-barrier-${process.pid}-${++this.barrierCount}.tmp`;
    const path = join(this.dir, sub, name);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const seen = new Promise<boolean>((resolve) => {
      this.barriers.set(name, () => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      await writeFile(path, "");
      return await seen;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      this.barriers.delete(name);
      await unlink(path).catch(() => {});
    }
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
