// The pages of one session, of all speakers and of one speaker, each at
// its own URL.

import { h, clock, dateIn, longDate, zoneCity } from "/common.js";
import { state, viewerZone, trackName, roomName } from "/app/data.js";
import { markCurrentNav, notFound, render } from "/app/page.js";
import { displayZone, zoneNote, sessionCard, starButton } from "/app/cards.js";

/** Only web links are shown as links; anything else is left out. */
const webUrl = (url) => (/^https?:\/\//i.test(url ?? "") ? url : null);
const speakerPath = (id) => `/events/${state.slug}/speakers/${id}`;

function timeRange(session, zone) {
  return `${longDate(dateIn(session.starts_at, zone))}, ${clock(session.starts_at, zone)}–${clock(session.ends_at, zone)}`;
}

export function sessionView(id) {
  markCurrentNav(null);
  const session = state.sessionById.get(id);
  if (!session) return notFound("There is no such session in this version of the agenda.");
  const eventZone = state.event.timezone;
  const links = Object.entries({ live: "Watch live", recording: "Recording", slides: "Slides" })
    .filter(([key]) => webUrl(session.links?.[key]))
    .map(([key, label]) =>
      h("li", {}, h("a", { href: session.links[key], rel: "noopener" }, label)),
    );
  render(session.title, [
    h("p", { className: "crumbs" }, h("a", { href: `/events/${state.slug}/` }, "← Agenda")),
    h(
      "article",
      { className: "detail" },
      h("h1", {}, session.title),
      h(
        "dl",
        { className: "facts" },
        h("dt", {}, "When"),
        h(
          "dd",
          {},
          h("time", { dateTime: session.starts_at }, timeRange(session, eventZone)),
          ` (${zoneCity(eventZone)} time)`,
          viewerZone !== eventZone
            ? h(
                "span",
                { className: "meta" },
                ` · ${timeRange(session, viewerZone)} your time (${zoneCity(viewerZone)})`,
              )
            : null,
        ),
        session.room
          ? [h("dt", {}, "Room"), h("dd", {}, roomName(session.room) ?? session.room)]
          : null,
        session.track
          ? [h("dt", {}, "Track"), h("dd", {}, trackName(session.track) ?? session.track)]
          : null,
        session.tags?.length ? [h("dt", {}, "Tags"), h("dd", {}, session.tags.join(", "))] : null,
      ),
      session.speakers.length
        ? h(
            "section",
            { "aria-labelledby": "speakers-heading" },
            h("h2", { id: "speakers-heading" }, "Speakers"),
            h(
              "ul",
              { className: "people" },
              session.speakers
                .map((sid) => state.speakerById.get(sid))
                .filter(Boolean)
                .map((sp) =>
                  h(
                    "li",
                    {},
                    h("a", { href: speakerPath(sp.id) }, sp.name),
                    sp.affiliation ? `, ${sp.affiliation}` : "",
                  ),
                ),
            ),
          )
        : null,
      h("h2", {}, "About this session"),
      h("p", { className: "abstract" }, session.abstract || "No description yet."),
      links.length ? [h("h2", {}, "Watch and read"), h("ul", { className: "links" }, links)] : null,
      h(
        "div",
        { className: "actions" },
        starButton(session, { labelled: true }),
        h(
          "a",
          {
            className: "button",
            href: `/api/events/${state.slug}/sessions/${encodeURIComponent(session.id)}/session.ics`,
            download: `${session.id}.ics`,
          },
          "Add to calendar (.ics)",
        ),
      ),
    ),
  ]);
}

export function speakersView() {
  markCurrentNav("nav-speakers");
  const sorted = [...state.speakers].sort((a, b) => a.name.localeCompare(b.name));
  render("Speakers", [
    h("h1", {}, "Speakers"),
    h(
      "ul",
      { className: "people columns" },
      sorted.map((sp) =>
        h(
          "li",
          {},
          h("a", { href: speakerPath(sp.id) }, sp.name),
          sp.affiliation ? h("span", { className: "meta" }, ` · ${sp.affiliation}`) : null,
        ),
      ),
    ),
  ]);
}

export function speakerView(id) {
  markCurrentNav("nav-speakers");
  const speaker = state.speakerById.get(id);
  if (!speaker) return notFound("There is no such speaker in this version of the agenda.");
  const zone = displayZone();
  const sessions = state.sessions.filter((s) => s.speakers.includes(id));
  render(speaker.name, [
    h(
      "p",
      { className: "crumbs" },
      h("a", { href: `/events/${state.slug}/speakers` }, "← Speakers"),
    ),
    h(
      "article",
      { className: "detail" },
      h("h1", {}, speaker.name),
      speaker.affiliation ? h("p", { className: "meta" }, speaker.affiliation) : null,
      h("p", {}, speaker.bio || ""),
      Object.keys(speaker.links || {}).length
        ? h(
            "ul",
            { className: "links" },
            Object.entries(speaker.links)
              .filter(([, url]) => webUrl(url))
              .map(([label, url]) => h("li", {}, h("a", { href: url, rel: "noopener" }, label))),
          )
        : null,
      h("h2", {}, sessions.length === 1 ? "Session" : "Sessions"),
      zoneNote(zone),
      h(
        "div",
        { className: "cards" },
        sessions.map((s) => sessionCard(s, zone)),
      ),
    ),
  ]);
}
