// The attendee site: agenda, session and speaker pages, personal agenda
// and registration, each view at its own URL, all data from the edge's
// public API (shared/API.md). Stars and manage links stay in this browser.

import { api, ApiError, withRetry, h, showFieldErrors, clearFieldErrors, clock, dateIn, longDate, zoneCity } from "/common.js";

const main = document.getElementById("main");
const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const REFRESH_MS = 30_000;

/** What the page holds of one event, and which agenda version it shows. */
const state = { slug: null, event: null, sessions: [], speakers: [], sessionById: new Map(), speakerById: new Map(), version: null, loadedAt: 0 };

// ---------------------------------------------------------------- storage

function readJson(storage, key, fallback) {
  try {
    return JSON.parse(storage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

const starsKey = () => `eventfront:stars:${state.slug}`;
const stars = () => new Set(readJson(localStorage, starsKey(), []));
function toggleStar(id) {
  const set = stars();
  if (set.has(id)) set.delete(id);
  else set.add(id);
  localStorage.setItem(starsKey(), JSON.stringify([...set]));
  updateStarCount();
  return set.has(id);
}

const REGISTRATIONS_KEY = "eventfront:registrations";
const savedRegistrations = () => readJson(localStorage, REGISTRATIONS_KEY, []);
function saveRegistration(entry) {
  const list = savedRegistrations().filter((r) => r.id !== entry.id);
  list.unshift(entry);
  localStorage.setItem(REGISTRATIONS_KEY, JSON.stringify(list.slice(0, 20)));
}

// ---------------------------------------------------------------- loading

/** The three documents of one event, and the version and edge they came from. */
async function loadEvent(slug) {
  const base = `/api/events/${encodeURIComponent(slug)}`;
  // Always a conditional request (a 304 is tiny): a copy the browser serves
  // on its own could not say whether the edge's copy is stale now.
  const options = { cache: "no-cache" };
  const [event, sessions, speakers] = await Promise.all([api(base, options), api(`${base}/sessions`, options), api(`${base}/speakers`, options)]);
  const version = Number(sessions.headers.get("eventfront-version"));
  const changed = state.slug === slug && state.version !== null && version !== state.version;
  Object.assign(state, {
    slug,
    event: event.data,
    sessions: sessions.data.sessions,
    speakers: speakers.data.speakers,
    sessionById: new Map(sessions.data.sessions.map((s) => [s.id, s])),
    speakerById: new Map(speakers.data.speakers.map((s) => [s.id, s])),
    version,
    loadedAt: Date.now(),
  });
  showFreshness(sessions.headers, changed);
  return changed;
}

/** Sets a live region's text only when it changes, so it is not re-announced. */
function announce(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function showFreshness(headers, changed) {
  const line = document.getElementById("freshness");
  const stale = headers.get("eventfront-stale") === "1";
  const edge = headers.get("eventfront-edge");
  let text = `Agenda version ${state.version}${edge ? `, served by the ${edge} edge` : ""}.`;
  if (changed) text = `The agenda was updated: now showing version ${state.version}.`;
  const savedAt = headers.get("eventfront-saved-at");
  if (savedAt) {
    // Answered by the service worker: the network did not answer in time.
    text = `You seem to be offline: showing agenda version ${state.version} as saved on this device at ${clock(savedAt, viewerZone)} (your time).`;
  }
  if (stale) {
    const age = Number(headers.get("age"));
    const minutes = Number.isFinite(age) && age >= 60 ? ` about ${Math.round(age / 60)} min ago` : "";
    text += ` This may be out of date: the organizer's server cannot be reached, so this is the copy the edge last confirmed${minutes}.`;
  }
  announce(line, text);
  line.classList.toggle("stale", stale || Boolean(savedAt));
}

/** The periodic check failed: say since when the page has not been able to look. */
function showCheckFailed() {
  const line = document.getElementById("freshness");
  const since = clock(state.loadedAt, viewerZone);
  announce(line, `Agenda version ${state.version}. Couldn't check for updates since ${since} (your time); you may be offline.`);
  line.classList.add("stale");
}

function showEventHeading() {
  const { event } = state;
  document.getElementById("event-name").textContent = event.name;
  const days = `${longDate(dateIn(event.starts_at, event.timezone))} – ${longDate(dateIn(event.ends_at, event.timezone))}`;
  document.getElementById("event-meta").textContent = [days, event.venue].filter(Boolean).join(" · ");
  const base = `/events/${state.slug}`;
  document.getElementById("nav-agenda").href = `${base}/`;
  document.getElementById("nav-speakers").href = `${base}/speakers`;
  document.getElementById("nav-mine").href = `${base}/my-agenda`;
  document.getElementById("nav-register").href = `${base}/register`;
  document.getElementById("sections").hidden = false;
  updateStarCount();
}

function updateStarCount() {
  const count = state.slug ? [...stars()].filter((id) => state.sessionById.has(id)).length : 0;
  document.getElementById("star-count").textContent = count ? `(${count})` : "";
}

function markCurrentNav(id) {
  for (const link of document.querySelectorAll("#sections a")) {
    if (link.id === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// ---------------------------------------------------------------- routing

function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route().catch(showFailure);
}

/** Same-site links that name a page are followed without a reload. */
document.addEventListener("click", (e) => {
  const link = e.target.closest("a");
  if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || link.hasAttribute("download") || link.target) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/admin")) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  go(url.pathname + url.search + url.hash);
});
addEventListener("popstate", () => route().catch(showFailure));

/** True while the page redraws itself after a background check. */
let redrawing = false;
/** Draws the page again without moving focus away from where the visitor is. */
async function redraw(draw) {
  redrawing = true;
  try {
    await draw();
  } finally {
    redrawing = false;
  }
}
/** The "now / next" clock of the agenda on screen, stopped when it goes. */
let nowTimer = null;

/**
 * Renders `nodes` as the page and titles it. A page the visitor went to
 * gets focus, so screen readers start there; a redraw of the same page
 * after a background check keeps focus where it was.
 */
function render(title, nodes, { focus = true } = {}) {
  clearInterval(nowTimer);
  const focused = document.activeElement;
  const focusWasInside = main.contains(focused) && focused !== main;
  main.replaceChildren(...nodes.flat().filter(Boolean));
  document.title = state.event ? `${title} · ${state.event.name}` : title;
  if (!redrawing) {
    if (focus) main.focus({ preventScroll: false });
  } else if (focusWasInside) {
    const again = focused.id && document.getElementById(focused.id);
    (again || main).focus({ preventScroll: true });
  }
}

async function route() {
  const path = location.pathname;
  const manage = path.match(/^\/registrations\/([^/]+)\/?$/);
  if (manage) return manageView(decodeURIComponent(manage[1]));
  if (path === "/" || path === "/index.html") {
    const { data } = await api("/api/events");
    if (!data.events.length) return render("No events", [h("h1", {}, "No events yet"), h("p", {}, "Nothing has been published.")]);
    return go(`/events/${data.events[0].slug}/${location.search}`, { replace: true });
  }
  const match = path.match(/^\/events\/([a-z0-9][a-z0-9-]*)(?:\/(.*))?$/);
  if (!match) return notFound();
  const [, slug, rest = ""] = match;
  if (state.slug !== slug || Date.now() - state.loadedAt > REFRESH_MS) {
    try {
      await loadEvent(slug);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return notFound("There is no such event.");
      throw error;
    }
    showEventHeading();
  }
  const parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return agendaView();
  if (parts[0] === "sessions" && parts.length === 2) return sessionView(parts[1]);
  if (parts[0] === "speakers" && parts.length === 1) return speakersView();
  if (parts[0] === "speakers" && parts.length === 2) return speakerView(parts[1]);
  if (parts[0] === "my-agenda" && parts.length === 1) return myAgendaView();
  if (parts[0] === "register" && parts.length === 1) return registerView();
  return notFound();
}

function notFound(why = "There is no page at this address.") {
  markCurrentNav(null);
  render("Not found", [h("h1", {}, "Not found"), h("p", {}, why, " "), h("p", {}, h("a", { href: "/" }, "Go to the agenda"))]);
}

function showFailure(error) {
  console.warn(error);
  const why = error instanceof ApiError ? error.message : "The site cannot be reached right now; check your connection.";
  render("Unavailable", [
    h("h1", {}, "This page could not be loaded"),
    h("p", { role: "alert" }, why),
    h("button", { type: "button", onclick: () => route().catch(showFailure) }, "Try again"),
  ]);
}

// ---------------------------------------------------------------- agenda

const ZONE_KEY = "eventfront:times-in";

/** Whether the viewer chose their own zone: `?tz=` when given, else their last choice. */
function wantsLocalTime(params = new URLSearchParams(location.search)) {
  const chosen = params.get("tz") ?? localStorage.getItem(ZONE_KEY);
  return chosen === "local";
}

/** Which zone times are shown in: the event's unless the viewer chose theirs. */
function displayZone(params) {
  return wantsLocalTime(params) ? viewerZone : state.event.timezone;
}

const zoneNote = (zone) => h("p", { className: "meta" }, `Times in ${zoneCity(zone)} time (${zone}).`);

/** Only web links are shown as links; anything else is left out. */
const webUrl = (url) => (/^https?:\/\//i.test(url ?? "") ? url : null);

const trackName = (id) => state.event.tracks.find((t) => t.id === id)?.name;
const roomName = (id) => state.event.rooms.find((r) => r.id === id)?.name;
const trackIndex = (id) => state.event.tracks.findIndex((t) => t.id === id);
const speakerNames = (session) => session.speakers.map((id) => state.speakerById.get(id)?.name).filter(Boolean);
const sessionPath = (id) => `/events/${state.slug}/sessions/${id}`;
const speakerPath = (id) => `/events/${state.slug}/speakers/${id}`;

/** Lower-cased, accents removed, so "cafe" finds "Café". */
const fold = (text) => text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase();

function matches(session, { track, room, q }) {
  if (track && session.track !== track) return false;
  if (room && session.room !== room) return false;
  if (q) {
    const haystack = fold([session.title, session.abstract, ...speakerNames(session)].join(" "));
    return fold(q).split(/\s+/).filter(Boolean).every((word) => haystack.includes(word));
  }
  return true;
}

/** The moment "now / next" is worked out for: the clock, or `?at=` to preview a moment. */
function now() {
  const at = Date.parse(new URLSearchParams(location.search).get("at") || "");
  return Number.isNaN(at) ? Date.now() : at;
}

/** A toggle that stars a session; `labelled` adds visible words beside the ★. */
function starButton(session, { labelled = false, onToggle } = {}) {
  const button = h("button", {
    type: "button",
    className: "star",
    "aria-pressed": String(stars().has(session.id)),
    "aria-label": `Star “${session.title}”`,
    title: "Keep in my agenda",
  }, h("span", { "aria-hidden": "true" }, labelled ? "★ Star" : "★"));
  button.addEventListener("click", () => {
    button.setAttribute("aria-pressed", String(toggleStar(session.id)));
    onToggle?.();
  });
  return button;
}

/**
 * One session as a card: time, room, title, speakers, track, star. `where`
 * names the list it is in, so its ids stay unique when a session shows
 * twice (now / next and its day).
 */
function sessionCard(session, zone, { where = "list", placement, onToggle } = {}) {
  const index = trackIndex(session.track);
  const titleId = `${where}-title-${session.id}`;
  return h("article", {
    className: `session${index >= 0 ? ` track-${index % 6}` : " track-none"}`,
    style: placement,
    "aria-labelledby": titleId,
    dataset: { session: session.id },
  },
  h("p", { className: "when" },
    h("time", { dateTime: session.starts_at }, `${clock(session.starts_at, zone)}–${clock(session.ends_at, zone)}`),
    session.room ? h("span", { className: "room" }, ` · ${roomName(session.room) ?? session.room}`) : null),
  h("h3", { id: titleId }, h("a", { href: sessionPath(session.id) }, session.title)),
  session.speakers.length ? h("p", { className: "who" }, speakerNames(session).join(", ")) : null,
  session.track ? h("p", { className: "track" }, trackName(session.track) ?? session.track) : null,
  starButton(session, { onToggle }));
}

/**
 * One day: a grid with a column per room and a row per time boundary on
 * wide screens; the same cards in time order on narrow ones (CSS decides).
 */
function dayGrid(date, sessions, zone) {
  const rooms = state.event.rooms.filter((r) => sessions.some((s) => s.room === r.id));
  const bounds = [...new Set(sessions.flatMap((s) => [Date.parse(s.starts_at), Date.parse(s.ends_at)]))].sort((a, b) => a - b);
  const row = (iso) => bounds.indexOf(Date.parse(iso)) + 2;
  const roomIndex = (session) => rooms.findIndex((r) => r.id === session.room);
  const column = (session) => (roomIndex(session) < 0 ? "2 / -1" : String(roomIndex(session) + 2));
  // Cards in reading order: by time, then left to right, as the grid shows them.
  sessions = [...sessions].sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at) || roomIndex(a) - roomIndex(b));
  const grid = h("div", { className: "day-grid", style: `--rooms: ${Math.max(rooms.length, 1)}` },
    rooms.map((r, i) => h("div", { className: "room-head", style: `grid-column: ${i + 2}`, "aria-hidden": "true" }, r.name)),
    [...new Set(sessions.map((s) => s.starts_at))].map((start) =>
      h("div", { className: "slot-time", style: `grid-row: ${row(start)}`, "aria-hidden": "true" }, clock(start, zone))),
    sessions.map((s) => sessionCard(s, zone, { where: "day", placement: `grid-column: ${column(s)}; grid-row: ${row(s.starts_at)} / ${row(s.ends_at)}` })));
  return h("section", { className: "day", "aria-labelledby": `day-${date}` }, h("h2", { id: `day-${date}` }, longDate(date)), grid);
}

/** Sessions running at `moment` and the ones starting next. */
function nowAndNext(sessions, moment, zone) {
  const current = sessions.filter((s) => Date.parse(s.starts_at) <= moment && moment < Date.parse(s.ends_at));
  const upcoming = sessions.filter((s) => Date.parse(s.starts_at) > moment);
  const nextStart = Math.min(...upcoming.map((s) => Date.parse(s.starts_at)));
  const next = upcoming.filter((s) => Date.parse(s.starts_at) === nextStart);
  const list = (items, empty, where) => (items.length ? h("div", { className: "cards" }, items.map((s) => sessionCard(s, zone, { where }))) : h("p", {}, empty));
  return h("section", { className: "now-next", "aria-labelledby": "now-heading" },
    h("h2", { id: "now-heading" }, `Now · ${clock(moment, zone)}`),
    list(current, "Nothing is on right now.", "now"),
    h("h2", {}, "Up next"),
    list(next, "That was the last session.", "next"));
}

function select(id, label, options, value) {
  return h("div", { className: "field" },
    h("label", { htmlFor: id }, label),
    h("select", { id, name: id }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
}

function agendaView() {
  markCurrentNav("nav-agenda");
  const params = new URLSearchParams(location.search);
  const local = wantsLocalTime(params);
  const zone = displayZone(params);
  const filters = { track: params.get("track") || "", room: params.get("room") || "", q: params.get("q") || "" };
  // Days are dates in the zone shown, so they change with the zone.
  const days = [...new Set(state.sessions.map((s) => dateIn(s.starts_at, zone)))];
  const day = days.includes(params.get("day")) ? params.get("day") : "";
  if (params.get("day") && !day) {
    params.delete("day");
    history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
  }

  const eventZone = state.event.timezone;
  const zoneChoice = h("fieldset", { className: "zone" },
    h("legend", {}, "Show times in"),
    h("label", {}, h("input", { type: "radio", name: "tz", id: "tz-event", value: "event", checked: !local }),
      ` Event time (${zoneCity(eventZone)}, ${eventZone})`),
    h("label", {}, h("input", { type: "radio", name: "tz", id: "tz-local", value: "local", checked: local }),
      ` My time (${zoneCity(viewerZone)}, ${viewerZone})`));
  const controls = h("form", { className: "filters", role: "search", "aria-label": "Filter the agenda", onsubmit: (e) => e.preventDefault() },
    select("day", "Day", [["", "All days"], ...days.map((d) => [d, longDate(d)])], day),
    select("track", "Track", [["", "All tracks"], ...state.event.tracks.map((t) => [t.id, t.name])], filters.track),
    select("room", "Room", [["", "All rooms"], ...state.event.rooms.map((r) => [r.id, r.name])], filters.room),
    h("div", { className: "field grow" }, h("label", { htmlFor: "q" }, "Search"),
      h("input", { type: "search", id: "q", name: "q", value: filters.q, placeholder: "Title, abstract or speaker", autocomplete: "off" })),
    zoneChoice);

  // One status line for the whole view, so screen readers hear each new count.
  const summary = h("p", { className: "summary", role: "status", id: "agenda-summary" });
  const nowSlot = h("div", {});
  const dayList = h("div", {});
  const chosenSessions = () => state.sessions.filter((s) => matches(s, filters));
  const tick = () => {
    const moment = now();
    const running = Date.parse(state.event.starts_at) <= moment && moment < Date.parse(state.event.ends_at);
    nowSlot.replaceChildren(...(running ? [nowAndNext(chosenSessions(), moment, zone)] : []));
    return running;
  };
  const fill = () => {
    const chosenDay = controls.elements.namedItem("day").value;
    const byDay = new Map();
    for (const s of chosenSessions()) {
      const key = dateIn(s.starts_at, zone);
      if (chosenDay && key !== chosenDay) continue;
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(s);
    }
    const count = [...byDay.values()].reduce((n, list) => n + list.length, 0);
    announce(summary, `${count} ${count === 1 ? "session" : "sessions"}, times in ${zoneCity(zone)} time (${zone}).`);
    dayList.replaceChildren(...[...byDay].map(([date, list]) => dayGrid(date, list, zone)));
    tick();
  };
  const update = () => {
    const p = new URLSearchParams(location.search);
    for (const name of ["day", "track", "room", "q"]) {
      const value = controls.elements.namedItem(name).value.trim();
      if (value) p.set(name, value);
      else p.delete(name);
    }
    const wantsLocal = controls.querySelector("input[name=tz]:checked")?.value === "local";
    localStorage.setItem(ZONE_KEY, wantsLocal ? "local" : "event");
    if (wantsLocal) p.set("tz", "local");
    else p.delete("tz");
    const query = p.toString();
    history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
    if (wantsLocal !== local) {
      // Another zone has other days: draw the view again, keeping focus.
      redraw(agendaView);
      return;
    }
    Object.assign(filters, { track: p.get("track") || "", room: p.get("room") || "", q: p.get("q") || "" });
    fill();
  };
  let typing;
  controls.addEventListener("change", update);
  controls.elements.namedItem("q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(update, 150);
  });
  render("Agenda", [h("h1", {}, "Agenda"), controls, nowSlot, summary, dayList], { focus: false });
  fill();
  // While the event runs, "now / next" follows the clock (not a preview's `?at=`).
  if (!params.get("at") && Date.now() < Date.parse(state.event.ends_at)) nowTimer = setInterval(tick, 60_000);
}

// ---------------------------------------------------------------- session and speaker pages

function timeRange(session, zone) {
  return `${longDate(dateIn(session.starts_at, zone))}, ${clock(session.starts_at, zone)}–${clock(session.ends_at, zone)}`;
}

function sessionView(id) {
  markCurrentNav(null);
  const session = state.sessionById.get(id);
  if (!session) return notFound("There is no such session in this version of the agenda.");
  const eventZone = state.event.timezone;
  const links = Object.entries({ live: "Watch live", recording: "Recording", slides: "Slides" })
    .filter(([key]) => webUrl(session.links?.[key]))
    .map(([key, label]) => h("li", {}, h("a", { href: session.links[key], rel: "noopener" }, label)));
  render(session.title, [
    h("p", { className: "crumbs" }, h("a", { href: `/events/${state.slug}/` }, "← Agenda")),
    h("article", { className: "detail" },
      h("h1", {}, session.title),
      h("dl", { className: "facts" },
        h("dt", {}, "When"),
        h("dd", {}, h("time", { dateTime: session.starts_at }, timeRange(session, eventZone)), ` (${zoneCity(eventZone)} time)`,
          viewerZone !== eventZone ? h("span", { className: "meta" }, ` · ${timeRange(session, viewerZone)} your time (${zoneCity(viewerZone)})`) : null),
        session.room ? [h("dt", {}, "Room"), h("dd", {}, roomName(session.room) ?? session.room)] : null,
        session.track ? [h("dt", {}, "Track"), h("dd", {}, trackName(session.track) ?? session.track)] : null,
        session.tags?.length ? [h("dt", {}, "Tags"), h("dd", {}, session.tags.join(", "))] : null),
      session.speakers.length
        ? h("section", { "aria-labelledby": "speakers-heading" }, h("h2", { id: "speakers-heading" }, "Speakers"),
          h("ul", { className: "people" }, session.speakers.map((sid) => state.speakerById.get(sid)).filter(Boolean).map((sp) =>
            h("li", {}, h("a", { href: speakerPath(sp.id) }, sp.name), sp.affiliation ? `, ${sp.affiliation}` : ""))))
        : null,
      h("h2", {}, "About this session"),
      h("p", { className: "abstract" }, session.abstract || "No description yet."),
      links.length ? [h("h2", {}, "Watch and read"), h("ul", { className: "links" }, links)] : null,
      h("div", { className: "actions" },
        starButton(session, { labelled: true }),
        h("a", {
          className: "button",
          href: `/api/events/${state.slug}/sessions/${encodeURIComponent(session.id)}/session.ics`,
          download: `${session.id}.ics`,
        }, "Add to calendar (.ics)"))),
  ]);
}

function speakersView() {
  markCurrentNav("nav-speakers");
  const sorted = [...state.speakers].sort((a, b) => a.name.localeCompare(b.name));
  render("Speakers", [
    h("h1", {}, "Speakers"),
    h("ul", { className: "people columns" }, sorted.map((sp) =>
      h("li", {}, h("a", { href: speakerPath(sp.id) }, sp.name), sp.affiliation ? h("span", { className: "meta" }, ` · ${sp.affiliation}`) : null))),
  ]);
}

function speakerView(id) {
  markCurrentNav("nav-speakers");
  const speaker = state.speakerById.get(id);
  if (!speaker) return notFound("There is no such speaker in this version of the agenda.");
  const zone = displayZone();
  const sessions = state.sessions.filter((s) => s.speakers.includes(id));
  render(speaker.name, [
    h("p", { className: "crumbs" }, h("a", { href: `/events/${state.slug}/speakers` }, "← Speakers")),
    h("article", { className: "detail" },
      h("h1", {}, speaker.name),
      speaker.affiliation ? h("p", { className: "meta" }, speaker.affiliation) : null,
      h("p", {}, speaker.bio || ""),
      Object.keys(speaker.links || {}).length
        ? h("ul", { className: "links" }, Object.entries(speaker.links).filter(([, url]) => webUrl(url))
          .map(([label, url]) => h("li", {}, h("a", { href: url, rel: "noopener" }, label))))
        : null,
      h("h2", {}, sessions.length === 1 ? "Session" : "Sessions"),
      zoneNote(zone),
      h("div", { className: "cards" }, sessions.map((s) => sessionCard(s, zone)))),
  ]);
}

// ---------------------------------------------------------------- personal agenda

function myAgendaView() {
  markCurrentNav("nav-mine");
  const zone = displayZone();
  const starred = stars();
  const mine = state.sessions.filter((s) => starred.has(s.id));
  const missing = [...starred].filter((id) => !state.sessionById.has(id)).length;
  const ids = mine.map((s) => s.id).join(",");
  const byDay = new Map();
  for (const s of mine) {
    const key = dateIn(s.starts_at, zone);
    if (!byDay.has(key)) byDay.set(key, []);
    byDay.get(key).push(s);
  }
  render("My agenda", [
    h("h1", {}, "My agenda"),
    h("p", { className: "meta" }, "The sessions you star are kept in this browser only."),
    mine.length
      ? h("p", {}, h("a", {
        className: "button",
        id: "download-mine",
        href: `/api/events/${state.slug}/schedule.ics?sessions=${encodeURIComponent(ids)}`,
        download: `${state.slug}-my-agenda.ics`,
      }, `Download my agenda (.ics, ${mine.length} ${mine.length === 1 ? "session" : "sessions"})`))
      : h("p", {}, "Nothing starred yet. Use the ★ button on a session in the ", h("a", { href: `/events/${state.slug}/` }, "agenda"), "."),
    missing ? h("p", { className: "notice" }, `${missing} starred ${missing === 1 ? "session is" : "sessions are"} no longer in the agenda.`) : null,
    mine.length ? zoneNote(zone) : null,
    // Unstarring here takes the session off this page at once.
    ...[...byDay].map(([date, list]) => h("section", { className: "day" }, h("h2", {}, longDate(date)),
      h("div", { className: "cards" }, list.map((s) => sessionCard(s, zone, { onToggle: () => redraw(myAgendaView) }))))),
  ]);
}


// ---------------------------------------------------------------- registration

function field(id, label, input, hint) {
  return h("div", { className: "field" }, h("label", { htmlFor: id }, label), hint ? h("p", { className: "hint", id: `${id}-hint` }, hint) : null, input);
}

const managePath = (entry) => `/registrations/${encodeURIComponent(entry.id)}#token=${encodeURIComponent(entry.token)}`;

function outcomePanel(answer) {
  const confirmed = answer.status === "confirmed";
  return h("div", { className: `outcome ${confirmed ? "ok" : "wait"}`, id: "outcome", role: "status", tabIndex: -1 },
    h("h2", {}, confirmed ? "You are registered: confirmed" : `You are on the waitlist: position ${answer.position}`),
    h("p", {}, confirmed
      ? "Your seat is confirmed."
      : "Every seat is taken. If someone cancels, the first person on the waitlist gets their seat. Your manage link always shows your current status."),
    h("p", {}, "Keep this link to see your status or cancel: ", h("a", { href: managePath({ id: answer.id, token: answer.manage_token }), id: "manage-link" }, "manage my registration"), "."));
}

function registerView() {
  markCurrentNav("nav-register");
  const settings = state.event.registration || { open: false };
  const pendingKey = `eventfront:pending-registration:${state.slug}`;
  const mine = savedRegistrations().filter((r) => r.event === state.slug);
  const previous = mine.length
    ? h("section", { "aria-labelledby": "mine-heading" }, h("h2", { id: "mine-heading" }, "Registrations made in this browser"),
      h("ul", {}, mine.map((r) => h("li", {}, h("a", { href: managePath(r) }, `${r.name} — manage`)))))
    : null;
  const moment = Date.now();
  const zone = state.event.timezone;
  const at = (instant) => `${longDate(dateIn(instant, zone))}, ${clock(instant, zone)} (${zoneCity(zone)} time)`;
  const closedBecause = !settings.open
    ? "Registration is closed."
    : settings.opens_at && moment < Date.parse(settings.opens_at)
      ? `Registration opens on ${at(settings.opens_at)}.`
      : settings.closes_at && moment >= Date.parse(settings.closes_at)
        ? `Registration closed on ${at(settings.closes_at)}.`
        : null;
  if (closedBecause) {
    return render("Register", [h("h1", {}, "Register"), h("p", { className: "notice" }, closedBecause), previous]);
  }
  // What is being done is announced once per attempt; the countdown beside
  // it ticks visibly without being read out every second.
  const progressStatus = h("span", { role: "status", id: "progress-status" });
  const countdown = h("span", { "aria-hidden": "true", id: "progress-countdown" });
  const progress = h("p", { id: "progress", className: "progress" }, progressStatus, " ", countdown);
  const showProgress = (text, ticking = "") => {
    announce(progressStatus, text);
    countdown.textContent = ticking;
  };
  const formError = h("div", { id: "form-error", role: "alert" });
  const form = h("form", { id: "register-form", noValidate: true, "aria-describedby": "capacity" },
    field("reg-name", "Full name", h("input", { id: "reg-name", name: "name", autocomplete: "name", required: true })),
    field("reg-email", "Email", h("input", { id: "reg-email", name: "email", type: "email", autocomplete: "email", required: true, "aria-describedby": "reg-email-hint" }),
      "We use it only to tell you about this event."),
    h("button", { type: "submit", id: "register-button" }, "Register"),
    progress, formError);
  const outcome = h("div", {});
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: form.elements.name.value.trim(), email: form.elements.email.value.trim() };
    // One key per submission: a retry of the same details reuses it, so the
    // origin answers a retried request exactly once.
    const pending = readJson(sessionStorage, pendingKey, null);
    const key = pending && JSON.stringify(pending.body) === JSON.stringify(body) ? pending.key : crypto.randomUUID();
    sessionStorage.setItem(pendingKey, JSON.stringify({ key, body }));
    clearFieldErrors(form);
    formError.replaceChildren();
    outcome.replaceChildren();
    const button = form.querySelector("#register-button");
    button.disabled = true;
    showProgress("Sending your registration…");
    try {
      const { data } = await withRetry(() => api(`/api/events/${state.slug}/registrations`, {
        method: "POST", body, headers: { "idempotency-key": key },
      }), {
        onWait: ({ attempt, of, seconds, error }) => {
          const why = error instanceof ApiError ? "The server is busy" : "No connection";
          if (seconds > 0) showProgress(`${why}; trying again (attempt ${attempt} of ${of}).`, `Next try in ${seconds} s…`);
          else showProgress(`Sending again (attempt ${attempt} of ${of})…`);
        },
      });
      sessionStorage.removeItem(pendingKey);
      saveRegistration({ id: data.id, token: data.manage_token, event: state.slug, name: body.name });
      showProgress("");
      form.hidden = true;
      outcome.replaceChildren(outcomePanel(data));
      outcome.querySelector("#outcome").focus();
    } catch (error) {
      showProgress("");
      if (error instanceof ApiError && error.fieldErrors.length) {
        const rest = showFieldErrors(form, error.fieldErrors);
        if (rest.length) formError.append(h("p", { className: "error" }, rest.map((r) => r.message).join(" ")));
      } else {
        const why = error instanceof ApiError
          ? error.message
          : "The site could not be reached.";
        formError.append(h("p", { className: "error" },
          `Your registration did not go through: ${why} `,
          isNetworkOrBusy(error) ? "Your details are kept; press Register to try again — you will not be registered twice." : ""));
      }
    } finally {
      button.disabled = false;
    }
  });
  const capacity = settings.capacity == null ? "There is no limit on seats." : `${settings.capacity} seats. When they are taken, you join the waitlist in order of arrival.`;
  render("Register", [h("h1", {}, `Register for ${state.event.name}`), h("p", { id: "capacity" }, capacity), form, outcome, previous]);
}

const isNetworkOrBusy = (error) => !(error instanceof ApiError) || error.status === 503 || error.status === 429;

// ---------------------------------------------------------------- manage one registration

async function manageView(id) {
  markCurrentNav(null);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  const token = fromHash || savedRegistrations().find((r) => r.id === id)?.token;
  if (!token) return render("Registration", [h("h1", {}, "Your registration"), h("p", { role: "alert" }, "This link is incomplete: it has no manage token.")]);
  let registration;
  try {
    ({ data: registration } = await api(`/api/registrations/${encodeURIComponent(id)}`, { token }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return render("Registration", [h("h1", {}, "Your registration"), h("p", { role: "alert" }, "This manage link is not valid.")]);
    }
    throw error;
  }
  const statusText = (r) => (r.status === "waitlisted" ? `waitlisted, position ${r.position}` : r.status);
  const status = h("p", { id: "registration-status", className: `status-${registration.status}`, role: "status", tabIndex: -1 }, `Status: ${statusText(registration)}`);
  const actions = h("div", { className: "actions" });
  const showActions = () => {
    if (registration.status === "cancelled") {
      actions.replaceChildren(h("p", {}, "This registration is cancelled. You can ", h("a", { href: `/events/${registration.event}/register` }, "register again"), "."));
      return;
    }
    const cancel = h("button", { type: "button", id: "cancel-registration", className: "danger" }, "Cancel my registration");
    cancel.addEventListener("click", () => {
      const confirm = h("button", { type: "button", id: "confirm-cancel", className: "danger" }, "Yes, cancel it");
      const keep = h("button", { type: "button", onclick: showActions }, "No, keep it");
      confirm.addEventListener("click", async () => {
        confirm.disabled = true;
        try {
          await withRetry(() => api(`/api/registrations/${encodeURIComponent(id)}`, { method: "DELETE", token }), {
            onWait: ({ seconds }) => { status.textContent = `The server is busy; trying again in ${seconds} s…`; },
          });
          ({ data: registration } = await api(`/api/registrations/${encodeURIComponent(id)}`, { token, cache: "no-store" }));
          status.className = `status-${registration.status}`;
          status.textContent = `Status: ${statusText(registration)}`;
          showActions();
          status.focus();
        } catch (error) {
          actions.append(h("p", { className: "error", role: "alert" }, `Cancelling did not work: ${error.message}`));
          confirm.disabled = false;
        }
      });
      actions.replaceChildren(h("p", {}, "Cancel this registration? Your seat goes to the next person on the waitlist."), confirm, " ", keep);
      confirm.focus();
    });
    actions.replaceChildren(cancel);
  };
  showActions();
  render("Your registration", [
    h("h1", {}, "Your registration"),
    h("dl", { className: "facts" },
      h("dt", {}, "Name"), h("dd", {}, registration.name),
      h("dt", {}, "Email"), h("dd", {}, registration.email),
      h("dt", {}, "Event"), h("dd", {}, h("a", { href: `/events/${registration.event}/` }, registration.event))),
    status,
    actions,
  ]);
}

// ---------------------------------------------------------------- keeping the agenda current

/** While the page is open, pick up new versions (the browser revalidates with the ETag). */
setInterval(async () => {
  if (document.hidden || !state.slug) return;
  try {
    if (await loadEvent(state.slug)) {
      showEventHeading();
      const typing = document.activeElement?.matches("input, textarea, select");
      if (!typing && !location.pathname.startsWith("/registrations/") && !location.pathname.endsWith("/register")) {
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
