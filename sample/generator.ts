// The sample vault: deterministic synthetic notes for the demo, the tests and the benchmarks.
//
// Every note is derived from (seed, its index, the options) alone, so the vault streams in O(1)
// memory and wiki links can name other notes' titles by regenerating them instead of keeping them.
// Only the seeded PRNG below is used (never Math.random), and all text is ASCII, so the same seed
// and options give byte-identical output everywhere.
// No Node built-ins here (it runs in browser tests too); sample/folder.ts writes a vault to disk.

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  pick<T>(a: readonly T[]): T;
}

export interface GeneratedNote {
  id: string;
  note: Record<string, unknown>;
  embedding: Float32Array;
  position: { x: number; y: number; z: number };
}

export interface GenerateOptions {
  notes: number;
  seed?: number;
  dims?: number; // default 384
  largeFraction?: number; // default 0.01
}

// ---------------------------------------------------------------------------------------------
// PRNG: sfc32, with its 128-bit state filled by splitmix32 so that nearby seeds diverge at once.

/** A 32-bit bijective mix (the splitmix32 finaliser); distinct inputs give distinct outputs. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Output `i` (from 1) of splitmix32 started at `seed`. */
function splitmix32(seed: number, i: number): number {
  return mix32(seed + Math.imul(i, 0x9e3779b9));
}

// A class rather than closures: one is made per note, and this keeps creation and calls cheap.
class Sfc32 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = splitmix32(seed, 1);
    this.b = splitmix32(seed, 2);
    this.c = splitmix32(seed, 3);
    this.d = splitmix32(seed, 4);
    for (let i = 0; i < 12; i++) this.u32(); // warm up: sfc32's first outputs are weakly mixed
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  next(): number {
    return this.u32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)];
  }
}

export function makeRng(seed: number): Rng {
  return new Sfc32(seed);
}

/** Seed of the sub-stream `salt` of note `index`: independent streams without storing state. */
function noteSeed(seed: number, index: number, salt: number): number {
  return mix32(mix32(seed ^ 0x5bd1e995) ^ mix32(index + 0x27d4eb2f * salt));
}

