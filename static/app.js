// The agenda of a published event, read from the edge's API (see API.md).
"use strict";

const $ = (id) => document.getElementById(id);

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return { body: await response.json(), headers: response.headers };
}

function localTime(iso) {
  // The API renders times in the event's zone; show them as written there.
  return iso.slice(11, 16);
}

async function showEvent(slug) {
  const [{ body: event }, { body: agenda, headers }] = await Promise.all([
    getJson(`/api/events/${encodeURIComponent(slug)}`),
    getJson(`/api/events/${encodeURIComponent(slug)}/sessions`),
  ]);
  $("event-name").textContent = event.name;
  $("event-meta").textContent = `${event.venue} · times in ${event.timezone}`;
  const stale = headers.get("eventfront-stale") === "1";
  const freshness = $("freshness");
  freshness.textContent = `Agenda version ${headers.get("eventfront-version")} from edge ${headers.get("eventfront-edge")}` +
    (stale ? " — the organizer's server is unreachable, this copy may be out of date" : "");
  freshness.className = stale ? "stale" : "";
  const rooms = Object.fromEntries(event.rooms.map((r) => [r.id, r.name]));
  const days = new Map();
  for (const session of agenda.sessions) {
    const day = session.starts_at.slice(0, 10);
    if (!days.has(day)) days.set(day, []);
    days.get(day).push(session);
  }
  const root = $("agenda");
  root.replaceChildren();
  for (const [day, sessions] of days) {
    const heading = document.createElement("h2");
    heading.textContent = day;
    const list = document.createElement("ol");
    for (const s of sessions) {
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.dateTime = s.starts_at;
      time.textContent = `${localTime(s.starts_at)}–${localTime(s.ends_at)}`;
      const title = document.createElement("strong");
      title.textContent = s.title;
      const where = document.createElement("span");
      where.className = "where";
      where.textContent = s.room ? ` · ${rooms[s.room] || s.room}` : "";
      item.append(time, title, where);
      list.append(item);
    }
    root.append(heading, list);
  }
}

async function main() {
  const { body } = await getJson("/api/events");
  const select = $("event");
  for (const e of body.events) {
    select.append(new Option(e.name, e.slug));
  }
  select.addEventListener("change", () => showEvent(select.value));
  if (body.events.length) await showEvent(body.events[0].slug);
}

main().catch((error) => {
  $("freshness").textContent = `The agenda could not be loaded (${error.message}).`;
});
