import { runSyncLike } from "./sync.ts";
export const summary = "Send local changes (fails with a clear error if the remote moved: use sync to merge).";
export const usage = "penumbra-sync push <dir> [--token <t>] [--json]";
export const run = (args: string[]) => runSyncLike("push", args);
