// What every list of sessions shares: the zone its times are shown in (the
// event's, or the viewer's by their choice) and a session's card with its
// star and, for a session picked in advance, its places left.

import { h, clock, zoneCity } from "/common.js";
import {
  state,
  viewerZone,
  trackName,
  roomName,
  speakerNames,
  stars,
  toggleStar,
} from "/app/data.js";
import { updateStarCount } from "/app/page.js";

export const ZONE_KEY = "eventfront:times-in";

/** Whether the viewer chose their own zone: `?tz=` when given, else their last choice. */
export function wantsLocalTime(params = new URLSearchParams(location.search)) {
  const chosen = params.get("tz") ?? localStorage.getItem(ZONE_KEY);
  return chosen === "local";
}

/** Which zone times are shown in: the event's unless the viewer chose theirs. */
export function displayZone(params) {
  return wantsLocalTime(params) ? viewerZone : state.event.timezone;
}

export const zoneNote = (zone) =>
  h("p", { className: "meta" }, `Times in ${zoneCity(zone)} time (${zone}).`);

const trackIndex = (id) => state.event.tracks.findIndex((t) => t.id === id);
const sessionPath = (id) => `/events/${state.slug}/sessions/${id}`;

/** A toggle that stars a session; `labelled` adds visible words beside the ★. */
export function starButton(session, { labelled = false, onToggle } = {}) {
  const button = h(
    "button",
    {
      type: "button",
      className: "star",
      "aria-pressed": String(stars().has(session.id)),
      "aria-label": `Star “${session.title}”`,
      title: "Keep in my agenda",
    },
    h("span", { "aria-hidden": "true" }, labelled ? "★ Star" : "★"),
  );
  button.addEventListener("click", () => {
    button.setAttribute("aria-pressed", String(toggleStar(session.id)));
    updateStarCount();
    onToggle?.();
  });
  return button;
}

const places = (n) => `${n} ${n === 1 ? "place" : "places"}`;

/** A session's places in a few words: from its live count, else its published limit. */
export function placesLeft(session, count) {
  const capacity = count ? count.capacity : session.capacity;
  if (capacity == null) return "Registration required";
  if (!count) return `${capacity} ${capacity === 1 ? "seat" : "seats"}`;
  if (count.left > 0) return `${places(count.left)} left of ${capacity}`;
  return count.waiting ? `Full, ${count.waiting} waiting` : "Full";
}

/**
 * What a card says of a session attendees pick in advance (`null` for one
 * simply attended): its places, live from the edge (`GET
 * /api/events/{slug}/seats`) when the page has them, and where to pick it.
 */
function placesText(session, count) {
  if (session.capacity == null && !session.registration_required) return null;
  const full = count && count.capacity != null && count.left === 0;
  const where = full
    ? "join the line on your registration page"
    : "pick it on your registration page";
  return `${placesLeft(session, count)}; ${where}`;
}

/** A session attendees pick in advance says so, with its places left. */
function seatsNote(session) {
  const text = placesText(session, state.seats.get(session.id));
  return text && h("p", { className: "seats" }, text);
}

/** Shows the places now left on every card of the page, in place. */
export function showPlaces() {
  for (const note of document.querySelectorAll("article[data-session] .seats")) {
    const session = state.sessionById.get(note.closest("article").dataset.session);
    const text = session && placesText(session, state.seats.get(session.id));
    if (text && note.textContent !== text) note.textContent = text;
  }
}

/**
 * One session as a card: time, room, title, speakers, track, star. `where`
 * names the list it is in, so its ids stay unique when a session shows
 * twice (now / next and its day).
 */
export function sessionCard(session, zone, { where = "list", placement, onToggle } = {}) {
  const index = trackIndex(session.track);
  const titleId = `${where}-title-${session.id}`;
  return h(
    "article",
    {
      className: `session${index >= 0 ? ` track-${index % 6}` : " track-none"}`,
      style: placement,
      "aria-labelledby": titleId,
      dataset: { session: session.id },
    },
    h(
      "p",
      { className: "when" },
      h(
        "time",
        { dateTime: session.starts_at },
        `${clock(session.starts_at, zone)}–${clock(session.ends_at, zone)}`,
      ),
      session.room
        ? h("span", { className: "room" }, ` · ${roomName(session.room) ?? session.room}`)
        : null,
    ),
    h("h3", { id: titleId }, h("a", { href: sessionPath(session.id) }, session.title)),
    session.speakers.length ? h("p", { className: "who" }, speakerNames(session).join(", ")) : null,
    session.track
      ? h("p", { className: "track" }, trackName(session.track) ?? session.track)
      : null,
    seatsNote(session),
    starButton(session, { onToggle }),
  );
}
