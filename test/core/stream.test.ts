import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { FormatError, concatBytes, fromHex, toHex, utf8 } from "../../engine/core/bytes.ts";
import {
  STREAM_MAGIC,
  Section,
  SectionTooLargeError,
  StreamReader,
  encodeSection,
  jsonSection,
  parseSectionJson,
  readSections,
  sectionHeader,
  type StreamSection,
} from "../../engine/core/stream.ts";
import { randomBytes, settlesWithin } from "./util.ts";

const LIMITS = { maxSection: 1 << 20 };

/** A stream that hands out `pieces` one per pull, then closes (or never closes, if `hang`). */
function streamOf(pieces: Uint8Array[], opts: { hang?: boolean } = {}): ReadableStream<Uint8Array> & { pulls: () => number } {
  let i = 0;
  let pulls = 0;
  const s = new ReadableStream<Uint8Array>({
    pull(c) {
      pulls++;
      if (i < pieces.length) c.enqueue(pieces[i++]);
      else if (opts.hang) return new Promise(() => {}); // the rest of the body never arrives
      else c.close();
    },
  });
  return Object.assign(s, { pulls: () => pulls });
}

/** The same as a byte stream (request bodies in workerd, fetch bodies in Node): StreamReader reads it with BYOB reads. */
function byteStreamOf(pieces: Uint8Array[]): ReadableStream<Uint8Array> & { pulls: () => number } {
  let i = 0;
  let pulls = 0;
  const s = new ReadableStream({
    type: "bytes",
    pull(c) {
      pulls++;
      while (i < pieces.length && pieces[i].length === 0) i++; // a byte stream cannot enqueue nothing
      if (i < pieces.length) c.enqueue(pieces[i++].slice());
      else {
        c.close();
        c.byobRequest?.respond(0);
      }
    },
  }) as ReadableStream<Uint8Array>;
  return Object.assign(s, { pulls: () => pulls });
}

/** Cuts bytes at the given offsets (sorted, deduped, in range); empty pieces included. */
function cut(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const at = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const o of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, o));
    prev = o;
  }
  return out;
}

async function readAll(stream: ReadableStream<Uint8Array>, limits = LIMITS): Promise<StreamSection[]> {
  const out: StreamSection[] = [];
  for await (const s of readSections(stream, limits)) out.push(s);
  return out;
}

async function readAll2(reader: StreamReader, limits = LIMITS): Promise<StreamSection[]> {
  const out: StreamSection[] = [];
  for await (const s of readSections(reader, limits)) out.push(s);
  return out;
}

const view = (ss: StreamSection[]) => ss.map((s) => [String.fromCharCode(s.kind), toHex(s.payload)]);

// "PNS" 01 | 'J' len=13 {"head":null} | 'P' len=4 "PNPK" | 'E' len=2 {}
const GOLDEN = "504e5301" + "4a0d000000" + "7b2268656164223a6e756c6c7d" + "5004000000" + "504e504b" + "4502000000" + "7b7d";

describe("framing", () => {
  it("golden: a J, a P and an E section", () => {
    const bytes = concatBytes([STREAM_MAGIC, jsonSection(Section.Json, { head: null }), encodeSection(Section.Pack, utf8("PNPK")), jsonSection(Section.End, {})]);
    expect(toHex(bytes)).toBe(GOLDEN);
    expect(toHex(sectionHeader(Section.Pack, 0x01020304))).toBe("5004030201");
  });

  it("reads the golden stream", async () => {
    const ss = await readAll(streamOf([fromHex(GOLDEN)]));
    expect(view(ss)).toEqual([
      ["J", toHex(utf8('{"head":null}'))],
      ["P", toHex(utf8("PNPK"))],
      ["E", toHex(utf8("{}"))],
    ]);
    expect(parseSectionJson(ss[0])).toEqual({ head: null });
  });

  it("yields the same sections however the bytes are cut into pieces (fast-check)", async () => {
    const sectionArb = fc.oneof(
      fc.record({ kind: fc.constant(Section.Json), payload: fc.jsonValue().map((v) => utf8(JSON.stringify({ v }))) }),
      fc.record({ kind: fc.constant(Section.Pack), payload: fc.integer({ min: 0, max: 20_000 }).map((n) => randomBytes(n, n + 1)) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(sectionArb, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 40 }), async (sections, offsets) => {
        const end = { kind: Section.End, payload: utf8('{"ok":true}') };
        const all = [...sections, end];
        const bytes = concatBytes([STREAM_MAGIC, ...all.map((s) => encodeSection(s.kind, s.payload))]);
        const got = await readAll(streamOf(cut(bytes, offsets)));
        expect(view(got)).toEqual(view(all as StreamSection[]));
      }),
      { numRuns: 200 },
    );
  });

  it("one byte at a time", async () => {
    const bytes = fromHex(GOLDEN);
    const ss = await readAll(streamOf(Array.from(bytes, (b) => new Uint8Array([b]))));
    expect(ss.length).toBe(3);
  });

  it("an empty section payload", async () => {
    const bytes = concatBytes([STREAM_MAGIC, encodeSection(Section.Pack, new Uint8Array(0)), jsonSection(Section.End, {})]);
    expect(view(await readAll(streamOf([bytes])))).toEqual([
      ["P", ""],
      ["E", "7b7d"],
    ]);
  });

  it("stops at the End section without waiting for the stream to close", async () => {
    const s = streamOf([fromHex(GOLDEN), utf8("trailing bytes that are never read")], { hang: true });
    const p = readAll(s);
    expect(await settlesWithin(p, 1000)).toBe(true);
    expect((await p).length).toBe(3);
  });
});

