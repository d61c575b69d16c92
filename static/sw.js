// The service worker that keeps the attendee site usable on bad venue
// Wi-Fi. The app shell is cached at install. The event's public reads
// (/api/events/...) are revalidated with their ETags on every use and
// answered from the network when it answers within a moment, else from the
// copy saved on this device, marked with `eventfront-saved-at`, while the
// revalidation goes on: stale-while-revalidate with a short grace for a
// network that works. Writes, a waiting-room ticket's place and organizer
// pages never touch the caches.

const SHELL_CACHE = "eventfront-shell-v2";
const DATA_CACHE = "eventfront-data-v1";
// The page and every module it imports (the ones index.html preloads).
const SHELL = [
  "/",
  "/app.css",
  "/app.js",
  "/common.js",
  "/forms.js",
  "/app/data.js",
  "/app/page.js",
  "/app/cards.js",
  "/app/agenda.js",
  "/app/details.js",
  "/app/my-agenda.js",
  "/app/registration.js",
  "/app/session-picks.js",
  "/app/seats.js",
  "/app/waiting.js",
  "/manifest.webmanifest",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
];
/** How long a read waits for the network before the saved copy answers. */
const GRACE_MS = 800;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const current = [SHELL_CACHE, DATA_CACHE];
      for (const name of await caches.keys()) {
        if (name.startsWith("eventfront-") && !current.includes(name)) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // A ticket's place is its own and only true now: never saved.
  if (url.pathname.endsWith("/waiting-room")) return;
  if (url.pathname.startsWith("/api/events")) {
    event.respondWith(networkOrSaved(event, DATA_CACHE, request.url, request));
    // The whole agenda names its speakers, whose bios the page asks for only
    // on their pages: saved in the background too, so those open offline.
    if (/^\/api\/events\/[^/]+\/sessions$/.test(url.pathname) && !url.search) {
      event.waitUntil(saveToo(url.href.replace(/sessions$/, "speakers")));
    }
  } else if (request.mode === "navigate" && !url.pathname.startsWith("/admin")) {
    // Every attendee page is the same shell, which routes by its URL.
    event.respondWith(networkOrSaved(event, SHELL_CACHE, "/", request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(networkOrSaved(event, SHELL_CACHE, url.pathname, request));
  }
});

/** Revalidates the saved copy of `url` (or saves it), answering nobody. */
async function saveToo(url) {
  const cache = await caches.open(DATA_CACHE);
  await revalidate(cache, url, new Request(url), await cache.match(url)).catch(() => {});
}

/**
 * The network's answer when it comes within the grace period, else the
 * copy saved under `key`; the network's answer updates the copy either way.
 */
async function networkOrSaved(event, cacheName, key, request) {
  const cache = await caches.open(cacheName);
  const saved = await cache.match(key);
  const network = revalidate(cache, key, request, saved);
  event.waitUntil(network.catch(() => {}));
  if (!saved) return network;
  const grace = new Promise((resolve) => setTimeout(resolve, GRACE_MS, null));
  const first = await Promise.race([network.catch(() => null), grace]);
  return first ?? saved;
}

/**
 * Asks the network, conditionally when a copy is saved. A 304 answers with
 * the saved body under the fresh headers; a server error with a copy saved
 * counts as no answer. What is answered is saved, stamped with the time.
 */
async function revalidate(cache, key, request, saved) {
  const headers = new Headers(request.headers);
  const etag = saved?.headers.get("etag");
  if (etag) headers.set("if-none-match", etag);
  const response = await fetch(request.url, {
    headers,
    cache: "no-store",
    credentials: "same-origin",
  });
  if (response.status === 304 && saved) {
    const merged = new Headers(saved.headers);
    for (const [name, value] of response.headers) merged.set(name, value);
    for (const name of ["content-encoding", "content-length", "eventfront-saved-at"])
      merged.delete(name);
    const confirmed = new Response(await saved.clone().blob(), { status: 200, headers: merged });
    await cache.put(key, stamped(confirmed.clone(), await confirmed.clone().blob()));
    return confirmed;
  }
  if (response.status >= 500 && saved) throw new Error(`the server answered ${response.status}`);
  if (response.ok) await cache.put(key, stamped(response.clone(), await response.clone().blob()));
  else if (response.status === 404 || response.status === 410) await cache.delete(key);
  return response;
}

/**
 * A copy to save: the response with the time it was saved, without the
 * headers that described the bytes on the wire (the body is decoded).
 */
function stamped(response, body) {
  const headers = new Headers(response.headers);
  for (const name of ["content-encoding", "content-length", "eventfront-saved-at"])
    headers.delete(name);
  headers.set("eventfront-saved-at", new Date().toISOString());
  return new Response(body, { status: response.status, headers });
}
