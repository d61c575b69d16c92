// The agenda: every session by day, a grid of rooms on wide screens and a
// list on phones, filtered by day, track, room and words (all kept in the
// URL), in the event's zone or the viewer's, with "now / next" while the
// event runs.

import { h, clock, dateIn, longDate, zoneCity } from "/common.js";
import { state, viewerZone, speakerNames, ensureDay } from "/app/data.js";
import { announce, markCurrentNav, redraw, render, tickEveryMinute } from "/app/page.js";
import { ZONE_KEY, wantsLocalTime, displayZone, sessionCard } from "/app/cards.js";

/** Lower-cased, accents removed, so "cafe" finds "Café". */
const fold = (text) =>
  text
    .normalize("NFD")
    .replace(/\p{Diacritic}/gu, "")
    .toLowerCase();

function matches(session, { track, room, q }) {
  if (track && session.track !== track) return false;
  if (room && session.room !== room) return false;
  if (q) {
    const haystack = fold([session.title, session.abstract, ...speakerNames(session)].join(" "));
    return fold(q)
      .split(/\s+/)
      .filter(Boolean)
      .every((word) => haystack.includes(word));
  }
  return true;
}

/** The moment "now / next" is worked out for: the clock, or `?at=` to preview a moment. */
function now() {
  const at = Date.parse(new URLSearchParams(location.search).get("at") || "");
  return Number.isNaN(at) ? Date.now() : at;
}

/**
 * One day: a grid with a column per room and a row per time boundary on
 * wide screens; the same cards in time order on narrow ones (CSS decides).
 */
function dayGrid(date, sessions, zone) {
  const rooms = state.event.rooms.filter((r) => sessions.some((s) => s.room === r.id));
  const bounds = [
    ...new Set(sessions.flatMap((s) => [Date.parse(s.starts_at), Date.parse(s.ends_at)])),
  ].sort((a, b) => a - b);
  const row = (iso) => bounds.indexOf(Date.parse(iso)) + 2;
  const roomIndex = (session) => rooms.findIndex((r) => r.id === session.room);
  const column = (session) => (roomIndex(session) < 0 ? "2 / -1" : String(roomIndex(session) + 2));
  // Cards in reading order: by time, then left to right, as the grid shows them.
  sessions = [...sessions].sort(
    (a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at) || roomIndex(a) - roomIndex(b),
  );
  const grid = h(
    "div",
    { className: "day-grid", style: `--rooms: ${Math.max(rooms.length, 1)}` },
    rooms.map((r, i) =>
      h(
        "div",
        { className: "room-head", style: `grid-column: ${i + 2}`, "aria-hidden": "true" },
        r.name,
      ),
    ),
    [...new Set(sessions.map((s) => s.starts_at))].map((start) =>
      h(
        "div",
        { className: "slot-time", style: `grid-row: ${row(start)}`, "aria-hidden": "true" },
        clock(start, zone),
      ),
    ),
    sessions.map((s) =>
      sessionCard(s, zone, {
        where: "day",
        placement: `grid-column: ${column(s)}; grid-row: ${row(s.starts_at)} / ${row(s.ends_at)}`,
      }),
    ),
  );
  return h(
    "section",
    { className: "day", "aria-labelledby": `day-${date}` },
    h("h2", { id: `day-${date}` }, longDate(date)),
    grid,
  );
}

/** Sessions running at `moment` and the ones starting next. */
function nowAndNext(sessions, moment, zone) {
  const current = sessions.filter(
    (s) => Date.parse(s.starts_at) <= moment && moment < Date.parse(s.ends_at),
  );
  const upcoming = sessions.filter((s) => Date.parse(s.starts_at) > moment);
  const nextStart = Math.min(...upcoming.map((s) => Date.parse(s.starts_at)));
  const next = upcoming.filter((s) => Date.parse(s.starts_at) === nextStart);
  const list = (items, empty, where) =>
    items.length
      ? h(
          "div",
          { className: "cards" },
          items.map((s) => sessionCard(s, zone, { where })),
        )
      : h("p", {}, empty);
  return h(
    "section",
    { className: "now-next", "aria-labelledby": "now-heading" },
    h("h2", { id: "now-heading" }, `Now · ${clock(moment, zone)}`),
    list(current, "Nothing is on right now.", "now"),
    h("h2", {}, "Up next"),
    list(next, "That was the last session.", "next"),
  );
}

function select(id, label, options, value) {
  return h(
    "div",
    { className: "field" },
    h("label", { htmlFor: id }, label),
    h(
      "select",
      { id, name: id },
      options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
    ),
  );
}