describe("rejects", () => {
  const body = fromHex(GOLDEN);

  it("a stream without its End section (clean end after a section)", async () => {
    const noEnd = body.subarray(0, body.length - 7);
    await expect(readAll(streamOf([noEnd]))).rejects.toThrow(/without its end section/);
    await expect(readAll(streamOf([STREAM_MAGIC]))).rejects.toThrow(/without its end section/);
  });

  it("a stream cut anywhere else: FormatError, never a hang", async () => {
    for (let n = 0; n < body.length; n++) {
      await expect(readAll(streamOf([body.subarray(0, n)]))).rejects.toThrow(FormatError);
    }
  });

  it("bad magic, and a stream of another version", async () => {
    for (const i of [0, 1, 2, 3]) {
      const bad = body.slice();
      bad[i] ^= 0x01;
      await expect(readAll(streamOf([bad]))).rejects.toThrow(/bad magic/);
    }
    await expect(readAll(streamOf([]))).rejects.toThrow(/bad magic/);
  });

  it("an unknown section kind", async () => {
    for (const kind of [0x00, 0x4b, 0x70, 0xff]) {
      const bad = concatBytes([STREAM_MAGIC, encodeSection(kind as never, utf8("{}")), jsonSection(Section.End, {})]);
      await expect(readAll(streamOf([bad]))).rejects.toThrow(/unknown section kind/);
    }
  });

  it("a section over the limit, before reading its payload (the payload never arrives)", async () => {
    const s = streamOf([STREAM_MAGIC, sectionHeader(Section.Pack, 5_000_001)], { hang: true });
    const p = readAll(s, { maxSection: 5_000_000 });
    // If the reader waited for the payload, this would never settle.
    expect(await settlesWithin(p, 1000)).toBe(true);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SectionTooLargeError);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as SectionTooLargeError).length).toBe(5_000_001);
    expect((err as SectionTooLargeError).limit).toBe(5_000_000);
    expect(s.pulls()).toBeLessThanOrEqual(3); // magic, header, at most one pull that hangs
  });

  it("a section exactly at the limit is read", async () => {
    const bytes = concatBytes([STREAM_MAGIC, encodeSection(Section.Pack, new Uint8Array(100)), jsonSection(Section.End, {})]);
    expect((await readAll(streamOf([bytes]), { maxSection: 100 }))[0].payload.length).toBe(100);
    await expect(readAll(streamOf([bytes]), { maxSection: 99 })).rejects.toThrow(SectionTooLargeError);
  });

  it("a 4 GiB length field is refused by the limit, not attempted", async () => {
    const p = readAll(streamOf([STREAM_MAGIC, fromHex("50ffffffff")], { hang: true }));
    await expect(p).rejects.toThrow(SectionTooLargeError);
  });
});

