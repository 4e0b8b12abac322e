// The Penumbra app's data as its Rust code serialises it (serde), for tests and benchmarks: a Note is
// {id: uuid, title, body, tags, meta: {created_at, updated_at, pinned, archived}}; a position is
// {x, y}; an embedding is 384 f32 values that serde writes widened to f64
// (0.1f32 -> 0.10000000149011612) and reads back with `as_f64() as f32`.

export interface AppNote {
  id: string;
  title: string;
  body: string;
  tags: string[];
  meta: { created_at: string; updated_at: string; pinned: boolean; archived: boolean };
}
export interface AppPosition {
  x: number;
  y: number;
}
/**
 * How serde_json writes an f32 widened to f64 (ryu: shortest text that reads back as the same
 * double, always with a fraction or exponent; -0.0 keeps its sign, which JSON.stringify drops).
 */
export function serdeF64(x: number): string {
  if (Object.is(x, -0)) return "-0.0";
  const t = String(x);
  return /[.e]/.test(t) ? t : `${t}.0`;
}

/** A deterministic UUID v4-shaped id (lower case, hyphenated) from a number. */
export function uuidOf(n: number, salt = 0): string {
  const h = (n * 2654435761 + salt * 40503) >>> 0;
  const hex = (h.toString(16).padStart(8, "0") + n.toString(16).padStart(24, "0")).slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function appNote(id: string, title: string, body: string, updatedAt = "2026-06-11T12:00:00.123456Z"): AppNote {
  return { id, title, body, tags: ["sync", "test"], meta: { created_at: "2026-06-01T08:30:00Z", updated_at: updatedAt, pinned: false, archived: false } };
}

/** 384 float32 values, with a few that f64 widening makes long (0.1f32 and friends), and -0. */
export function appEmbedding(seed: number): Float32Array {
  const f = new Float32Array(384);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(seed * 7.31 + i * 0.917) / (1 + (i % 7));
  f[0] = 0.1;
  f[1] = -0;
  f[2] = 1e-40; // subnormal
  return f;
}

export const bitsOf = (f: Float32Array) => [...new Uint32Array(f.buffer, f.byteOffset, f.length)];
