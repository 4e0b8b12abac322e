import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { toHex, utf8 } from "../../engine/core/bytes.ts";
import { addressOf } from "../../engine/core/hash.ts";
import {
  CanonicalJsonError,
  canonicalBytes,
  canonicalJson,
  parseJsonObject,
  parseJsonObjectBytes,
} from "../../engine/core/canonical.ts";
import { rng, shuffle } from "./util.ts";

/** Rebuilds every object of a JSON value with its keys inserted in a seeded random order. */
function reorderKeys(v: unknown, random: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => reorderKeys(x, random));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of shuffle(Object.keys(v), random)) {
      Object.defineProperty(out, k, { value: reorderKeys((v as Record<string, unknown>)[k], random), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

function nested(depth: number, kind: "array" | "object"): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { k: v };
  return v;
}

describe("canonicalJson: objects", () => {
  it("sorts keys, nested objects and objects inside arrays included", () => {
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
    expect(canonicalJson({ z: { y: 1, x: [{ d: 1, c: 2 }] }, a: null })).toBe('{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}');
  });

  it("sorts keys by UTF-16 code units, not by code points or locale", () => {
    // U+1F600 is the surrogate pair D83D DE00, so it sorts before U+FB01 (code point order would not).
    const v = { "\uFB01": 1, "\u{1F600}": 2, "\u00e9": 3, Z: 4, a: 5, "10": 6, "9": 7, "1": 8, "": 9 };
    expect(canonicalJson(v)).toBe('{"":9,"1":8,"10":6,"9":7,"Z":4,"a":5,"\u00e9":3,"\u{1F600}":2,"\uFB01":1}');
  });

  it("writes no insignificant whitespace", () => {
    const s = canonicalJson({ a: [1, 2, { b: "x y" }], c: { d: true } });
    expect(s).toBe('{"a":[1,2,{"b":"x y"}],"c":{"d":true}}');
  });

  it("skips undefined object members (as JSON.stringify does)", () => {
    expect(canonicalJson({ a: undefined, b: 1, c: undefined })).toBe('{"b":1}');
    expect(canonicalJson({ a: undefined })).toBe("{}");
  });

  it("accepts null-prototype objects", () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.b = 1;
    o.a = 2;
    expect(canonicalJson(o)).toBe('{"a":2,"b":1}');
  });

  it("keeps an own __proto__ key (as JSON.parse makes it)", () => {
    const o = JSON.parse('{"__proto__":{"x":1},"a":0}');
    expect(canonicalJson(o)).toBe('{"__proto__":{"x":1},"a":0}');
  });
});

describe("canonicalJson: numbers", () => {
  it("writes -0 as 0", () => {
    expect(canonicalJson(-0)).toBe("0");
    expect(canonicalJson([-0, 0])).toBe("[0,0]");
    expect(canonicalJson({ a: -0 })).toBe('{"a":0}');
  });

  it("writes the ECMAScript shortest form", () => {
    const cases: [number, string][] = [
      [1e21, "1e+21"],
      [1e20, "100000000000000000000"],
      [0.1, "0.1"],
      [5e-7, "5e-7"],
      [1e-6, "0.000001"],
      [1.5e-10, "1.5e-10"],
      [-1.5, "-1.5"],
      [100, "100"],
      [2 ** 53, "9007199254740992"],
      [Number.MAX_VALUE, "1.7976931348623157e+308"],
      [Number.MIN_VALUE, "5e-324"],
      [0.1 + 0.2, "0.30000000000000004"],
      [123456789012345678901, "123456789012345680000"],
    ];
    for (const [n, s] of cases) expect(canonicalJson(n)).toBe(s);
  });

  it("matches JSON.stringify for every finite double except -0", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        expect(canonicalJson(d)).toBe(Object.is(d, -0) ? "0" : JSON.stringify(d));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("canonicalJson: strings", () => {
  it("escapes exactly as JSON.stringify does", () => {
    const samples = ['"', "\\", "/", "\b\f\n\r\t", "\u0000\u0001\u001f\u007f", "\u2028\u2029", "\ud800", "\udfff", "\u{1F600}", "caf\u00e9"];
    for (const s of samples) {
      expect(canonicalJson(s)).toBe(JSON.stringify(s));
      expect(canonicalJson({ [s]: s })).toBe(`{${JSON.stringify(s)}:${JSON.stringify(s)}}`);
    }
    expect(canonicalJson("\u0000")).toBe('"\\u0000"');
    expect(canonicalJson("\ud800")).toBe('"\\ud800"'); // lone surrogates are escaped, never U+FFFD
  });

  it("escapes any UTF-16 string (lone surrogates included) as JSON.stringify does", () => {
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), (s) => {
        expect(canonicalJson(s)).toBe(JSON.stringify(s));
        expect(canonicalJson({ [s]: 0 })).toBe(`{${JSON.stringify(s)}:0}`);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("canonicalJson: rejects what is not JSON", () => {
  const bad: [string, unknown][] = [
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["-Infinity", -Infinity],
    ["NaN inside an object", { a: NaN }],
    ["Infinity inside an array", [1, Infinity]],
    ["undefined at the top", undefined],
    ["undefined inside an array", [undefined]],
    ["a function", () => 1],
    ["a function member", { f: () => 1 }],
    ["a symbol", Symbol("x")],
    ["a bigint", 1n],
    ["a Date", new Date(0)],
    ["a Map", new Map()],
    ["a boxed number", Object(1)],
    ["a class instance", new (class Note { title = "x"; })()],
    ["a typed array", new Uint8Array(2)],
  ];
  for (const [name, v] of bad) {
    it(`rejects ${name}`, () => {
      expect(() => canonicalJson(v)).toThrow(CanonicalJsonError);
    });
  }

  it("rejects nesting deeper than 256 levels, arrays and objects, but not 200", () => {
    expect(() => canonicalJson(nested(200, "array"))).not.toThrow();
    expect(() => canonicalJson(nested(200, "object"))).not.toThrow();
    expect(() => canonicalJson(nested(300, "array"))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(nested(300, "object"))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(nested(100_000, "array"))).toThrow(CanonicalJsonError);
  });

  it("rejects a cycle (as too deep) instead of overflowing the stack", () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    expect(() => canonicalJson(o)).toThrow(CanonicalJsonError);
  });
});

describe("canonicalJson: properties", () => {
  it("is a fixed point: canonicalJson(JSON.parse(canonicalJson(x))) === canonicalJson(x)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (x) => {
        const c = canonicalJson(x);
        expect(canonicalJson(JSON.parse(c))).toBe(c);
      }),
      { numRuns: 500 },
    );
  });

  it("is JSON that parses back to an equal value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (x) => {
        // JSON.stringify also writes -0 as 0, so the reference is x through plain JSON.
        expect(JSON.parse(canonicalJson(x))).toEqual(JSON.parse(JSON.stringify(x)));
      }),
      { numRuns: 300 },
    );
  });

  it("does not depend on key insertion order", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (x, seed) => {
        const y = reorderKeys(x, rng(seed));
        expect(toHex(canonicalBytes(y))).toBe(toHex(canonicalBytes(x)));
      }),
      { numRuns: 500 },
    );
  });

  it("does not depend on the formatting of the JSON text it came from", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (x) => {
        expect(canonicalJson(JSON.parse(JSON.stringify(x, null, 2)))).toBe(canonicalJson(JSON.parse(JSON.stringify(x))));
      }),
      { numRuns: 200 },
    );
  });
});

