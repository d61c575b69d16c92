// The frame every attendee view is drawn in: the event's heading, section
// links and star count; the line under them that says how current the
// agenda is, plainly when the copy is the edge's stale one or the one saved
// on this device (offline); and the main region with its title, focus and
// timer.

import { h, clock, dateIn, longDate } from "/common.js";
import { state, viewerZone, stars } from "/app/data.js";

const main = document.getElementById("main");

/** Sets a live region's text only when it changes, so it is not re-announced. */
export function announce(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

export function showEventHeading() {
  const { event } = state;
  document.getElementById("event-name").textContent = event.name;
  const days = `${longDate(dateIn(event.starts_at, event.timezone))} – ${longDate(dateIn(event.ends_at, event.timezone))}`;
  document.getElementById("event-meta").textContent = [days, event.venue]
    .filter(Boolean)
    .join(" · ");
  const base = `/events/${state.slug}`;
  document.getElementById("nav-agenda").href = `${base}/`;
  document.getElementById("nav-speakers").href = `${base}/speakers`;
  document.getElementById("nav-mine").href = `${base}/my-agenda`;
  document.getElementById("nav-register").href = `${base}/register`;
  document.getElementById("sections").hidden = false;
  updateStarCount();
}

export function updateStarCount() {
  // A large agenda holds only some sessions: every star counts there.
  const held = [...stars()].filter((id) => state.large || state.sessionById.has(id));
  const count = state.slug ? held.length : 0;
  document.getElementById("star-count").textContent = count ? `(${count})` : "";
}

export function showFreshness(headers, changed) {
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
    const minutes =
      Number.isFinite(age) && age >= 60 ? ` about ${Math.round(age / 60)} min ago` : "";
    text += ` This may be out of date: the organizer's server cannot be reached, so this is the copy the edge last confirmed${minutes}.`;
  }
  announce(line, text);
  line.classList.toggle("stale", stale || Boolean(savedAt));
}

/** The periodic check failed: say since when the page has not been able to look. */
export function showCheckFailed() {
  const line = document.getElementById("freshness");
  const since = clock(state.loadedAt, viewerZone);
  announce(
    line,
    `Agenda version ${state.version}. Couldn't check for updates since ${since} (your time); you may be offline.`,
  );
  line.classList.add("stale");
}

export function markCurrentNav(id) {
  for (const link of document.querySelectorAll("#sections a")) {
    if (link.id === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** True while the page redraws itself after a background check. */
let redrawing = false;
/** Draws the page again without moving focus away from where the visitor is. */
export async function redraw(draw) {
  redrawing = true;
  try {
    await draw();
  } finally {
    redrawing = false;
  }
}
/** The "now / next" clock of the agenda on screen, stopped when it goes. */
let nowTimer = null;

/** Runs `tick` every minute until the next view is rendered. */
export function tickEveryMinute(tick) {
  nowTimer = setInterval(tick, 60_000);
}

/**
 * Renders `nodes` as the page and titles it. A page the visitor went to
 * gets focus, so screen readers start there; a redraw of the same page
 * after a background check keeps focus where it was.
 */
export function render(title, nodes, { focus = true } = {}) {
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

export function notFound(why = "There is no page at this address.") {
  markCurrentNav(null);
  render("Not found", [
    h("h1", {}, "Not found"),
    h("p", {}, why, " "),
    h("p", {}, h("a", { href: "/" }, "Go to the agenda")),
  ]);
}
