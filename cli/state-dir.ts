// Where a vault folder keeps the engine's state: <dir>/.penumbra-sync/. Its own module so that a
// one-shot sync a running watch serves (watch-lock.ts, watch-socket.ts) finds the watch's lock
// without loading the store and engine behind cli/context.ts.
export const STATE_DIR = ".penumbra-sync";
