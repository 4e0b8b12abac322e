// The vault inspector: plain DOM, no framework. Sign in (server URL, vault, token, and the passphrase
// of an encrypted vault) and the page is a device of the vault: the whole device runs in a Web
// Worker (engine/browser/device-worker.ts), this page holds a thin proxy and the DOM. It shows the
// head, the snapshot log, stats, a note's history with restore, and syncs on demand, after each
// edit, when the server announces a head another device committed (the live socket, held by the
// device worker), and again when the server comes back. Tabs of one vault take turns (a Web Lock per vault).
import { DeviceClient } from "../engine/browser/device-client.ts";
import type { DeviceState, Profile, SyncProgress, TimedReport, Version } from "../engine/browser/device-protocol.ts";
import { RemoteError, type LogEntry, type VaultInfo } from "../engine/remote/remote.ts";

const PROFILE_KEY = "penumbra-inspector-profile";
const LIST_LIMIT = 200;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...kids: (Node | string)[]) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...kids);
  return e;
};
const code = (s: string) => el("code", { title: s }, s.slice(0, 12));
const nf = new Intl.NumberFormat("en");

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function fillDl(dl: HTMLElement, rows: [string, Node | string][]): void {
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// ---- state ----------------------------------------------------------------------------------

let device: DeviceClient | null = null;
let log: LogEntry[] = [];
let selected: string | null = null;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let retryDelay = 2000;
let syncing: Promise<void> | null = null;
let lastReport: TimedReport | null = null;
let online: boolean | null = null;
let syncsDone = 0;
/** The live socket is up (null: not listening). */
let live: boolean | null = null;
/** The newest head the server announced, and whether one came that no sync has started after. */
let announced: string | null | undefined;
let announcedSinceSync = false;

/** For tests and the curious: the live device and the inspector's last numbers. */
const api = {
  get device() {
    return device;
  },
  get lastReport() {
    return lastReport;
  },
  get online() {
    return online;
  },
  /** Syncs finished (successfully) in this page. */
  get syncsDone() {
    return syncsDone;
  },
  /** The live socket is up: other devices' commits are shown as they arrive. */
  get live() {
    return live;
  },
  /** A sync that starts after any running one (whose changes may predate the caller's). */
  syncAgain: async () => {
    if (syncing) await syncing;
    await syncNow();
  },
};
(globalThis as unknown as { inspector: typeof api }).inspector = api;

function setStatus(text: string, kind: "" | "offline" | "error" = ""): void {
  const s = $("status");
  s.textContent = text;
  s.className = kind;
}

function loadProfile(): Profile | null {
  const raw = sessionStorage.getItem(PROFILE_KEY) ?? localStorage.getItem(PROFILE_KEY);
  try {
    return raw ? (JSON.parse(raw) as Profile) : null;
  } catch {
    return null;
  }
}

// ---- sign in / out ----------------------------------------------------------------------------

function waitingForOtherTab(): void {
  setStatus("Another tab is syncing or editing this vault: waiting for it to finish…");
  $("sync-progress-text").textContent = "waiting for another tab";
}

async function signIn(p: Profile, remember: boolean, check: boolean, passphrase?: string): Promise<void> {
  // A first sign-in asks the server (check), so a typo is caught here; a saved one opens offline too.
  device = await DeviceClient.open({ profile: p, check, passphrase: passphrase || undefined, onWaiting: waitingForOtherTab, onChanged: () => void renderAll(), onHead: headAnnounced, onLive: liveChanged });
  (remember ? localStorage : sessionStorage).setItem(PROFILE_KEY, JSON.stringify(p));
  $("signin").hidden = true;
  $("device").hidden = false;
  document.title = `${p.vault} · Vault inspector`;
  await renderAll();
  void syncNow();
  void device.listen();
}

// ---- live: the server announces each head; one another device committed is synced at once ----

function headAnnounced(snapshot: string | null): void {
  announced = snapshot;
  announcedSinceSync = true;
  followAnnounced();
}

/** Syncs when the announced head is not this device's base; during a sync, once it ends. */
function followAnnounced(): void {
  if (!device || syncing || !announcedSinceSync) return;
  announcedSinceSync = false;
  // Our own push comes back announced: nothing to fetch for the head we are at.
  if (announced !== device.state.base) void syncNow();
}

function liveChanged(up: boolean): void {
  const wasDown = live === false;
  live = up;
  // Back after a drop: send what waited (the first announcement pulls what others did).
  if (up && wasDown) void syncNow();
  else if (device) renderStatus(device.state);
}

async function signOut(): Promise<void> {
  clearTimeout(retryTimer);
  localStorage.removeItem(PROFILE_KEY);
  sessionStorage.removeItem(PROFILE_KEY);
  const d = device;
  device = null;
  await d?.close({ forget: true });
  location.reload();
}

// ---- sync ---------------------------------------------------------------------------------------

function showProgress(p: SyncProgress): void {
  const bar = $<HTMLProgressElement>("sync-progress");
  if (p.total) {
    bar.max = p.total;
    bar.value = p.bytes;
  } else bar.removeAttribute("value");
  $("sync-progress-text").textContent = `${p.phase === "upload" ? "uploaded" : "downloaded"} ${bytes(p.bytes)}${p.total ? ` of ${bytes(p.total)}` : ""}`;
}

function showReport(r: TimedReport): void {
  const c = (x: { added: number; modified: number; deleted: number }) => `${x.added} added, ${x.modified} modified, ${x.deleted} deleted`;
  fillDl($("report"), [
    ["Finished", new Date().toLocaleTimeString()],
    ["Took", `${nf.format(r.ms)} ms`],
    ["Snapshot", r.snapshot ? code(r.snapshot) : "—"],
    ["Received", c(r.changes)],
    ["Sent", c(r.pushed)],
    ["Downloaded", `${bytes(r.downloaded.bytes)} in ${r.downloaded.requests} requests, ${nf.format(r.downloaded.objects)} objects, ${r.downloaded.packs} packs`],
    ["Uploaded", `${bytes(r.uploaded.bytes)} in ${r.uploaded.requests} requests, ${r.uploaded.packs} packs`],
    ["Merged", r.merged ? `yes (${r.retries} retries)` : "no"],
    ["Conflicts", r.conflicts.length ? r.conflicts.map((x) => `${x.id}: ${x.kind}${x.copy ? ` (copy ${x.copy})` : ""}`).join("; ") : "none"],
    ["Needs re-embedding", r.needsEmbedding.length ? r.needsEmbedding.join(", ") : "none"],
  ]);
}

function scheduleRetry(): void {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void syncNow(), retryDelay);
  retryDelay = Math.min(retryDelay * 2, 15_000);
}

