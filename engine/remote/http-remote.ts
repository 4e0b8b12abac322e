// The HTTP remote: the protocol of docs/protocol.md over fetch (browsers, Workers, Node alike).
import { concatBytes, utf8 } from "../core/bytes.ts";
import type { Address } from "../core/hash.ts";
import { STREAM_MAGIC, Section, jsonSection, sectionHeader, parseSectionJson, readSections } from "../core/stream.ts";
import { RemoteError, type CommitRequest, type PullResult, type PushResult, type Remote, type TransferStats, type VaultConfig, type VaultInfo, type LogEntry, type HeadInfo, type CheckResult, type RepairUploadResult, type LiveEndpoint } from "./remote.ts";

export interface HttpRemoteOptions {
  url: string;
  vault: string;
  token: string;
  fetch?: typeof fetch;
  /**
   * `fetch` takes a body in parts (an array of byte arrays: Node's nodeFetch, engine/node/send-parts.ts),
   * so a push's packs go out as they are instead of being joined into one body first.
   */
  fetchTakesParts?: boolean;
  /** Largest pack a pull response may carry (bounded memory on this side). */
  maxPackBytes?: number;
}

/** Bytes of an HTTP/1.1 header block we send or get, for the report (the wire adds a few more). */
function headerBytes(h: Headers, firstLine: string): number {
  let n = firstLine.length + 2 + 2;
  h.forEach((v, k) => (n += k.length + 2 + v.length + 2));
  return n;
}

const RETRIES = 2;
/** Dead kept-alive sockets in a row: each retry opens a fresh connection, so more than a few means something else. */
const STALE_RETRIES = 4;

