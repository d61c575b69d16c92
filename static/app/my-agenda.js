// "My agenda": the starred sessions by day, and their .ics download.

import { h, dateIn, longDate } from "/common.js";
import { state, stars } from "/app/data.js";
import { markCurrentNav, redraw, render } from "/app/page.js";
import { displayZone, zoneNote, sessionCard } from "/app/cards.js";

export function myAgendaView() {
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
      ? h(
          "p",
          {},
          h(
            "a",
            {
              className: "button",
              id: "download-mine",
              href: `/api/events/${state.slug}/schedule.ics?sessions=${encodeURIComponent(ids)}`,
              download: `${state.slug}-my-agenda.ics`,
            },
            `Download my agenda (.ics, ${mine.length} ${mine.length === 1 ? "session" : "sessions"})`,
          ),
        )
      : h(
          "p",
          {},
          "Nothing starred yet. Use the ★ button on a session in the ",
          h("a", { href: `/events/${state.slug}/` }, "agenda"),
          ".",
        ),
    missing
      ? h(
          "p",
          { className: "notice" },
          `${missing} starred ${missing === 1 ? "session is" : "sessions are"} no longer in the agenda.`,
        )
      : null,
    mine.length ? zoneNote(zone) : null,
    // Unstarring here takes the session off this page at once.
    ...[...byDay].map(([date, list]) =>
      h(
        "section",
        { className: "day" },
        h("h2", {}, longDate(date)),
        h(
          "div",
          { className: "cards" },
          list.map((s) => sessionCard(s, zone, { onToggle: () => redraw(myAgendaView) })),
        ),
      ),
    ),
  ]);
}
