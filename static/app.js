// The attendee site: agenda, session and speaker pages, personal agenda
// and registration, each view at its own URL, all data from the edge's
// public API (docs/api.md). Stars and manage links stay in this browser.
// This entry maps URLs to the views in /app/, keeps the agenda current and
// starts the page; each module there says what it is for.

import { api, ApiError, h } from "/common.js";
import {
  state,
  loadEvent,
  noteAgendaSizes,
  ensureSessions,
  ensureSpeakers,
  stars,
} from "/app/data.js";
import {
  notFound,
  redraw,
  render,
  showCheckFailed,
  showEventHeading,
  showFreshness,
} from "/app/page.js";
import { agendaView } from "/app/agenda.js";
import { showPlaces } from "/app/cards.js";

// The views a first visit does not show are loaded when first opened, so
// that the agenda comes with the least code.
const details = () => import("/app/details.js");
const myAgenda = () => import("/app/my-agenda.js");
const registration = () => import("/app/registration.js");

/** How old the event may be before a view loads it again, and how often it is checked. */
const REFRESH_MS = 30_000;

/**
 * Loads the event and says how fresh it is; the places left on the cards
 * shown follow at once. Answers whether its version changed.
 */
async function refresh(slug) {
  const { changed, seatsChanged, headers } = await loadEvent(slug);
  showFreshness(headers, changed);
  if (seatsChanged && !changed) showPlaces();
  return changed;
}

function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route().catch(showFailure);
}

/** Same-site links that name a page are followed without a reload. */
document.addEventListener("click", (e) => {
  const link = e.target.closest("a");
  if (
    !link ||
    e.defaultPrevented ||
    e.button !== 0 ||
    e.metaKey ||
    e.ctrlKey ||
    e.shiftKey ||
    e.altKey
  )
    return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || link.hasAttribute("download") || link.target) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/admin")) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  go(url.pathname + url.search + url.hash);
});
addEventListener("popstate", () => route().catch(showFailure));

async function route() {
  const path = location.pathname;
  const manage = path.match(/^\/registrations\/([^/]+)\/?$/);
  if (manage) return (await registration()).manageView(decodeURIComponent(manage[1]));
  const confirm = path.match(/^\/registrations\/([^/]+)\/confirm\/?$/);
  if (confirm) return (await registration()).confirmView(decodeURIComponent(confirm[1]));
  if (path === "/" || path === "/index.html") {
    const { data } = await api("/api/events");
    noteAgendaSizes(data.events);
    if (!data.events.length)
      return render("No events", [
        h("h1", {}, "No events yet"),
        h("p", {}, "Nothing has been published."),
      ]);
    return go(`/events/${data.events[0].slug}/${location.search}`, { replace: true });
  }
  const match = path.match(/^\/events\/([a-z0-9][a-z0-9-]*)(?:\/(.*))?$/);
  if (!match) return notFound();
  const [, slug, rest = ""] = match;
  if (state.slug !== slug || Date.now() - state.loadedAt > REFRESH_MS) {
    try {
      await refresh(slug);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404)
        return notFound("There is no such event.");
      throw error;
    }
    showEventHeading();
  }
  const parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return agendaView();
  // A large agenda holds only what was asked for: each view asks for its own.
  if (parts[0] === "sessions" && parts.length === 2) {
    await ensureSessions([parts[1]]);
    // Affiliations too, where the whole speakers document is small.
    if (!state.large) await ensureSpeakers();
    return (await details()).sessionView(parts[1]);
  }
  if (parts[0] === "speakers" && parts.length === 1) {
    await ensureSpeakers();
    return (await details()).speakersView();
  }
  if (parts[0] === "speakers" && parts.length === 2) {
    await ensureSpeakers();
    await ensureSessions(state.speakerById.get(parts[1])?.sessions ?? []);
    return (await details()).speakerView(parts[1]);
  }
  if (parts[0] === "my-agenda" && parts.length === 1) {
    await ensureSessions(stars());
    return (await myAgenda()).myAgendaView();
  }
  if (parts[0] === "register" && parts.length === 1) return (await registration()).registerView();
  return notFound();
}

function showFailure(error) {
  console.warn(error);
  const why =
    error instanceof ApiError
      ? error.message
      : "The site cannot be reached right now; check your connection.";
  render("Unavailable", [
    h("h1", {}, "This page could not be loaded"),
    h("p", { role: "alert" }, why),
    h("button", { type: "button", onclick: () => route().catch(showFailure) }, "Try again"),
  ]);
}

/** While the page is open, pick up new versions (the browser revalidates with the ETag). */
setInterval(async () => {
  if (document.hidden || !state.slug) return;
  try {
    if (await refresh(state.slug)) {
      showEventHeading();
      const typing = document.activeElement?.matches("input, textarea, select");
      if (
        !typing &&
        !location.pathname.startsWith("/registrations/") &&
        !location.pathname.endsWith("/register")
      ) {
        await redraw(route);
      }
    }
  } catch {
    showCheckFailed();
  }
}, REFRESH_MS);

route().catch(showFailure);

// Offline at the venue: the service worker keeps the shell and the agenda
// on this device (static/sw.js).
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
