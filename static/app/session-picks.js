// Sessions with seats on a registration's manage page: each workshop of
// the event with where this registration stands in it (a seat, its place
// in line, or waiting for the registration's confirmation), and a button
// to pick or release it. Picks carry an Idempotency-Key, so a retry after
// a lost answer never takes back a seat given up since.

import { api, ApiError, h } from "/common.js";
import { withRetry } from "/forms.js";
import { spotText, pickWhen } from "/app/seats.js";
import { placesLeft } from "/app/cards.js";

/**
 * The section for `registration` (as the API shows it, with its
 * `sessions`), managed with `token`; `refresh()` reads the registration
 * again and returns it. The section's `update(registration)` redraws it.
 * The sessions to pick are those the event's live counts list; only they
 * are fetched, with the places left in each.
 */
export async function sessionPicks(registration, token, refresh) {
  const base = `/api/events/${encodeURIComponent(registration.event)}`;
  const counts = () => api(`${base}/seats`, { cache: "no-cache" }).then(({ data }) => data);
  let seats, event, bookable;
  try {
    [seats, { data: event }] = await Promise.all([counts(), api(base)]);
    const ids = Object.keys(seats?.sessions ?? {});
    if (!ids.length) return null;
    const { data } = await api(`${base}/sessions?sessions=${encodeURIComponent(ids.join(","))}`);
    bookable = data?.sessions ?? [];
  } catch {
    return null;
  }
  if (!bookable.length) return null;
  const zone = event?.timezone ?? "UTC";
  const list = h("ul", { className: "session-picks", id: "session-picks" });
  const message = h("p", { role: "status", id: "session-picks-message" });
  const live = () => ["pending", "confirmed", "waitlisted"].includes(registration.status);

  const act = async (session, method, button) => {
    button.disabled = true;
    message.textContent = "";
    const key = crypto.randomUUID();
    try {
      await withRetry(() =>
        api(
          `/api/registrations/${encodeURIComponent(registration.id)}/sessions/${encodeURIComponent(session.id)}`,
          { method, token, headers: { "idempotency-key": key } },
        ),
      );
      registration = await refresh();
      // The counts follow within a second or so; a failure keeps the last.
      seats = (await counts().catch(() => null)) ?? seats;
      draw();
      document.getElementById(`pick-${session.id}`)?.focus();
    } catch (error) {
      message.textContent =
        error instanceof ApiError ? error.message : "That did not work; please try again.";
      button.disabled = false;
    }
  };

  const draw = () => {
    const picks = new Map((registration.sessions ?? []).map((p) => [p.session, p]));
    list.replaceChildren(
      ...bookable.map((session) => {
        const pick = picks.get(session.id);
        const button = h(
          "button",
          {
            type: "button",
            id: `pick-${session.id}`,
            className: pick ? "danger" : "",
            "aria-label": `${pick ? "Release" : "Pick"} “${session.title}”`,
          },
          pick ? "Release" : "Pick",
        );
        button.addEventListener("click", () => act(session, pick ? "DELETE" : "POST", button));
        button.disabled = !live();
        const when = pickWhen(session, zone);
        return h(
          "li",
          { dataset: { session: session.id, spot: pick?.spot ?? "none" } },
          h("p", {}, h("strong", {}, session.title)),
          h(
            "p",
            { className: "meta" },
            `${when} · ${placesLeft(session, seats.sessions[session.id])}`,
          ),
          pick ? h("p", { className: "spot" }, spotText(pick)) : null,
          button,
        );
      }),
    );
  };
  draw();
  const section = h(
    "section",
    { "aria-labelledby": "session-picks-title" },
    h("h2", { id: "session-picks-title" }, "Workshops and limited sessions"),
    h(
      "p",
      { className: "meta" },
      "These sessions have fewer places than the event: pick the ones you want to attend.",
    ),
    list,
    message,
  );
  // The registration changed elsewhere on the page (cancelled).
  section.update = (changed) => {
    registration = changed;
    draw();
  };
  return section;
}
