// Canonical JSON (the rules of RFC 8785 / JCS that matter for notes): object keys sorted by UTF-16
// code units, no insignificant whitespace, numbers in ECMAScript shortest form, strings escaped as
// JSON.stringify does. Equal notes therefore hash equal on every device, whatever key order or
// indentation the app wrote them with.
import { utf8, fromUtf8 } from "./bytes.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class CanonicalJsonError extends Error {
  override name = "CanonicalJsonError";
}

export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, 0);
  return parts.join("");
}

export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalJson(value));
}

const MAX_DEPTH = 256;

function write(v: unknown, out: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw new CanonicalJsonError("JSON nested too deeply");
  if (v === null) return void out.push("null");
  switch (typeof v) {
    case "boolean":
      return void out.push(v ? "true" : "false");
    case "number":
      if (!Number.isFinite(v)) throw new CanonicalJsonError(`not a finite number: ${v}`);
      return void out.push(Object.is(v, -0) ? "0" : JSON.stringify(v));
    case "string":
      return void out.push(JSON.stringify(v));
    case "object": {
      if (Array.isArray(v)) {
        out.push("[");
        for (let i = 0; i < v.length; i++) {
          if (i) out.push(",");
          write(v[i], out, depth + 1);
        }
        return void out.push("]");
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError("only plain objects are JSON");
      const keys = Object.keys(v as object).sort();
      out.push("{");
      let first = true;
      for (const k of keys) {
        const item = (v as Record<string, unknown>)[k];
        if (item === undefined) continue;
        if (!first) out.push(",");
        first = false;
        out.push(JSON.stringify(k), ":");
        write(item, out, depth + 1);
      }
      return void out.push("}");
    }
    default:
      throw new CanonicalJsonError(`not JSON: ${typeof v}`);
  }
}

/** Parse JSON text and insist on an object at the top (notes and positions are objects). */
export function parseJsonObject(text: string, what = "value"): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CanonicalJsonError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new CanonicalJsonError(`${what} must be a JSON object`);
  return v as JsonObject;
}

export function parseJsonObjectBytes(bytes: Uint8Array, what = "value"): JsonObject {
  let text: string;
  try {
    text = fromUtf8(bytes);
  } catch {
    throw new CanonicalJsonError(`${what} is not valid UTF-8`);
  }
  return parseJsonObject(text, what);
}