describe("canonicalJson: golden note", () => {
  // A note as an app might write it: keys in any order, unicode in keys and values, awkward numbers.
  const note = {
    title: "Groceries",
    body: 'milk\neggs "free range"\t\u00e9\u2028',
    tags: ["home", "list"],
    pinned: false,
    created: 1732550400000,
    meta: { z: null, a: [1e21, 0.1, 5e-7, -0, 100, 1.5e-10, 123456789012345678901] },
    "\u{1F600}": "emoji",
    "\uFB01": "ligature",
    "\u00e9": "e-acute",
  };
  const TEXT =
    '{"body":"milk\\neggs \\"free range\\"\\t\u00e9\u2028","created":1732550400000,"meta":{"a":[1e+21,0.1,5e-7,0,100,1.5e-10,123456789012345680000],"z":null},"pinned":false,"tags":["home","list"],"title":"Groceries","\u00e9":"e-acute","\u{1F600}":"emoji","\uFB01":"ligature"}';
  const HEX =
    "7b22626f6479223a226d696c6b5c6e65676773205c22667265652072616e67655c225c74c3a9e280a8222c2263726561746564223a313733323535303430303030302c226d657461223a7b2261223a5b31652b32312c302e312c35652d372c302c3130302c312e35652d31302c3132333435363738393031323334353638303030305d2c227a223a6e756c6c7d2c2270696e6e6564223a66616c73652c2274616773223a5b22686f6d65222c226c697374225d2c227469746c65223a2247726f636572696573222c22c3a9223a22652d6163757465222c22f09f9880223a22656d6f6a69222c22efac81223a226c69676174757265227d";
  const ADDR = "2fe2951e16359e383d9acbbdfa7be34319ff9616b2ac9da1d415e894d4a0d024";

  it("has locked canonical text, bytes and address", () => {
    expect(canonicalJson(note)).toBe(TEXT);
    expect(toHex(canonicalBytes(note))).toBe(HEX);
    expect(addressOf(canonicalBytes(note))).toBe(ADDR);
  });

  it("gets the same address from reformatted, reordered JSON text", () => {
    const pretty = JSON.stringify(reorderKeys(note, rng(7)), null, 4);
    expect(addressOf(canonicalBytes(JSON.parse(pretty)))).toBe(ADDR);
  });
});

describe("parseJsonObject / parseJsonObjectBytes", () => {
  it("parses objects and rejects other JSON and non-JSON", () => {
    expect(parseJsonObject('{"a":1}')).toEqual({ a: 1 });
    for (const t of ["[]", "1", "null", '"x"', "{", ""]) expect(() => parseJsonObject(t)).toThrow(CanonicalJsonError);
  });

  it("rejects invalid UTF-8 instead of replacing it", () => {
    expect(parseJsonObjectBytes(utf8('{"a":"\u00e9"}'))).toEqual({ a: "\u00e9" });
    const bad = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d]); // {"a":"<c3>"}
    expect(() => parseJsonObjectBytes(bad)).toThrow(CanonicalJsonError);
  });
});