describe("StreamReader and section JSON", () => {
  it("reads exact byte counts across pieces and counts what it consumed", async () => {
    const r = new StreamReader(streamOf([utf8("ab"), utf8(""), utf8("cdef"), utf8("g")]));
    expect(new TextDecoder().decode((await r.read(3))!)).toBe("abc");
    expect(new TextDecoder().decode((await r.read(4))!)).toBe("defg");
    expect(r.consumed).toBe(7);
    expect(await r.read(1)).toBeNull();
  });

  it("a short read is a FormatError", async () => {
    const r = new StreamReader(streamOf([utf8("ab")]));
    await expect(r.read(3)).rejects.toThrow(/1 bytes early/);
  });

  it("with byob, a byte stream is read with BYOB reads: exact counts across pieces, a short read, a clean end", async () => {
    const r = new StreamReader(byteStreamOf([utf8("ab"), utf8(""), utf8("cdef"), utf8("g")]), { byob: true });
    expect(new TextDecoder().decode((await r.read(3))!)).toBe("abc");
    expect(new TextDecoder().decode((await r.read(4))!)).toBe("defg");
    expect(r.consumed).toBe(7);
    expect(await r.read(1)).toBeNull();
    await expect(new StreamReader(byteStreamOf([utf8("ab")]), { byob: true }).read(3)).rejects.toThrow(/1 bytes early/);
  });

  it("sections of a byte stream, cut anywhere, read as from a plain stream", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 8 }), async (packs, offsets) => {
        const bytes = concatBytes([STREAM_MAGIC, ...packs.map((p) => encodeSection(Section.Pack, p)), jsonSection(Section.End, {})]);
        const got = await readAll2(new StreamReader(byteStreamOf(cut(bytes, offsets)), { byob: true }));
        expect(view(got)).toEqual(view(await readAll(streamOf(cut(bytes, offsets)))));
        expect(got.length).toBe(packs.length + 1);
      }),
      { numRuns: 100 },
    );
  });

  it("a byte stream section larger than one BYOB step (1 MiB) comes back whole", async () => {
    const big = randomBytes(2.5 * 1024 * 1024 + 3, 7);
    const bytes = concatBytes([STREAM_MAGIC, encodeSection(Section.Pack, big), jsonSection(Section.End, {})]);
    const got = await readAll2(new StreamReader(byteStreamOf(cut(bytes, [1000, 700_000, 1_500_000, 2_700_000])), { byob: true }), { maxSection: 4 << 20 });
    expect(toHex(got[0].payload)).toBe(toHex(big));
  });

  it("a byte stream section's length is not taken on its word: no BYOB read asks for more than 1 MiB before that much came", async () => {
    const declared = 3 * 1024 * 1024;
    const head = concatBytes([STREAM_MAGIC, sectionHeader(Section.Pack, declared), randomBytes(100, 3)]);
    const asked: number[] = [];
    let sent = false;
    const s = new ReadableStream({
      type: "bytes",
      pull(c) {
        asked.push(c.byobRequest?.view?.byteLength ?? 0);
        if (!sent) {
          sent = true;
          c.enqueue(head.slice());
        } else {
          c.close();
          c.byobRequest?.respond(0);
        }
      },
    }) as ReadableStream<Uint8Array>;
    await expect(readAll2(new StreamReader(s, { byob: true }), { maxSection: 4 << 20 })).rejects.toThrow(/early/);
    expect(asked.length).toBeGreaterThan(1);
    expect(Math.max(...asked)).toBeLessThanOrEqual(1024 * 1024);
  });

  it("maxBytes: a read that would pass it throws overLimit's error, on byte streams before reading, on plain streams as the bytes come", async () => {
    const bytes = concatBytes([STREAM_MAGIC, encodeSection(Section.Pack, randomBytes(100, 1)), jsonSection(Section.End, {})]);
    const over = () => new RangeError("too big");
    for (const make of [byteStreamOf, streamOf]) {
      await expect(readAll2(new StreamReader(make([bytes]), { byob: true, maxBytes: bytes.length - 1, overLimit: over }))).rejects.toThrow("too big");
      expect((await readAll2(new StreamReader(make([bytes]), { byob: true, maxBytes: bytes.length, overLimit: over }))).length).toBe(2);
    }
    // A byte stream: the section over the limit is refused from its header, before its payload is pulled.
    const s = byteStreamOf([bytes.subarray(0, 9), bytes.subarray(9)]);
    await expect(readAll2(new StreamReader(s, { byob: true, maxBytes: 50, overLimit: over }))).rejects.toThrow("too big");
    expect(s.pulls()).toBe(1);
  });

  it("parseSectionJson accepts objects only", () => {
    expect(parseSectionJson({ kind: Section.Json, payload: utf8('{"a":1}') })).toEqual({ a: 1 });
    for (const t of ["[1]", "null", "1", "{", ""]) expect(() => parseSectionJson({ kind: Section.Json, payload: utf8(t) })).toThrow(FormatError);
    expect(() => parseSectionJson({ kind: Section.Json, payload: new Uint8Array([0x7b, 0xff, 0x7d]) })).toThrow(FormatError);
  });
});