function syncNow(): Promise<void> {
  if (!device) return Promise.resolve();
  if (syncing) return syncing;
  const d = device;
  const button = $<HTMLButtonElement>("sync-now");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  clearTimeout(retryTimer);
  setStatus("Syncing…");
  const bar = $<HTMLProgressElement>("sync-progress");
  bar.removeAttribute("value");
  announcedSinceSync = false; // this sync fetches whatever was announced so far
  syncing = (async () => {
    let synced = false;
    try {
      const r = await d.sync(showProgress);
      synced = true;
      lastReport = r;
      syncsDone++;
      online = true;
      retryDelay = 2000;
      bar.max = 1;
      bar.value = 1;
      $("sync-progress-text").textContent = "done";
      showReport(r);
    } catch (e) {
      bar.max = 1;
      bar.value = 0;
      if (e instanceof RemoteError && (e.status === 0 || e.status >= 500)) {
        online = false;
        $("sync-progress-text").textContent = "server unreachable";
        scheduleRetry();
      } else {
        $("sync-progress-text").textContent = "failed";
        setStatus(`Sync failed: ${(e as Error).message}`, "error");
      }
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      syncing = null;
    }
    await renderAll();
    // A head announced while this sync ran may be newer than what it fetched (failures: the retry timer).
    if (synced) followAnnounced();
  })();
  return syncing;
}

// ---- rendering --------------------------------------------------------------------------------

function renderStatus(st: DeviceState): void {
  if (!device) return;
  const queued = st.queued;
  const p = device.profile;
  if (online === false) setStatus(`Offline: ${p.vault} on ${p.url} cannot be reached. ${queued} change${queued === 1 ? "" : "s"} waiting; retrying…`, "offline");
  else if (!st.lastSyncError) setStatus(`${p.vault} on ${p.url}: ${queued ? `${queued} change${queued === 1 ? "" : "s"} waiting to sync` : "in sync"}${live ? " · live" : ""}`);
}

