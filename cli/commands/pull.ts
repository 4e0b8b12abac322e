import { runSyncLike } from "./sync.ts";
export const summary = "Receive remote changes (merges with unpushed local edits; the next sync or push sends the merge).";
export const usage = "penumbra-sync pull <dir> [--token <t>] [--json]";
export const run = (args: string[]) => runSyncLike("pull", args);
