// Sessions with seats in words: where a registration stands in one,
// shared by its manage page (session-picks.js) and "My agenda", and the
// places an agenda card shows.

import { clock, dateIn, longDate } from "/common.js";

/** `Tuesday 8 June, 11:00–11:50` in `zone`, for a session or a pick. */
export const pickWhen = (session, zone) =>
  `${longDate(dateIn(session.starts_at, zone))}, ${clock(session.starts_at, zone)}–${clock(session.ends_at, zone)}`;

/** A pick's spot, as its person is told it. */
export function spotText(pick) {
  switch (pick?.spot) {
    case "seat":
      return "You have a seat.";
    case "line":
      return `You are number ${pick.position} in line; if a seat comes free, it is yours and we write to you.`;
    case "deferred":
      return "Picked: it takes a seat or a place in line once your registration is confirmed.";
    default:
      return null;
  }
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
export function placesText(session, count) {
  if (session.capacity == null && !session.registration_required) return null;
  const full = count && count.capacity != null && count.left === 0;
  const where = full
    ? "join the line on your registration page"
    : "pick it on your registration page";
  return `${placesLeft(session, count)}; ${where}`;
}
