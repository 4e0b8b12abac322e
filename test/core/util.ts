// Shared helpers for the core tests (not a test file itself).

/** Deterministic pseudo-random bytes (xorshift32, full 0..255 range). */
export function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Deterministic, gzip-friendly bytes: words from a small vocabulary, like note text. */
export function textBytes(n: number, seed: number): Uint8Array {
  const words = ["the ", "note ", "sync ", "pack ", "tree ", "hash ", "chunk ", "frame ", "vault ", "embedding ", "\n", "position ", "{\"x\":1} "];
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  let o = 0;
  while (o < n) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const w = words[x % words.length];
    for (let i = 0; i < w.length && o < n; i++) out[o++] = w.charCodeAt(i);
  }
  return out;
}

/** Seeded PRNG returning floats in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Resolves true if the promise settles (either way) within ms, false otherwise. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = p.then(
    () => true,
    () => true,
  );
  const r = await Promise.race([settled, timeout]);
  clearTimeout(timer);
  return r;
}
