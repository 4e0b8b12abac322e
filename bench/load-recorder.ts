// Per-request instrumentation for the load run (bench/load.ts): a fetch wrapper that records, for
// every request an engine client sends, its route class, status, time to the answer's headers and
// time until the answer was read to its end. The figures come from the client's side, so they
// include queueing in this process (every client of a run shares one event loop).
import { STREAM_MAGIC, Section } from "../engine/core/stream.ts";
import { endSectionSniffer } from "./r2-ops.ts";

/** push = packs only, commit = a push carrying a commit (moves the head), pull, other (info, create, objects, missing, log). */
export type RouteClass = "push" | "commit" | "pull" | "other";
export const ROUTE_CLASSES: readonly RouteClass[] = ["push", "commit", "pull", "other"];

export interface RequestSample {
  /** The logical request: HttpRemote resends a request whose connection died, and its attempts share this number. */
  request: number;
  route: RouteClass;
  /** HTTP status; 0 when no answer came (connection refused or reset, or aborted by the time bound). */
  status: number;
  /** Request sent -> answer headers. */
  headersMs: number;
  /** Request sent -> answer body read to its end (= headersMs if the body was never finished). */
  totalMs: number;
  /** The body was read to its end. */
  complete: boolean;
  /** Aborted by the run's time bound (not a server fault). */
  aborted: boolean;
  /** Why no answer came (the fetch error and its cause). */
  error?: string;
  /** Which phase of the run it belongs to (the recorder's current phase when it was sent). */
  phase: string;
}

export class RequestRecorder {
  readonly samples: RequestSample[] = [];
  phase = "";
  /** HttpRemote builds one Headers object per request and passes it to every attempt: that identifies it. */
  private readonly requestIds = new WeakMap<object, number>();
  private nextRequest = 0;

  requestIdOf(headers: unknown): number {
    if (typeof headers !== "object" || headers === null) return this.nextRequest++;
    let id = this.requestIds.get(headers);
    if (id === undefined) this.requestIds.set(headers, (id = this.nextRequest++));
    return id;
  }

  /** Logical requests none of whose attempts got an answer. */
  get neverAnswered(): number {
    const answered = new Map<number, boolean>();
    for (const x of this.samples) answered.set(x.request, (answered.get(x.request) ?? false) || x.status > 0);
    return [...answered.values()].filter((a) => !a).length;
  }
}

/** True if a push body (a penumbra stream) carries a commit section ('J'). Walks section headers only. */
export function pushCarriesCommit(body: Uint8Array): boolean {
  let o = STREAM_MAGIC.length;
  while (o + 5 <= body.length) {
    const kind = body[o];
    if (kind === Section.Json) return true;
    const len = body[o + 1] | (body[o + 2] << 8) | (body[o + 3] << 16) | (body[o + 4] * 2 ** 24);
    o += 5 + len;
  }
  return false;
}

export function routeClassOf(method: string, url: string, body: unknown): RouteClass {
  const path = new URL(url).pathname;
  if (method === "POST" && path.endsWith("/push")) return body instanceof Uint8Array && pushCarriesCommit(body) ? "commit" : "push";
  if (method === "POST" && path.endsWith("/pull")) return "pull";
  return "other";
}

/**
 * A fetch that records every request into `recorder`. `signal` (the run's time bound) aborts
 * requests in flight, so a run that overstays stops at once instead of waiting for answers.
 */
export function recordingFetch(recorder: RequestRecorder, signal: AbortSignal, inner: typeof fetch = fetch): typeof fetch {
  return (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = (init.method ?? "GET").toUpperCase();
    const sample: RequestSample = { request: recorder.requestIdOf(init.headers), route: routeClassOf(method, url, init.body), status: 0, headersMs: 0, totalMs: 0, complete: false, aborted: false, phase: recorder.phase };
    recorder.samples.push(sample);
    const t0 = performance.now();
    let res: Response;
    try {
      res = await inner(input, { ...init, signal });
    } catch (e) {
      sample.aborted = signal.aborted;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      sample.error = `${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ""}`;
      sample.headersMs = sample.totalMs = performance.now() - t0;
      throw e;
    }
    sample.status = res.status;
    sample.headersMs = sample.totalMs = performance.now() - t0;
    if (!res.body) {
      sample.complete = true;
      return res;
    }
    // The answer counts as done when its last byte has been read: for a stream (pulls) that is the
    // end of its E section (the client stops reading there), for anything else the body's end.
    const done = () => {
      sample.totalMs = performance.now() - t0;
      sample.complete = true;
    };
    const streamed = (res.headers.get("content-type") ?? "").startsWith("application/vnd.penumbra.stream");
    const watch = streamed ? endSectionSniffer(done) : new TransformStream<Uint8Array, Uint8Array>({ flush: done });
    return new Response(res.body.pipeThrough(watch), { status: res.status, statusText: res.statusText, headers: res.headers });
  }) as typeof fetch;
}

/** Nearest-rank percentile of sorted values (p in 0..100); NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

export interface LatencySummary {
  requests: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** p50 and p99 of the time to the answer's headers. */
  headersP50: number;
  headersP99: number;
}

export function summarizeLatency(samples: readonly RequestSample[]): LatencySummary {
  const answered = samples.filter((s) => s.status > 0);
  const total = answered.map((s) => s.totalMs).sort((a, b) => a - b);
  const headers = answered.map((s) => s.headersMs).sort((a, b) => a - b);
  return {
    requests: samples.length,
    p50: percentile(total, 50),
    p90: percentile(total, 90),
    p99: percentile(total, 99),
    max: total.length ? total[total.length - 1] : NaN,
    headersP50: percentile(headers, 50),
    headersP99: percentile(headers, 99),
  };
}
