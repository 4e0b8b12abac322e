// One writer per vault per browser: tabs (and their workers) of one origin share the vault's
// IndexedDB, so every sync and every write runs under an exclusive Web Lock named after the vault.
// A tab that finds the lock taken says so (`onWait`) and waits its turn; nothing is dropped.
// Without the Web Locks API (old browsers, Node tests) the work simply runs.

interface LockManager {
  request<T>(name: string, options: { ifAvailable?: boolean; mode?: "exclusive" }, fn: (lock: unknown) => Promise<T>): Promise<T>;
}

function lockManager(): LockManager | undefined {
  return (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
}

export function vaultLockName(dbName: string): string {
  return `penumbra-sync:lock:${dbName}`;
}

export async function withVaultLock<T>(name: string, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  const locks = lockManager();
  if (!locks) return fn();
  return locks.request(name, { ifAvailable: true }, async (lock) => {
    if (lock) return fn();
    onWait?.();
    return locks.request(name, {}, () => fn());
  });
}
