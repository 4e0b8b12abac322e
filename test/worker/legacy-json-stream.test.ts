// The streaming splitter behind /sync/push (worker/legacy/json-stream.ts): for any chunking of the
// body it hands over exactly the entries and members JSON.parse would see, and it refuses what
// JSON.parse refuses (plus duplicate top-level keys), so reading the body as a stream accepts
// nothing the whole-body parse did not.
import { describe, expect, it } from "vitest";
import { ApiError } from "../../worker/http.ts";
import { JsonMemberSplitter } from "../../worker/legacy/json-stream.ts";

const MAPS = new Set(["notes", "embeddings", "positions"]);
const dec = new TextDecoder();

/** Runs the splitter over `text` cut into chunks of the given sizes (cycled); what it delivered, parsed. */
function split(text: string, sizes: number[]): { entries: [string, string, unknown][]; members: [string, unknown][] } {
  const entries: [string, string, unknown][] = [];
  const members: [string, unknown][] = [];
  const s = new JsonMemberSplitter({
    isMap: (k) => MAPS.has(k),
    entry: (m, id, v) => entries.push([m, id, JSON.parse(dec.decode(v))]),
    member: (k, v) => members.push([k, JSON.parse(dec.decode(v))]),
  });
  const bytes = new TextEncoder().encode(text);
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    s.feed(bytes.slice(i, i + n)); // a copy: the splitter must not depend on one buffer
    i += n;
  }
  s.end();
  return { entries, members };
}

/** What a whole-body JSON.parse gives, in the splitter's terms. */
function expected(text: string) {
  const body = JSON.parse(text) as Record<string, any>;
  const entries: [string, string, unknown][] = [];
  const members: [string, unknown][] = [];
  for (const [k, v] of Object.entries(body)) {
    if (MAPS.has(k)) for (const [id, x] of Object.entries(v)) entries.push([k, id, x]);
    else members.push([k, v]);
  }
  return { entries, members };
}

/** A deterministic pseudo-random generator (no flakiness). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

const TRICKY_STRINGS = ['plain', 'quote " inside', "back\\slash", "braces {}[] and , : inside", "unicode \u00e9\u2603 \ud83d\ude00", "\u0000 control \n\t", "\\\"", ""];

function randomValue(r: () => number, depth: number): unknown {
  const p = r();
  if (depth > 3 || p < 0.3) {
    const q = r();
    if (q < 0.3) return TRICKY_STRINGS[Math.floor(r() * TRICKY_STRINGS.length)];
    if (q < 0.6) return (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
    if (q < 0.75) return Math.floor(r() * 1000);
    return [true, false, null][Math.floor(r() * 3)];
  }
  if (p < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`${TRICKY_STRINGS[i % TRICKY_STRINGS.length]}${i}`, randomValue(r, depth + 1)]));
}

describe("JsonMemberSplitter", () => {
  it("delivers what JSON.parse sees, for every chunking, with whitespace anywhere", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const body: Record<string, unknown> = {};
      for (const m of ["notes", "embeddings", "positions"]) if (r() < 0.8) body[m] = Object.fromEntries(Array.from({ length: Math.floor(r() * 5) }, (_, i) => [`id-${seed}-${i}`, randomValue(r, 0)]));
      if (r() < 0.5) body.deleted = ["a", "b"];
      if (r() < 0.5) body.snapshotId = r() < 0.5 ? "label-1" : 42;
      const compact = JSON.stringify(body);
      const spaced = JSON.stringify(body, null, seed % 3 === 0 ? "\t" : 2).replace(/\n/g, "\r\n");
      for (const text of [compact, spaced]) {
        const want = expected(text);
        for (const sizes of [[1], [2, 3], [7], [64], [text.length]]) expect(split(text, sizes), `seed ${seed} sizes ${sizes}`).toEqual(want);
      }
    }
  });

  it("takes scalars at the end of the body and empty objects", () => {
    expect(split('{"snapshotId":5}', [1])).toEqual({ entries: [], members: [["snapshotId", 5]] });
    expect(split(' { } ', [1])).toEqual({ entries: [], members: [] });
    expect(split('{"notes":{}}', [3])).toEqual({ entries: [], members: [] });
    expect(split('{"notes":{"a":{"t":"}"}},"deleted":[]}', [1])).toEqual({ entries: [["notes", "a", { t: "}" }]], members: [["deleted", []]] });
  });

  it("refuses what JSON.parse refuses, and duplicate top-level keys", () => {
    const bad = [
      "",
      "   ",
      "[]",
      '"notes"',
      "{",
      '{"notes":{"a":1},}',
      '{"notes":{"a":1,}}',
      '{"notes":{"a" 1}}',
      '{"notes":{a:1}}',
      "{notes:{}}",
      '{"notes":{"a":{"t":1}}} x',
      '{"notes":{"a":{"t":1}}}}',
      '{"notes":{"a":{"t":"unterminated}}}',
      '{"notes":{"a":{"t":1}}',
      '{"deleted":[1,2]',
      '{"deleted":}',
      '{"deleted"',
      '{"notes":[]}',
      '{"notes":5}',
      '{"notes":{},"notes":{}}',
      '{"snapshotId":"a","snapshotId":"b"}',
    ];
    for (const text of bad) {
      let err: unknown = null;
      try {
        // Values are checked by the sink's JSON.parse, as /sync/push does.
        split(text, [1]);
      } catch (e) {
        err = e;
      }
      expect(err, text).not.toBeNull();
      if (err instanceof ApiError) expect(err.status, text).toBe(400);
      else expect(err, text).toBeInstanceOf(SyntaxError);
    }
  });
});
