// HTTP plumbing shared by every route: the one error type, JSON answers, and request bodies read
// within a byte limit (checked from Content-Length before reading, and again while streaming, so a
// body that lies about its length or has none is still cut off at the limit).
import { concatBytes } from "../engine/core/bytes.ts";
import { isAddress } from "../engine/core/hash.ts";
import { StreamReader } from "../engine/core/stream.ts";

/** An error the client caused (or may retry): becomes `{"error": code, "message"}` with `status`. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function json(value: unknown, status = 200, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(value), { status, headers: h });
}

export function errorResponse(e: ApiError, headers: HeadersInit = {}): Response {
  return json({ error: e.code, message: e.message, ...e.extra }, e.status, headers);
}

export const badRequest = (message: string) => new ApiError(400, "bad_request", message);

export function tooLarge(what: string, limit: number): ApiError {
  return new ApiError(413, "too_large", `${what} exceeds the limit of ${limit} bytes`);
}

/** 413 from the declared length, before a byte of the body is read. */
export function checkDeclaredLength(request: Request, limit: number): void {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(`request body of ${declared} bytes`, limit);
}

/**
 * The body as a section reader that throws 413 before reading past `limit` bytes. It reads the
 * body as a byte stream, straight into each section's buffer (engine/core/stream.ts StreamReader).
 */
export function limitedReader(request: Request, limit: number): StreamReader {
  checkDeclaredLength(request, limit);
  const body = request.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  return new StreamReader(body, { byob: true, maxBytes: limit, overLimit: () => tooLarge("request body", limit) });
}

/** The body as a stream that errors with 413 once more than `limit` bytes came through. */
export function limitedBody(request: Request, limit: number): ReadableStream<Uint8Array> {
  checkDeclaredLength(request, limit);
  if (!request.body) return new ReadableStream({ start: (c) => c.close() });
  const reader = request.body.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      seen += value.byteLength;
      if (seen > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge("request body", limit);
      }
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

export async function readLimitedBytes(request: Request, limit: number): Promise<Uint8Array> {
  const reader = limitedBody(request, limit).getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return concatBytes(parts);
}

/** A JSON object body, or 400 bad_request. */
export async function readJsonObject(request: Request, limit: number): Promise<Record<string, unknown>> {
  return parseJsonObject(await readLimitedBytes(request, limit));
}

/** A JSON object body, or null when the request has no body (or only whitespace). */
export async function readOptionalJsonObject(request: Request, limit: number): Promise<Record<string, unknown> | null> {
  const bytes = await readLimitedBytes(request, limit);
  return bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) ? null : parseJsonObject(bytes);
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw badRequest("the body is not valid JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw badRequest("the body must be a JSON object");
  return v as Record<string, unknown>;
}

/** A list of addresses from a JSON field: an array of at most `max` distinct 64-hex strings. */
export function addressList(v: unknown, field: string, max: number): string[] {
  if (!Array.isArray(v)) throw badRequest(`${field} must be an array of addresses`);
  if (v.length > max) throw new ApiError(413, "too_large", `${field} lists ${v.length} addresses; at most ${max} per request`);
  for (const a of v) if (!isAddress(a)) throw badRequest(`${field} holds ${JSON.stringify(a)?.slice(0, 80)}, not an address (64 lowercase hex)`);
  return [...new Set(v as string[])];
}
