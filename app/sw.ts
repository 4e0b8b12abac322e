// The inspector's service worker: keeps the page's own files (not the API) so that the page opens
// when the server cannot be reached. Network first, so a new build shows as soon as the server
// answers; the cached copy only when it does not.
interface ServiceWorkerScope {
  addEventListener(type: "install" | "activate", fn: (e: { waitUntil(p: Promise<unknown>): void }) => void): void;
  addEventListener(type: "fetch", fn: (e: { request: Request; respondWith(r: Promise<Response>): void }) => void): void;
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  registration: { scope: string };
}
const sw = globalThis as unknown as ServiceWorkerScope;

const CACHE = "penumbra-inspector-v2";
const SHELL = ["./", "index.html", "app.js", "device-worker.js", "style.css"];

sw.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL.map((f) => new URL(f, sw.registration.scope).href))).then(() => sw.skipWaiting()));
});

// Drops the caches of earlier builds (v1 kept worker.js and an app.js with the engine in it).
sw.addEventListener("activate", (e) =>
  e.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("penumbra-inspector-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => sw.clients.claim()),
  ),
);

sw.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  // Only the app's own files; API calls (and other origins) go to the network untouched.
  if (e.request.method !== "GET" || !url.href.startsWith(sw.registration.scope)) return;
  e.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const res = await fetch(e.request);
        if (res.ok) await cache.put(e.request, res.clone());
        return res;
      } catch (err) {
        const hit = (await cache.match(e.request, { ignoreSearch: true })) ?? (url.pathname.endsWith("/") ? await cache.match(new URL("index.html", sw.registration.scope).href) : undefined);
        if (hit) return hit;
        throw err;
      }
    })(),
  );
});
