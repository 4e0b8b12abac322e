// Reads the Worker's R2 operation counts from its answers (docs/protocol.md, "Worker specifics"):
// the `x-r2-ops: A=<n>,B=<n>` header, or for a streamed pull, the `r2` field of its `E` section
// (the header of a streamed answer is sent before the packs are read, so it shows 0).
import { Section, STREAM_MAGIC } from "../engine/core/stream.ts";
import { freshConnectionFetch } from "../test/helpers/counting-proxy.ts";

export interface OpsCounter {
  requests: number;
  a: number;
  b: number;
}

export function parseOps(s: string | null | undefined): { a: number; b: number } | null {
  const m = /A=(\d+),B=(\d+)/.exec(s ?? "");
  return m ? { a: Number(m[1]), b: Number(m[2]) } : null;
}

/**
 * Watches a penumbra stream go by without holding it: tracks section boundaries and keeps only the
 * payload of the `E` section, which it hands to `onEnd`.
 */
export function endSectionSniffer(onEnd: (json: Record<string, unknown>) => void): TransformStream<Uint8Array, Uint8Array> {
  let skip = STREAM_MAGIC.length; // bytes still to pass before the next section header
  const head: number[] = [];
  let endPayload: number[] | null = null;
  let endLeft = 0;
  return new TransformStream({
    transform(chunk, controller) {
      let i = 0;
      while (i < chunk.length) {
        if (endPayload) {
          const take = Math.min(endLeft, chunk.length - i);
          for (let k = 0; k < take; k++) endPayload.push(chunk[i + k]);
          endLeft -= take;
          i += take;
          if (endLeft === 0) {
            try {
              onEnd(JSON.parse(new TextDecoder().decode(new Uint8Array(endPayload))));
            } catch {
              /* not JSON: the client reports the broken stream itself */
            }
            endPayload = null;
            skip = Infinity;
          }
        } else if (skip > 0) {
          const take = Math.min(skip, chunk.length - i);
          skip -= take;
          i += take;
        } else {
          head.push(chunk[i++]);
          if (head.length === 5) {
            const len = head[1] | (head[2] << 8) | (head[3] << 16) | (head[4] * 2 ** 24);
            if (head[0] === Section.End) {
              endPayload = [];
              endLeft = len;
              if (len === 0) skip = Infinity;
            } else skip = len;
            head.length = 0;
          }
        }
      }
      controller.enqueue(chunk);
    },
  });
}

/**
 * A fetch that counts requests and the R2 operations each answer reports. With `closeConnections`
 * every request gets its own connection (node:http without keep-alive) instead of a kept-alive one.
 */
export function countingFetch(counter: OpsCounter, inner: typeof fetch = fetch, closeConnections = false): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    counter.requests++;
    // Node's fetch drops a `connection` header, so fresh connections need another client.
    const res = await (closeConnections ? freshConnectionFetch : inner)(input, init);
    const header = parseOps(res.headers.get("x-r2-ops"));
    const streamed = (res.headers.get("content-type") ?? "").startsWith("application/vnd.penumbra.stream");
    if (!streamed || !res.body) {
      if (header) {
        counter.a += header.a;
        counter.b += header.b;
      }
      return res;
    }
    let seen = false;
    const body = res.body.pipeThrough(
      endSectionSniffer((e) => {
        const ops = parseOps(typeof e.r2 === "string" ? e.r2 : null);
        if (!ops) return;
        seen = true;
        counter.a += ops.a;
        counter.b += ops.b;
      }),
    );
    // If the stream never reached its E section, the header's (partial) counts are all we know.
    const fallback = new TransformStream<Uint8Array, Uint8Array>({
      flush() {
        if (!seen && header) {
          counter.a += header.a;
          counter.b += header.b;
        }
      },
    });
    return new Response(body.pipeThrough(fallback), { status: res.status, statusText: res.statusText, headers: res.headers });
  }) as typeof fetch;
}