function gaussian(rng: Rng): number {
  // Box-Muller; 1 - next() is in (0, 1] so the log is finite.
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * Adds scale * N(0, 1) to every element. Polar (Marsaglia) form of Box-Muller: both outputs of
 * each pair are used and no sin/cos is needed, which matters at 384 draws per note.
 */
function addGaussian(rng: Rng, v: Float64Array, scale: number): void {
  for (let i = 0; i < v.length; i += 2) {
    let x: number, y: number, s: number;
    do {
      x = 2 * rng.next() - 1;
      y = 2 * rng.next() - 1;
      s = x * x + y * y;
    } while (s >= 1 || s === 0);
    const f = scale * Math.sqrt((-2 * Math.log(s)) / s);
    v[i] += x * f;
    if (i + 1 < v.length) v[i + 1] += y * f;
  }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary: ~2,000 pseudo-words from syllables, built once from a fixed seed (the same for every
// vault seed, like a natural language). Words are picked with a skew so a few are frequent, which
// keeps compression ratios closer to real prose than a uniform draw would.

const VOCAB_SIZE = 2000;
const ONSETS = ["", "b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "k", "l", "m", "n", "p", "pl", "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z"];
const NUCLEI = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "ou", "y"];
const CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck", "x"];

function buildVocab(): string[] {
  const rng = makeRng(0x70656e75); // "penu"
  const words = new Set<string>();
  while (words.size < VOCAB_SIZE) {
    const u = rng.next();
    const syllables = u < 0.5 ? 1 : u < 0.85 ? 2 : 3;
    let w = "";
    for (let i = 0; i < syllables; i++) w += rng.pick(ONSETS) + rng.pick(NUCLEI) + rng.pick(CODAS);
    if (w.length >= 2) words.add(w);
  }
  // Shortest first, since wordIndex() favours low ranks: as in real text, frequent words are short.
  return [...words].sort((x, y) => x.length - y.length || (x < y ? -1 : 1));
}

const VOCAB = buildVocab();
const VOCAB_CAP = VOCAB.map((w) => w[0].toUpperCase() + w.slice(1));
const VOCAB_SP = VOCAB.map((w) => " " + w); // one concatenation per word instead of two
const TAGS = VOCAB.slice(200, 260);
const CODE_LANGS = ["ts", "js", "py", "sh", "json", ""];

function wordIndex(rng: Rng): number {
  const u = rng.next();
  return Math.floor(u * u * VOCAB_SIZE); // density ~ 1/sqrt(rank): a mild Zipf-like skew
}
function word(rng: Rng): string {
  return VOCAB[wordIndex(rng)];
}

// ---------------------------------------------------------------------------------------------
// Per-note fields

const TIME_MIN = Date.UTC(2022, 0, 1);
const TIME_MAX = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const KB = 1024;

function hex(n: number, len: number): string {
  return n.toString(16).padStart(len, "0");
}

/** UUID-v4-like id; the first group is a bijection of the index, so ids never collide. */
function noteId(seed: number, index: number, rng: Rng): string {
  const first = hex(mix32(index ^ mix32(seed)), 8);
  const g2 = hex(rng.int(0x10000), 4);
  const g3 = hex(0x4000 | rng.int(0x1000), 4); // version 4
  const g4 = hex(0x8000 | rng.int(0x4000), 4); // RFC 4122 variant
  const g5 = hex(rng.int(0x10000), 4) + hex(rng.int(0x10000), 4) + hex(rng.int(0x10000), 4);
  return `${first}-${g2}-${g3}-${g4}-${g5}`;
}

/** A capitalised phrase of `n` words, for titles and headings. */
function phrase(rng: Rng, n: number): string {
  let s = VOCAB_CAP[wordIndex(rng)];
  for (let i = 1; i < n; i++) s += VOCAB_SP[wordIndex(rng)];
  return s;
}

/** Title of note `index`, derivable on its own so other notes can link to it. */
function noteTitle(seed: number, index: number): string {
  const rng = makeRng(noteSeed(seed, index, 1));
  return phrase(rng, 1 + rng.int(5));
}

/** Where wiki links point: titles of notes 0..total-1 of the vault being generated (none if 0). */
interface LinkTargets {
  seed: number;
  total: number;
}
const NO_LINKS: LinkTargets = { seed: 0, total: 0 };

function sentence(rng: Rng, links: LinkTargets): string {
  const n = 6 + rng.int(13);
  // About one word in a hundred is a link; deciding once per sentence keeps the word loop lean.
  const linkAt = links.total > 0 && rng.next() < n * 0.01 ? 1 + rng.int(n - 1) : -1;
  let s = VOCAB_CAP[wordIndex(rng)];
  for (let i = 1; i < n; i++) {
    s += i === linkAt ? " [[" + noteTitle(links.seed, rng.int(links.total)) + "]]" : VOCAB_SP[wordIndex(rng)];
  }
  return s + ".";
}

/** Lines of a body and their JSON-escaped length so far (each "\n" separator counts as 2 bytes). */
class Lines {
  readonly lines: string[] = [];
  used = 0;
  push(line: string): void {
    this.lines.push(line);
    this.used += line.length + 2;
  }
}

/**
 * Markdown body whose JSON-escaped length is at most, and close to, `budget`. Text is assembled
 * from whole words, so the cost is per word, not per character.
 */
function buildBody(rng: Rng, title: string, budget: number, links: LinkTargets): string {
  const out = new Lines();
  out.push(`# ${title}`);
  out.push("");
  // Headings, lists and code blocks only while there is room to spare; the budget is then closed
  // by a paragraph cut at a word boundary, so the body never overshoots it.
  const SLACK = 600;
  while (out.used < budget) {
    const kind = budget - out.used > SLACK ? rng.next() : 1;
    if (kind < 0.1) {
      out.push("## " + phrase(rng, 2 + rng.int(6)));
      out.push("");
    } else if (kind < 0.25) {
      const items = 2 + rng.int(5);
      for (let i = 0; i < items && budget - out.used > SLACK; i++) out.push("- " + sentence(rng, links));
      out.push("");
    } else if (kind < 0.3) {
      out.push("```" + rng.pick(CODE_LANGS));
      const rows = 1 + rng.int(6);
      for (let i = 0; i < rows; i++) out.push(`${i ? "  " : ""}${word(rng)}_${word(rng)}(${word(rng)}, ${rng.int(1000)});`);
      out.push("```");
      out.push("");
    } else {
      const room = budget - out.used - 2; // the paragraph's own escaped newline
      if (room <= 0) break;
      let para = sentence(rng, links);
      const count = 1 + rng.int(6);
      for (let i = 0; i < count && para.length < room; i++) para += " " + sentence(rng, links);
      if (para.length > room) {
        const cut = para.lastIndexOf(" ", room);
        para = para.slice(0, cut > 0 ? cut : room);
        const open = para.lastIndexOf("[[");
        if (open > para.lastIndexOf("]]")) para = para.slice(0, open).trimEnd(); // no dangling link
      }
      out.push(para);
      out.push("");
    }
  }
  const lines = out.lines;
  while (lines.length > 2 && lines[lines.length - 1] === "") lines.pop();
  return lines.join("\n");
}

function randomEmbedding(rng: Rng, dims: number): Float32Array {
  const v = new Float64Array(dims);
  addGaussian(rng, v, 1);
  return normalise(v);
}

/** L2-normalise in float64, then round once to float32 so the stored norm is 1 within ~1e-7. */
function normalise(v: Float64Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const inv = 1 / Math.sqrt(sum);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
  return out;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000 || 0; // `|| 0` turns -0 into 0
}

function generateNote(seed: number, index: number, total: number, dims: number, largeFraction: number): GeneratedNote {
  const rng = makeRng(noteSeed(seed, index, 0));
  const id = noteId(seed, index, rng);
  const title = noteTitle(seed, index);
  const tags: string[] = [];
  for (let i = rng.int(4); i > 0; i--) {
    const t = rng.pick(TAGS);
    if (!tags.includes(t)) tags.push(t);
  }
  const createdMs = TIME_MIN + rng.int(TIME_MAX - TIME_MIN);
  // Most notes are edited within days; the exponential tail reaches months. Never past TIME_MAX.
  const updatedMs = Math.min(TIME_MAX - 1, createdMs + Math.floor(-Math.log(1 - rng.next()) * 20 * DAY));

  // Target size of the serialised note (JSON.stringify(note, null, 2), as written to disk).
  const target = rng.next() < largeFraction
    ? 50 * KB + rng.int(150 * KB + 1)
    : Math.max(80, Math.round(1500 * Math.exp(0.6 * gaussian(rng))));

  const note: Record<string, unknown> = {
    id,
    title,
    body: "",
    tags,
    created: new Date(createdMs).toISOString(),
    updated: new Date(updatedMs).toISOString(),
  };
  const overhead = JSON.stringify(note, null, 2).length; // ASCII only, so chars = bytes
  note.body = buildBody(rng, title, target - overhead, { seed, total });

  const embedding = randomEmbedding(rng, dims);
  const position = {
    x: round3(rng.next() * 2000 - 1000),
    y: round3(rng.next() * 2000 - 1000),
    z: round3(rng.next() * 2000 - 1000),
  };
  return { id, note, embedding, position };
}

/** Streams `opts.notes` notes; note i depends only on (seed, i, options). */
export function* generateVault(opts: GenerateOptions): Generator<GeneratedNote> {
  const seed = (opts.seed ?? 1) >>> 0;
  const dims = opts.dims ?? 384;
  const largeFraction = opts.largeFraction ?? 0.01;
  for (let i = 0; i < opts.notes; i++) yield generateNote(seed, i, opts.notes, dims, largeFraction);
}

// ---------------------------------------------------------------------------------------------
// Edits

/**
 * What the app does when a user edits a note: one to three lines near the middle of the body get
 * a sentence inserted or replaced (so content-defined chunking sees a local change), `updated`
 * moves forward, the embedding drifts a little and the node moves slightly on the map.
 */
export function editNote(n: GeneratedNote, rng: Rng, time?: string): GeneratedNote {
  const lines = String(n.note.body ?? "").split("\n");
  const edits = 1 + rng.int(3);
  for (let e = 0; e < edits; e++) {
    // Middle half of the body, never the title line.
    const at = Math.max(1, Math.floor(lines.length * (0.25 + 0.5 * rng.next())));
    const s = sentence(rng, NO_LINKS);
    // Replace only prose lines, so headings and code fences keep the document's structure.
    const prose = /^(- )?[A-Z]/.test(lines[at] ?? "");
    if (rng.next() < 0.5 || !prose) lines.splice(at, 0, s);
    else lines[at] = s;
  }

  const prev = Date.parse(String(n.note.updated ?? ""));
  const base = Number.isFinite(prev) ? prev : TIME_MIN;
  const updated = time ?? new Date(base + 60_000 + rng.int(30 * DAY)).toISOString();

  const v = Float64Array.from(n.embedding);
  addGaussian(rng, v, 0.02);

  // Step 0.5..5 per axis with a random sign, bounced back inside [-1000, 1000] at the edges.
  const move = (c: number): number => {
    const d = (0.5 + 4.5 * rng.next()) * (rng.next() < 0.5 ? -1 : 1);
    return round3(Math.abs(c + d) > 1000 ? c - d : c + d);
  };

  return {
    id: n.id,
    note: { ...n.note, body: lines.join("\n"), updated },
    embedding: normalise(v),
    position: { x: move(n.position.x), y: move(n.position.y), z: move(n.position.z) },
  };
}

// ---------------------------------------------------------------------------------------------
// Output

/** Raw little-endian float32 bytes, whatever the host's byte order. */
export function embeddingBytes(f: Float32Array): Uint8Array {
  const out = new Uint8Array(f.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < f.length; i++) dv.setFloat32(i * 4, f[i], true);
  return out;
}