function renderHead(st: DeviceState, info: VaultInfo | null): void {
  const { head, base } = st;
  fillDl($("head"), [
    ["Server head", info?.head ? el("span", {}, code(info.head.snapshot), ` #${info.head.seq}, ${when(info.head.committedAt)}`) : online === false ? "unknown (offline)" : "none"],
    ["This device's head", head ? code(head) : "none"],
    ["Last synced (base)", base ? code(base) : "never"],
    ["Waiting to push", head === base ? "nothing" : `${st.unpushedPacks} pack${st.unpushedPacks === 1 ? "" : "s"}, ${bytes(st.unpushedBytes)}, ${st.queued} notes changed`],
    ["Device", st.device],
    ["Encryption", st.encrypted ? "end-to-end encrypted (the key is kept in this browser until you sign out)" : "none"],
  ]);
}

function renderStats(st: DeviceState, info: VaultInfo | null): void {
  const s = st.stored;
  fillDl($("stats"), [
    ["Notes", nf.format(st.notes)],
    ["Embeddings", nf.format(st.embeddings)],
    ["Positions", nf.format(st.positions)],
    ["Stored here", `${nf.format(s.objects)} objects in ${nf.format(s.packs)} packs, ${bytes(s.bytes)} (IndexedDB)`],
    ["On the server", info ? `${nf.format(info.stats.objects)} objects in ${nf.format(info.stats.packs)} packs, ${bytes(info.stats.bytes)}, ${nf.format(info.stats.snapshots)} snapshots` : "unknown (offline)"],
  ]);
}

async function renderLog(): Promise<void> {
  const d = device as DeviceClient;
  const r = await d.log(50);
  log = r.entries;
  const rows = log.map((e) => {
    const bytesCell = el("td", { className: "num" }, "…");
    const tr = el(
      "tr",
      {},
      el("td", { className: "num" }, String(e.seq)),
      el("td", {}, when(e.time ?? e.committedAt)),
      el("td", {}, code(e.snapshot)),
      el("td", {}, e.device ?? "?"),
      el("td", { className: "num" }, e.stats ? nf.format(e.stats.notes) : "?"),
      el("td", { className: "num" }, e.stats ? nf.format(e.stats.embeddings) : "?"),
      el("td", { className: "num" }, e.stats ? nf.format(e.stats.positions) : "?"),
      bytesCell,
    );
    return { tr, e, bytesCell };
  });
  $("log").querySelector("tbody")!.replaceChildren(...rows.map((r) => r.tr));
  $("log").querySelector("caption")!.textContent = `Newest first${r.cached ? " (as last seen: the server cannot be reached)" : ""}. Bytes: raw size of the objects a snapshot added to its first parent.`;
  // Bytes per snapshot walk trees: fill them in after the table is up, one row at a time.
  void (async () => {
    for (const row of rows) {
      if (!row.tr.isConnected) return;
      row.bytesCell.textContent = await d.bytesAdded(row.e).then((n) => (n === null ? "?" : bytes(n)), () => "?");
    }
  })();
}

async function renderNoteList(): Promise<void> {
  if (!device) return;
  const filter = $<HTMLInputElement>("note-filter");
  const q = filter.value;
  // The device worker filters; the page gets one screenful.
  const r = await device.findNotes(q, LIST_LIMIT);
  if (filter.value !== q) return; // a later keystroke renders its own list
  $("note-count").textContent = `${nf.format(r.matching)} of ${nf.format(r.total)} notes${r.matching > LIST_LIMIT ? ` (first ${LIST_LIMIT} shown)` : ""}`;
  $("note-list").replaceChildren(
    ...r.ids.map((id) => {
      const b = el("button", { type: "button", textContent: id });
      b.dataset.id = id;
      if (id === selected) b.setAttribute("aria-current", "true");
      return el("li", {}, b);
    }),
  );
}

async function renderNote(): Promise<void> {
  const d = device as DeviceClient;
  const art = $("note");
  if (!selected) {
    art.hidden = true;
    return;
  }
  const id = selected;
  art.hidden = false;
  $("note-h").textContent = id;
  const text = await d.noteText(await d.entry(id));
  if (selected !== id) return;
  const title = $<HTMLInputElement>("note-title");
  const body = $<HTMLTextAreaElement>("note-body");
  if (document.activeElement !== title && document.activeElement !== body) {
    title.value = text?.title ?? "";
    body.value = text?.body ?? "";
  }
  const list = $("history");
  list.replaceChildren(el("li", {}, "Loading history…"));
  const versions = await d.history(id, log);
  if (selected !== id) return;
  const items = await Promise.all(versions.map((v) => versionItem(id, v)));
  list.replaceChildren(...items);
}