export class HttpRemote implements Remote {
  readonly stats: TransferStats = { requests: 0, bytesUp: 0, bytesDown: 0 };
  private readonly base: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly opts: HttpRemoteOptions) {
    this.base = `${opts.url.replace(/\/+$/, "")}/v1/vaults/${encodeURIComponent(opts.vault)}`;
    this.doFetch = opts.fetch ?? fetch.bind(globalThis);
  }

  private async request(method: string, path: string, body?: Uint8Array | Uint8Array[], contentType = "application/json"): Promise<Response> {
    const headers = new Headers({ authorization: `Bearer ${this.opts.token}` });
    if (body) headers.set("content-type", contentType);
    const url = this.base + path;
    this.stats.requests++;
    const size = Array.isArray(body) ? body.reduce((n, p) => n + p.length, 0) : (body?.length ?? 0);
    this.stats.bytesUp += headerBytes(headers, `${method} ${url} HTTP/1.1`) + size;
    if (Array.isArray(body) && !this.opts.fetchTakesParts) body = concatBytes(body);
    let res: Response | undefined;
    // A connection can die under a request: most often a kept-alive socket the server closed while
    // idle (the local server does after 5 s; a client whose timers run late reuses it). Such a dead
    // socket is retried at once, up to STALE_RETRIES times; any other failure (refused, DNS, ...)
    // twice with backoff. Every request is safe to repeat: a push whose first try landed gets
    // head_moved, which sync resolves by pulling its own snapshot (test/e2e/interrupted.test.ts).
    let failures = 0;
    let stale = 0;
    while (!res) {
      try {
        res = await this.doFetch(url, { method, headers, body: body as BodyInit | undefined });
      } catch (e) {
        if (isDeadConnection(e) && stale < STALE_RETRIES) {
          stale++;
          continue;
        }
        if (failures < RETRIES) {
          await new Promise((r) => setTimeout(r, 100 * 4 ** failures++));
          continue;
        }
        throw new RemoteError(0, "unreachable", `cannot reach ${this.opts.url}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause?: Error }).cause?.message})` : ""}`);
      }
    }
    this.stats.bytesDown += headerBytes(res.headers, `HTTP/1.1 ${res.status} ${res.statusText}`);
    if (!res.ok) {
      const text = await res.text();
      this.stats.bytesDown += utf8(text).length;
      let j: Record<string, unknown> = {};
      try {
        j = JSON.parse(text);
      } catch {
        /* not JSON: keep the status */
      }
      throw new RemoteError(res.status, String(j.error ?? `http_${res.status}`), String(j.message ?? (text.slice(0, 200) || res.statusText)), j);
    }
    return res;
  }

  private async json<T>(method: string, path: string, value?: unknown): Promise<T> {
    const res = await this.request(method, path, value === undefined ? undefined : utf8(JSON.stringify(value)));
    const text = await res.text();
    this.stats.bytesDown += utf8(text).length;
    return JSON.parse(text) as T;
  }

  async info(): Promise<VaultInfo | null> {
    try {
      return await this.json<VaultInfo>("GET", "");
    } catch (e) {
      if (e instanceof RemoteError && e.code === "unknown_vault") return null;
      throw e;
    }
  }

  create(config: VaultConfig): Promise<VaultInfo> {
    return this.json<VaultInfo>("PUT", "", { config });
  }

  /** `rekey`: replaces an encrypted vault's `encryption` block, if it is still `expect` (409 encryption_changed otherwise). */
  replaceEncryption(config: VaultConfig, expect: unknown): Promise<VaultInfo> {
    return this.json<VaultInfo>("PUT", "", { config, replaceEncryption: true, expect });
  }

  /** POSTs a stream of packs (and a commit) to `path`; the answer is JSON. */
  private async postPacks<T>(path: string, packs: readonly Uint8Array[], commit?: CommitRequest): Promise<T> {
    // Headers beside the packs, copied once into the body (packs are megabytes), or not at all (fetchTakesParts).
    const parts: Uint8Array[] = [STREAM_MAGIC];
    for (const p of packs) parts.push(sectionHeader(Section.Pack, p.length), p);
    if (commit) parts.push(jsonSection(Section.Json, commit));
    parts.push(jsonSection(Section.End, {}));
    const res = await this.request("POST", path, parts, "application/vnd.penumbra.stream");
    const text = await res.text();
    this.stats.bytesDown += utf8(text).length;
    return JSON.parse(text) as T;
  }

  push(packs: readonly Uint8Array[], commit?: CommitRequest): Promise<PushResult> {
    return this.postPacks<PushResult>("/push", packs, commit);
  }

  repair(packs: readonly Uint8Array[]): Promise<RepairUploadResult> {
    return this.postPacks<RepairUploadResult>("/repair", packs);
  }

  check(addrs: readonly Address[]): Promise<CheckResult> {
    return this.json<CheckResult>("POST", "/check", { addrs });
  }

  async pull(since: Address | null, want: readonly Address[], onPack: (pack: Uint8Array) => Promise<void>): Promise<PullResult> {
    const res = await this.request("POST", "/pull", utf8(JSON.stringify(want.length ? { since, want } : { since })));
    if (!res.body) throw new RemoteError(0, "bad_stream_response", "pull answered without a body");
    type Meta = { head: HeadInfo | null; snapshots: LogEntry[] };
    let meta = null as Meta | null;
    let missing: Address[] = [];
    let ended = false;
    let counted = 0;
    try {
      for await (const s of readSections(res.body, { maxSection: this.opts.maxPackBytes ?? 64 * 1024 * 1024 })) {
        counted += 5 + s.payload.length;
        if (s.kind === Section.Json && !meta) meta = parseSectionJson(s) as unknown as Meta;
        else if (s.kind === Section.Pack) await onPack(s.payload);
        else if (s.kind === Section.End) {
          missing = (parseSectionJson(s).missing as Address[] | undefined) ?? [];
          ended = true;
        }
      }
    } catch (e) {
      if (e instanceof RemoteError) throw e;
      if ((e as Error).name === "FormatError") throw new RemoteError(0, "bad_stream_response", `pull response broken: ${(e as Error).message}`);
      throw e;
    } finally {
      this.stats.bytesDown += counted + STREAM_MAGIC.length;
    }
    if (!meta || !ended) throw new RemoteError(0, "bad_stream_response", "pull response ended early");
    return { head: meta.head, snapshots: meta.snapshots ?? [], missing };
  }

  log(limit = 50, before?: number): Promise<{ head: HeadInfo | null; snapshots: LogEntry[] }> {
    return this.json("GET", `/log?limit=${limit}${before !== undefined ? `&before=${before}` : ""}`);
  }

  async getObject(addr: Address): Promise<Uint8Array | null> {
    try {
      const res = await this.request("GET", `/objects/${addr}`);
      const b = new Uint8Array(await res.arrayBuffer());
      this.stats.bytesDown += b.length;
      return b;
    } catch (e) {
      if (e instanceof RemoteError && e.status === 404 && e.code !== "unknown_vault") return null;
      throw e;
    }
  }

  liveEndpoint(): LiveEndpoint {
    return { url: `${this.base.replace(/^http/, "ws")}/live`, token: this.opts.token };
  }

  async missing(addrs: readonly Address[]): Promise<Address[]> {
    const out: Address[] = [];
    for (let i = 0; i < addrs.length; i += 10_000) {
      const r = await this.json<{ missing: Address[] }>("POST", "/missing", { addrs: addrs.slice(i, i + 10_000) });
      out.push(...r.missing);
    }
    return out;
  }
}

/** A socket closed or reset under the request (not a refused connection: the server is there). */
function isDeadConnection(e: unknown): boolean {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code === "ECONNRESET" || cause?.code === "EPIPE" || cause?.code === "UND_ERR_SOCKET" || /other side closed/i.test(cause?.message ?? "");
}