export function agendaView() {
  markCurrentNav("nav-agenda");
  const params = new URLSearchParams(location.search);
  const local = wantsLocalTime(params);
  const zone = displayZone(params);
  const filters = {
    track: params.get("track") || "",
    room: params.get("room") || "",
    q: params.get("q") || "",
  };
  // Days are dates in the zone shown, so they change with the zone; a large
  // agenda comes one day at a time, by the event's own days.
  const days = state.large
    ? state.event.days.map((d) => d.date)
    : [...new Set(state.sessions.map((s) => dateIn(s.starts_at, zone)))];
  const today = dateIn(now(), state.event.timezone);
  const firstDay = days.includes(today) ? today : days[0];
  const day = days.includes(params.get("day")) ? params.get("day") : state.large ? firstDay : "";
  if (params.get("day") && !day) {
    params.delete("day");
    history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
  }

  const eventZone = state.event.timezone;
  const zoneChoice = h(
    "fieldset",
    { className: "zone" },
    h("legend", {}, "Show times in"),
    h(
      "label",
      {},
      h("input", { type: "radio", name: "tz", id: "tz-event", value: "event", checked: !local }),
      ` Event time (${zoneCity(eventZone)}, ${eventZone})`,
    ),
    h(
      "label",
      {},
      h("input", { type: "radio", name: "tz", id: "tz-local", value: "local", checked: local }),
      ` My time (${zoneCity(viewerZone)}, ${viewerZone})`,
    ),
  );
  const controls = h(
    "form",
    {
      className: "filters",
      role: "search",
      "aria-label": "Filter the agenda",
      onsubmit: (e) => e.preventDefault(),
    },
    select(
      "day",
      "Day",
      [...(state.large ? [] : [["", "All days"]]), ...days.map((d) => [d, longDate(d)])],
      day,
    ),
    select(
      "track",
      "Track",
      [["", "All tracks"], ...state.event.tracks.map((t) => [t.id, t.name])],
      filters.track,
    ),
    select(
      "room",
      "Room",
      [["", "All rooms"], ...state.event.rooms.map((r) => [r.id, r.name])],
      filters.room,
    ),
    h(
      "div",
      { className: "field grow" },
      h("label", { htmlFor: "q" }, "Search"),
      h("input", {
        type: "search",
        id: "q",
        name: "q",
        value: filters.q,
        placeholder: state.large
          ? "Title, abstract or speaker (this day)"
          : "Title, abstract or speaker",
        autocomplete: "off",
      }),
    ),
    zoneChoice,
  );

  // One status line for the whole view, so screen readers hear each new count.
  const summary = h("p", { className: "summary", role: "status", id: "agenda-summary" });
  const nowSlot = h("div", {});
  const dayList = h("div", {});
  const chosenSessions = () => state.sessions.filter((s) => matches(s, filters));
  const tick = () => {
    const moment = now();
    const running =
      Date.parse(state.event.starts_at) <= moment && moment < Date.parse(state.event.ends_at);
    nowSlot.replaceChildren(...(running ? [nowAndNext(chosenSessions(), moment, zone)] : []));
    return running;
  };
  const fill = () => {
    const chosenDay = controls.elements.namedItem("day").value;
    const byDay = new Map();
    for (const s of chosenSessions()) {
      const key = dateIn(s.starts_at, zone);
      const dayOf = state.large ? dateIn(s.starts_at, state.event.timezone) : key;
      if (chosenDay && dayOf !== chosenDay) continue;
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(s);
    }
    const count = [...byDay.values()].reduce((n, list) => n + list.length, 0);
    announce(
      summary,
      `${count} ${count === 1 ? "session" : "sessions"}, times in ${zoneCity(zone)} time (${zone}).`,
    );
    dayList.replaceChildren(...[...byDay].map(([date, list]) => dayGrid(date, list, zone)));
    tick();
  };
  const dayFailed = () => announce(summary, "This day could not be loaded; check your connection.");
  const update = () => {
    const p = new URLSearchParams(location.search);
    for (const name of ["day", "track", "room", "q"]) {
      const value = controls.elements.namedItem(name).value.trim();
      if (value) p.set(name, value);
      else p.delete(name);
    }
    const wantsLocal = controls.querySelector("input[name=tz]:checked")?.value === "local";
    localStorage.setItem(ZONE_KEY, wantsLocal ? "local" : "event");
    if (wantsLocal) p.set("tz", "local");
    else p.delete("tz");
    const query = p.toString();
    history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
    if (wantsLocal !== local) {
      // Another zone has other days: draw the view again, keeping focus.
      redraw(agendaView);
      return;
    }
    Object.assign(filters, {
      track: p.get("track") || "",
      room: p.get("room") || "",
      q: p.get("q") || "",
    });
    ensureDay(p.get("day")).then(fill, dayFailed);
  };
  let typing;
  controls.addEventListener("change", update);
  controls.elements.namedItem("q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(update, 150);
  });
  render("Agenda", [h("h1", {}, "Agenda"), controls, nowSlot, summary, dayList], { focus: false });
  if (state.large) announce(summary, "Loading the agenda of this day…");
  ensureDay(day).then(fill, dayFailed);
  // While the event runs, "now / next" follows the clock (not a preview's `?at=`).
  if (!params.get("at") && Date.now() < Date.parse(state.event.ends_at)) tickEveryMinute(tick);
}
