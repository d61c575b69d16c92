// The waiting room before an event's registration form (docs/api.md,
// "Waiting room"): a ticket from the edge, kept in this browser so that a
// closed tab keeps its place; its place told in words, asked again when
// the edge says (every 10 to 20 s) or at once with "Check now"; once
// admitted, the registration form opens (registration.js) with the time
// left to use it.

import { api, ApiError, h } from "/common.js";
import { announce, render } from "/app/page.js";

const ticketKey = (slug) => `eventfront:waiting-ticket:${slug}`;
const roomPath = (slug) => `/api/events/${encodeURIComponent(slug)}/waiting-room`;

/** The event's waiting room as the edge holds it, or null when it has none. */
export async function roomOf(slug) {
  try {
    const { data } = await api(`/api/events/${encodeURIComponent(slug)}/seats`, {
      cache: "no-cache",
    });
    return data?.waiting_room ?? null;
  } catch {
    // Unknown: the form opens, and a registration the room refuses says why.
    return null;
  }
}

/** The ticket has registered: the next visit waits afresh. */
export function ticketUsed(slug) {
  localStorage.removeItem(ticketKey(slug));
}

/**
 * Shows the waiting room until this browser's ticket is admitted, then
 * calls `admitted(ticket, until)`; `noRoom()` when the room is gone. `at`
 * words an instant for the page.
 */
export function waitingView({ slug, title, at, admitted, noRoom }) {
  const key = ticketKey(slug);
  const status = h("p", { id: "waiting-status", role: "status" }, "Taking your place in line…");
  const expected = h("p", { id: "waiting-expected" });
  const kept = h(
    "p",
    { id: "waiting-kept" },
    "Your place is kept if you close this tab: open this page again in this browser to see it.",
  );
  const check = h("button", { type: "button", id: "waiting-check" }, "Check now");
  const problem = h("div", { id: "waiting-error", role: "alert" });
  let timer = null;
  const again = (seconds) => {
    clearTimeout(timer);
    timer = setTimeout(ask, seconds * 1000);
  };
  async function ask(fresh = false) {
    clearTimeout(timer);
    // Another view replaced this one: no more asking.
    if (!status.isConnected) return;
    problem.replaceChildren();
    check.disabled = true;
    let ticket = localStorage.getItem(key);
    try {
      let place;
      if (!ticket) {
        ({ data: place } = await api(roomPath(slug), { method: "POST" }));
        ticket = place.ticket;
        localStorage.setItem(key, ticket);
      } else {
        ({ data: place } = await api(roomPath(slug), {
          headers: { "eventfront-ticket": ticket },
        }));
      }
      // The answer came after the visitor went elsewhere: it is not shown.
      if (!status.isConnected) return;
      if (place.state === "admitted") return admitted(ticket, place.admitted_until);
      if (place.state === "lapsed") {
        localStorage.removeItem(key);
        announce(status, "Your turn came and your time to register has passed.");
        expected.textContent = "Press Check now to take a new place at the end of the line.";
        kept.hidden = true;
        return;
      }
      kept.hidden = false;
      announce(
        status,
        place.ahead === 0
          ? "You are next in line."
          : `${place.ahead} ${place.ahead === 1 ? "person is" : "people are"} ahead of you in line.`,
      );
      expected.textContent = place.paused
        ? "Admission is paused by the organizers for now; your place is kept."
        : place.expected_at
          ? `Your turn is expected at about ${at(place.expected_at)}. This page opens the form then.`
          : "";
      again(place.check_again_secs);
    } catch (error) {
      if (!status.isConnected) return;
      if (error instanceof ApiError && error.status === 404) {
        // The organizers took the room away: registration is open to all.
        localStorage.removeItem(key);
        return noRoom();
      }
      if (error instanceof ApiError && error.status === 403 && !fresh) {
        // A ticket this site no longer takes: a new place.
        localStorage.removeItem(key);
        return ask(true);
      }
      const why =
        error instanceof ApiError && error.status === 409
          ? error.message
          : "The waiting room cannot be reached right now. Your place is kept; this page tries again shortly.";
      problem.append(h("p", { className: "error" }, why));
      again(20);
    } finally {
      check.disabled = false;
    }
  }
  check.addEventListener("click", () => ask());
  render(title, [
    h("h1", {}, title),
    h(
      "p",
      {},
      "Many people are registering at once, so places are given in the order people arrived. Wait here: the form opens when it is your turn.",
    ),
    status,
    expected,
    kept,
    check,
    problem,
  ]);
  ask();
}
