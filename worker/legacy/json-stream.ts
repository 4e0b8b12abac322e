// A streaming splitter for one JSON object whose members are either maps (an object of id -> value,
// delivered entry by entry) or plain values (delivered whole), fed the body chunk by chunk. It
// exists so that /sync/push never parses its whole body at once: JSON.parse of a 16 MiB push
// (the text, then every number of every embedding as a JS value) raised workerd's peak memory by
// ~80-150 MiB, most of a 128 MB isolate (issue 18 item 8). Here only one entry's bytes are held
// raw at a time; the sink turns each into what is stored (a few KB) and drops the text.
//
// It checks the structure it walks (braces, colons, commas, keys as strings, nothing after the
// object); each value it hands over is checked by the sink's JSON.parse. Duplicate top-level keys
// are refused; a duplicate id inside a map reaches the sink twice (it keeps the last, as JSON.parse).
import { concatBytes } from "../../engine/core/bytes.ts";
import { badRequest } from "../http.ts";

export interface MemberSink {
  /** True when the top-level member `key` is a map to split into entries; throws to refuse the key. */
  isMap(key: string): boolean;
  entry(map: string, id: string, value: Uint8Array): void;
  member(key: string, value: Uint8Array): void;
}

const enum S {
  TopOpen,
  TopKeyOrEnd,
  TopKey,
  TopColon,
  TopValue,
  TopCommaOrEnd,
  MapOpen,
  MapKeyOrEnd,
  MapKey,
  MapColon,
  MapValue,
  MapCommaOrEnd,
  Trailing,
}

const isWs = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const notJson = (what: string) => badRequest(`the body is not valid JSON (${what})`);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes of one JSON value being read: a string, an object or array (to its closing bracket), or a scalar. */
class ValueCapture {
  private parts: Uint8Array[] = [];
  private kind: "string" | "nested" | "scalar" = "scalar";
  private depth = 0;
  private inString = false;
  private escaped = false;
  active = false;

  start(first: number): void {
    this.parts = [];
    this.kind = first === 0x22 ? "string" : first === 0x7b || first === 0x5b ? "nested" : "scalar";
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.active = true;
  }

  /**
   * Consumes bytes of `chunk` from `i`; returns the index just past the value when it ended in
   * this chunk (a scalar ends before its delimiter, which is not consumed), else -1.
   */
  scan(chunk: Uint8Array, i: number): number {
    const from = i;
    for (; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === 0x5c) this.escaped = true;
        else if (b === 0x22) {
          this.inString = false;
          if (this.kind === "string") return this.finish(chunk, from, i + 1);
        }
        continue;
      }
      if (this.kind === "scalar") {
        if (isWs(b) || b === 0x2c || b === 0x7d || b === 0x5d) return this.finish(chunk, from, i);
        continue;
      }
      if (b === 0x22) this.inString = true;
      else if (this.kind === "nested") {
        if (b === 0x7b || b === 0x5b) this.depth++;
        else if (b === 0x7d || b === 0x5d) {
          if (--this.depth === 0) return this.finish(chunk, from, i + 1);
        }
      }
    }
    this.parts.push(chunk.subarray(from));
    return -1;
  }

  private finish(chunk: Uint8Array, from: number, end: number): number {
    this.parts.push(chunk.subarray(from, end));
    this.active = false;
    return end;
  }

  /** The whole value (one copy when it spanned chunks). */
  take(): Uint8Array {
    const parts = this.parts;
    this.parts = [];
    return parts.length === 1 ? parts[0] : concatBytes(parts);
  }

  /** A scalar at the very end of the body ends there. */
  endOfInput(): boolean {
    if (!this.active || this.kind !== "scalar") return false;
    this.active = false;
    return true;
  }
}

function decodeKey(bytes: Uint8Array): string {
  try {
    return JSON.parse(utf8.decode(bytes)) as string;
  } catch {
    throw notJson("a key is not a valid string");
  }
}

export class JsonMemberSplitter {
  private state = S.TopOpen;
  private readonly value = new ValueCapture();
  /** The value being captured is a key (of the object, or of a map), not a value. */
  private capturingKey = false;
  private key = "";
  private id = "";
  private readonly seen = new Set<string>();

  constructor(private readonly sink: MemberSink) {}

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.value.active) {
        const end = this.value.scan(chunk, i);
        if (end < 0) return;
        i = end;
        this.captured();
        continue;
      }
      const b = chunk[i];
      if (isWs(b)) {
        i++;
        continue;
      }
      switch (this.state) {
        case S.TopOpen:
          if (b !== 0x7b) throw badRequest("the body must be a JSON object");
          this.state = S.TopKeyOrEnd;
          i++;
          continue;
        case S.TopKeyOrEnd:
        case S.MapKeyOrEnd:
          if (b === 0x7d) {
            this.state = this.state === S.TopKeyOrEnd ? S.Trailing : S.TopCommaOrEnd;
            i++;
            continue;
          }
          this.startKey(b, this.state === S.TopKeyOrEnd ? S.TopKey : S.MapKey);
          continue; // the capture reads the opening quote
        case S.TopKey:
        case S.MapKey:
          this.startKey(b, this.state);
          continue;
        case S.TopColon:
        case S.MapColon:
          if (b !== 0x3a) throw notJson("expected ':'");
          this.state = this.state === S.TopColon ? S.TopValue : S.MapValue;
          i++;
          continue;
        case S.TopValue:
          if (this.sink.isMap(this.key)) {
            if (b !== 0x7b) throw badRequest(`\`${this.key}\` must be an object of id -> value`);
            this.state = S.MapKeyOrEnd;
            i++;
            continue;
          }
          this.value.start(b);
          continue;
        case S.MapValue:
          this.value.start(b);
          continue;
        case S.MapCommaOrEnd:
        case S.TopCommaOrEnd: {
          const inMap = this.state === S.MapCommaOrEnd;
          if (b === 0x2c) this.state = inMap ? S.MapKey : S.TopKey; // a key must follow: no trailing comma
          else if (b === 0x7d) this.state = inMap ? S.TopCommaOrEnd : S.Trailing;
          else throw notJson(inMap ? "expected ',' or '}' in a map" : "expected ',' or '}'");
          i++;
          continue;
        }
        case S.Trailing:
          throw notJson("text after the object");
      }
    }
  }

  end(): void {
    if (this.value.endOfInput()) this.captured();
    if (this.state !== S.Trailing || this.value.active) throw notJson("it ends early");
  }

  private startKey(b: number, keyState: S.TopKey | S.MapKey): void {
    if (b !== 0x22) throw notJson("expected a key in quotes");
    this.state = keyState;
    this.capturingKey = true;
    this.value.start(b);
  }

  private captured(): void {
    const bytes = this.value.take();
    if (this.capturingKey) {
      this.capturingKey = false;
      const k = decodeKey(bytes);
      if (this.state === S.TopKey) {
        if (this.seen.has(k)) throw badRequest(`\`${k.slice(0, 80)}\` appears twice in the body`);
        this.seen.add(k);
        this.key = k;
        this.state = S.TopColon;
      } else {
        this.id = k;
        this.state = S.MapColon;
      }
    } else if (this.state === S.TopValue) {
      this.sink.member(this.key, bytes);
      this.state = S.TopCommaOrEnd;
    } else {
      this.sink.entry(this.key, this.id, bytes);
      this.state = S.MapCommaOrEnd;
    }
  }
}
