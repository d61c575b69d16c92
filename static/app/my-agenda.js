// "My agenda": the seats this browser's registrations hold in workshops,
// then the starred sessions by day, and their .ics download.

import { api, h, dateIn, longDate } from "/common.js";
import { state, stars, savedRegistrations } from "/app/data.js";
import { spotText, pickWhen } from "/app/seats.js";
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
    seatsOf(zone),
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

/**
 * A place that fills with the workshop seats, places in line and picks of
 * the registrations this browser keeps for the event, once they are read.
 */
function seatsOf(zone) {
  const slot = h("div", { id: "my-seats" });
  const kept = savedRegistrations().filter((r) => r.event === state.slug);
  if (!kept.length) return slot;
  Promise.all(
    kept.map((r) =>
      api(`/api/registrations/${encodeURIComponent(r.id)}`, { token: r.token, cache: "no-store" })
        .then(({ data }) => ({ registration: data, kept: r }))
        .catch(() => null),
    ),
  ).then((read) => {
    const picks = read
      .filter(Boolean)
      .flatMap(({ registration, kept: r }) =>
        (registration.sessions ?? []).map((pick) => ({ pick, registration, r })),
      );
    if (!picks.length) return;
    const manage = (r) =>
      `/registrations/${encodeURIComponent(r.id)}#token=${encodeURIComponent(r.token)}`;
    slot.replaceChildren(
      h(
        "section",
        { "aria-labelledby": "my-seats-title" },
        h("h2", { id: "my-seats-title" }, "Your workshop seats"),
        h(
          "ul",
          { className: "session-picks" },
          picks.map(({ pick, registration, r }) =>
            h(
              "li",
              { dataset: { session: pick.session, spot: pick.spot } },
              h("p", {}, h("strong", {}, pick.title ?? pick.session)),
              h(
                "p",
                { className: "meta" },
                pick.starts_at ? pickWhen(pick, zone) : "",
                kept.length > 1 ? ` · ${registration.name}` : "",
              ),
              h("p", { className: "spot" }, spotText(pick)),
              h("a", { href: manage(r) }, "Change on your registration page"),
            ),
          ),
        ),
      ),
    );
  });
  return slot;
}
