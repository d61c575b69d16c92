// What the attendee page holds: the event from the edge's public API
// (docs/api.md), which agenda version it is, the lookups every view makes
// in it, and what this browser keeps: stars and registrations made here.

import { api, readJson } from "/common.js";

export const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** What the page holds of one event, and which agenda version it shows. */
export const state = {
  slug: null,
  event: null,
  sessions: [],
  speakers: [],
  sessionById: new Map(),
  speakerById: new Map(),
  version: null,
  loadedAt: 0,
};

/**
 * Loads the three documents of one event into `state`. Answers whether the
 * agenda version changed under the page, and the headers that say which
 * edge served it and how fresh it is.
 */
export async function loadEvent(slug) {
  const base = `/api/events/${encodeURIComponent(slug)}`;
  // Always a conditional request (a 304 is tiny): a copy the browser serves
  // on its own could not say whether the edge's copy is stale now.
  const options = { cache: "no-cache" };
  const [event, sessions, speakers] = await Promise.all([
    api(base, options),
    api(`${base}/sessions`, options),
    api(`${base}/speakers`, options),
  ]);
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
  return { changed, headers: sessions.headers };
}

export const trackName = (id) => state.event.tracks.find((t) => t.id === id)?.name;
export const roomName = (id) => state.event.rooms.find((r) => r.id === id)?.name;
export const speakerNames = (session) =>
  session.speakers.map((id) => state.speakerById.get(id)?.name).filter(Boolean);

// What this browser keeps, never sent anywhere.
const starsKey = () => `eventfront:stars:${state.slug}`;
/** The sessions starred for this event. */
export const stars = () => new Set(readJson(localStorage, starsKey(), []));
/** Stars or unstars a session; answers whether it is starred now. */
export function toggleStar(id) {
  const set = stars();
  if (set.has(id)) set.delete(id);
  else set.add(id);
  localStorage.setItem(starsKey(), JSON.stringify([...set]));
  return set.has(id);
}

/** The latest registrations made in this browser, with their manage tokens. */
const REGISTRATIONS_KEY = "eventfront:registrations";
export const savedRegistrations = () => readJson(localStorage, REGISTRATIONS_KEY, []);
export function saveRegistration(entry) {
  const list = savedRegistrations().filter((r) => r.id !== entry.id);
  list.unshift(entry);
  localStorage.setItem(REGISTRATIONS_KEY, JSON.stringify(list.slice(0, 20)));
}
