// Where a registration stands in a session with seats, in words: shared
// by its manage page (session-picks.js) and "My agenda".

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
