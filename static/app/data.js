// What the attendee page holds: the event from the edge's public API
// (docs/api.md), which agenda version it is, the lookups every view makes
// in it, and what this browser keeps: stars and registrations made here.

import { api, readJson } from "/common.js";

export const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** More sessions than this and the agenda is fetched one day at a time. */
const LARGE_AGENDA = 300;

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
  // A large agenda holds only the days and sessions asked for.
  large: false,
  loadedDays: new Set(),
  // Speakers are held by name until a view needs their bios and links.
  speakersComplete: false,
  // Live places of the sessions attendees pick, by session id.
  seats: new Map(),
  seatsVersion: null,
};

/** Sessions per event, from the event list: a small agenda is then fetched whole at once. */
const agendaSizes = new Map();
export function noteAgendaSizes(events) {
  for (const event of events) agendaSizes.set(event.slug, event.sessions);
}

const base = (slug) => `/api/events/${encodeURIComponent(slug)}`;
// Always a conditional request (a 304 is tiny): a copy the browser serves
// on its own could not say whether the edge's copy is stale now.
const fresh = { cache: "no-cache" };
const wholeAgenda = (slug) => api(`${base(slug)}/sessions`, fresh);

/**
 * Loads one event into `state`: a small agenda whole, a large one only as
 * the event, its days then coming one by one. Either names its speakers;
 * their bios and links come when a view asks for them. Answers
 * whether the agenda version changed under the page, and the headers that
 * say which edge served it and how fresh it is.
 */
export async function loadEvent(slug) {
  const held = state.slug !== slug ? undefined : state.large ? Infinity : state.sessions.length;
  const size = agendaSizes.get(slug) ?? held;
  // Known to be small: everything at once; else the event first, to see.
  const early = size !== undefined && size <= LARGE_AGENDA ? wholeAgenda(slug) : null;
  const event = await api(base(slug), fresh);
  // An agenda published before events named their days has no `days`: small.
  const days = event.data.days ?? [];
  const large = days.reduce((n, day) => n + day.sessions, 0) > LARGE_AGENDA;
  const sessions = large ? null : await (early ?? wholeAgenda(slug));
  const headers = (sessions ?? event).headers;
  const version = Number(headers.get("eventfront-version"));
  const changed = state.slug === slug && state.version !== null && version !== state.version;
  const kept = state.slug === slug && !changed && large && state.large;
  Object.assign(state, {
    slug,
    event: event.data,
    large,
    version,
    loadedAt: Date.now(),
  });
  if (!kept) {
    Object.assign(state, {
      sessions: [],
      speakers: [],
      seats: new Map(),
      seatsVersion: null,
      sessionById: new Map(),
      speakerById: new Map(),
      loadedDays: new Set(),
      speakersComplete: false,
    });
    if (sessions) hold(sessions.data);
    // One published before agendas named their speakers: the names come
    // from the speakers document.
    if (sessions && !sessions.data.speakers) await ensureSpeakers();
  }
  const seatsChanged = await loadSeats();
  return { changed, seatsChanged, headers };
}

/** Whether a session is picked in advance. */
const picked = (session) => session.capacity != null || session.registration_required;

/**
 * The places left in the sessions attendees pick, where the agenda has any
 * (a large one may, in days not loaded yet): answers whether they changed.
 * Without them the cards show the published limits, so a failure is no
 * reason to fail the page.
 */
async function loadSeats() {
  if (!state.large && !state.sessions.some(picked)) return false;
  try {
    const { data } = await api(`${base(state.slug)}/seats`, fresh);
    if (!data || data.version === state.seatsVersion) return false;
    state.seats = new Map(Object.entries(data.sessions));
    state.seatsVersion = data.version;
    return true;
  } catch {
    return false;
  }
}

/** Adds the sessions of an agenda answer, and the speakers it names, to what is held. */
function hold({ sessions, speakers = [] }) {
  for (const session of sessions) {
    if (state.sessionById.has(session.id)) continue;
    state.sessionById.set(session.id, session);
    state.sessions.push(session);
  }
  state.sessions.sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
  for (const speaker of speakers) {
    if (!state.speakerById.has(speaker.id)) state.speakerById.set(speaker.id, speaker);
  }
}

/** One day of a large agenda (a date in the event's zone), fetched once. */
export async function ensureDay(date) {
  if (!state.large || !date || state.loadedDays.has(date)) return;
  const { data } = await api(`${base(state.slug)}/sessions?day=${date}`, fresh);
  hold(data);
  state.loadedDays.add(date);
}

/** The sessions named, from a large agenda, where they are not held yet. */
export async function ensureSessions(ids) {
  const missing = [...ids].filter((id) => !state.sessionById.has(id));
  if (!state.large || !missing.length) return;
  const query = encodeURIComponent(missing.join(","));
  const { data } = await api(`${base(state.slug)}/sessions?sessions=${query}`, fresh);
  hold(data);
}

/** Every speaker, with bio and links, where only their names are held. */
export async function ensureSpeakers() {
  if (state.speakersComplete) return;
  const { data } = await api(`${base(state.slug)}/speakers`, fresh);
  state.speakers = data.speakers;
  for (const speaker of data.speakers) state.speakerById.set(speaker.id, speaker);
  state.speakersComplete = true;
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
/** Forgets a registration this browser kept (once it is erased). */
export function forgetRegistration(id) {
  const list = savedRegistrations().filter((r) => r.id !== id);
  localStorage.setItem(REGISTRATIONS_KEY, JSON.stringify(list));
}