async function versionItem(id: string, v: Version): Promise<HTMLLIElement> {
  const d = device as DeviceClient;
  const text = await d.noteText(v.entry).catch(() => null);
  const label = v.snapshot ? `#${v.seq} · ${when(v.time)} · ${v.device ?? "?"}` : `local, not pushed yet · ${d.state.device}`;
  const li = el("li", {}, el("div", { className: "meta" }, label, v.current ? " · current" : ""), el("div", {}, v.entry ? (text ? `${text.title || "(no title)"}: ${text.body.slice(0, 80)}` : "(no note text: embedding or position only)") : "(deleted)"));
  if (!v.current && v.entry) {
    const b = el("button", { type: "button", textContent: "Restore this version" });
    b.setAttribute("aria-label", `Restore ${id} as of ${v.snapshot ? `snapshot #${v.seq}` : "the local version"}`);
    b.addEventListener("click", async () => {
      b.disabled = true;
      await d.restore(id, v);
      $("note-saved").textContent = `Restored the version of #${v.seq}`;
      await renderAll();
      void syncNow();
    });
    li.append(b);
  }
  return li;
}

async function renderAll(): Promise<void> {
  if (!device) return;
  const info = await device.info().catch((e) => {
    if (e instanceof RemoteError && e.status === 0) online = false;
    return null;
  });
  const st = await device.refresh();
  renderStatus(st);
  renderHead(st, info);
  renderStats(st, info);
  await renderLog().catch(() => {});
  await renderNoteList();
  await renderNote();
  document.body.dataset.ready = "true";
}

// ---- wiring -------------------------------------------------------------------------------------

function signInError(e: Error): string {
  if (e instanceof RemoteError && e.status === 401) return "The server refused this token.";
  if (e.name === "WrongPassphraseError") return "This passphrase does not unlock the vault.";
  if ((e as { code?: string }).code === "passphrase_required") return "This vault is end-to-end encrypted: enter its passphrase.";
  return e.message;
}

function wire(): void {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target as HTMLFormElement);
    const p: Profile = { url: String(f.get("url")).replace(/\/+$/, ""), vault: String(f.get("vault")), token: String(f.get("token")) };
    const passphrase = String(f.get("passphrase") ?? "");
    $("signin-error").textContent = "";
    const button = (ev.target as HTMLFormElement).querySelector("button") as HTMLButtonElement;
    button.disabled = true;
    try {
      await signIn(p, f.get("remember") === "on", true, passphrase);
    } catch (e) {
      $("signin-error").textContent = signInError(e as Error);
    } finally {
      button.disabled = false;
    }
  });
  $("sync-now").addEventListener("click", () => void syncNow());
  $("sign-out").addEventListener("click", () => void signOut());
  $("note-filter").addEventListener("input", () => void renderNoteList());
  $("note-list").addEventListener("click", (ev) => {
    const id = (ev.target as HTMLElement).closest("button")?.dataset.id;
    if (!id) return;
    selected = id;
    $("note-saved").textContent = "";
    void renderNoteList();
    void renderNote();
  });
  $("note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!device || !selected) return;
    await device.editNote(selected, $<HTMLInputElement>("note-title").value, $<HTMLTextAreaElement>("note-body").value);
    $("note-saved").textContent = `Saved on this device at ${new Date().toLocaleTimeString()}`;
    (document.activeElement as HTMLElement | null)?.blur();
    await renderAll();
    void syncNow();
  });
  $("new-note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!device) return;
    const input = $<HTMLInputElement>("new-note-id");
    const id = input.value.trim();
    if (await device.entry(id)) {
      input.setCustomValidity("a note with this id exists");
      input.reportValidity();
      return;
    }
    input.setCustomValidity("");
    await device.editNote(id, "", "");
    input.value = "";
    selected = id;
    await renderAll();
    $<HTMLInputElement>("note-title").focus();
  });
  window.addEventListener("online", () => void syncNow());
}

async function main(): Promise<void> {
  wire();
  // Keeps the page's files for when the server is down (the vault itself is in IndexedDB).
  navigator.serviceWorker?.register("sw.js").catch((e) => console.warn(`no offline copy of the page: ${(e as Error).message}`));
  $<HTMLInputElement>("f-url").value = location.origin;
  const p = loadProfile();
  if (p) {
    try {
      await signIn(p, localStorage.getItem(PROFILE_KEY) !== null, false);
      return;
    } catch (e) {
      setStatus(`Could not open the saved vault: ${(e as Error).message}`, "error");
    }
  } else setStatus("Not signed in");
  $("signin").hidden = false;
  document.body.dataset.ready = "true";
}

void main();
