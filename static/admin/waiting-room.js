// The event's waiting room, for organizers: open one in front of
// registration, watch the crowd (arrived, admitted, waiting) and when each
// band of those waiting is expected in (the ETA curve), change the rate
// while it runs, pause and resume admission, or remove the room
// (docs/api.md, "Waiting room"). Reading needs `read_registrations`;
// changing it, `manage_registrations`.

import { ApiError, h, field, dateIn, rfc3339ToWallTime, wallTimeToRfc3339 } from "/common.js";
import { state, call, may } from "/admin/client.js";
import { editorForm, input, say, section, table } from "/admin/ui.js";

// While the room admits, its figures move each second; a glance every few
// seconds is enough for a person watching, and light for the origin.
const REFRESH_MS = 5_000;

const STATES = {
  not_open: "Not open yet: tickets issue from the start of the pre-queue",
  prequeue: "Pre-queue: tickets issue and are drawn by lot",
  admitting: "Admitting",
  paused: "Paused: nobody more is admitted, every place is kept",
};

const count = (n) => n.toLocaleString("en");

/** The room's zone: the event's, else this browser's. */
const zone = () => state.draft?.event?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;

/** `10:04:31` in the event's zone. */
const timeOfDay = (at) =>
  new Intl.DateTimeFormat("en-GB", {
    timeZone: zone(),
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).format(at);

/** `10:04:31`, or `2027-06-08 10:04:31` when not today, in the event's zone. */
function when(instant) {
  const at = Date.parse(instant);
  const date = dateIn(at, zone());
  return date === dateIn(Date.now(), zone()) ? timeOfDay(at) : `${date} ${timeOfDay(at)}`;
}

/** The room's figures in a line: state, crowd, rate, and the origin's last shed. */
function summary(room) {
  const rate =
    room.pace === "decided"
      ? `${count(room.admitting_per_minute)} a minute as the origin decides (at most ${count(room.per_minute)})`
      : `${count(room.per_minute)} a minute`;
  return [
    STATES[room.state] ?? room.state,
    `${count(room.arrivals)} arrived`,
    `${count(room.admitted)} admitted (tickets through ${when(room.admitted_through)})`,
    `${count(room.waiting)} waiting`,
    rate,
    room.lag_ms > 2000
      ? `${(room.lag_ms / 1000).toFixed(1)} s behind the clock while edges report late`
      : null,
    room.shed_at
      ? `the origin last turned a registration away (busy) at ${when(room.shed_at)}`
      : null,
  ]
    .filter(Boolean)
    .join(" · ");
}

/** The ETA curve: each band of those waiting, how many, and when its last is expected in. */
function curveRows(room) {
  if (!room.bands.length) return [h("tr", {}, h("td", { colSpan: 3 }, "Nobody is waiting."))];
  const most = Math.max(1, ...room.bands.map((b) => b.waiting));
  return room.bands.map((band) =>
    h(
      "tr",
      {},
      h("td", {}, `${when(band.from)} – ${timeOfDay(Date.parse(band.until))}`),
      h(
        "td",
        { className: "band" },
        h("span", {
          className: "bar",
          "aria-hidden": "true",
          style: `width: ${Math.max(1, Math.round((band.waiting / most) * 8))}rem`,
        }),
        count(band.waiting),
      ),
      h("td", {}, band.admitted_by ? when(band.admitted_by) : "paused"),
    ),
  );
}

/** The settings form: opens the room, or changes it (the rate applies within a second). */
function settingsForm(room, show) {
  const fields = [
    h(
      "div",
      { className: "row" },
      field(
        "room-opens",
        `Admission starts (${zone()})`,
        input("room-opens", "opens_at", rfc3339ToWallTime(room?.opens_at, zone()), {
          type: "datetime-local",
          required: true,
        }),
      ),
      field(
        "room-rate",
        "People admitted per minute (at most)",
        input("room-rate", "per_minute", room?.per_minute ?? 600, {
          type: "number",
          min: "1",
          max: "1000000",
          required: true,
          "aria-describedby": "room-rate-hint",
        }),
        "Set it to what the event can take; a change applies within a second.",
      ),
      field(
        "room-pace",
        "Pace",
        h(
          "select",
          { id: "room-pace", name: "pace" },
          h("option", { value: "rate", selected: room?.pace !== "decided" }, "At that rate"),
          h(
            "option",
            { value: "decided", selected: room?.pace === "decided" },
            "As fast as the origin decides, up to that rate",
          ),
        ),
      ),
    ),
    h(
      "div",
      { className: "row" },
      field(
        "room-prequeue",
        "Pre-queue (minutes before)",
        input("room-prequeue", "prequeue_minutes", room?.prequeue_minutes ?? 15, {
          type: "number",
          min: "0",
          max: "120",
          "aria-describedby": "room-prequeue-hint",
        }),
        "Those who come early are placed by lot.",
      ),
      field(
        "room-window",
        "Minutes an admitted person may register",
        input("room-window", "admitted_for_minutes", room?.admitted_for_minutes ?? 10, {
          type: "number",
          min: "1",
          max: "30",
        }),
      ),
    ),
  ];
  return editorForm(
    "waiting-room-form",
    fields,
    async (f) => {
      const value = (name) => f.elements.namedItem(name).value.trim();
      const number = (name) => (value(name) === "" ? undefined : Number(value(name)));
      if (!value("opens_at")) {
        throw new ApiError(422, {
          detail: "The room needs the time admission starts.",
          errors: [{ field: "opens_at", message: "is required" }],
        });
      }
      const saved = await put({
        opens_at: wallTimeToRfc3339(value("opens_at"), zone()),
        per_minute: number("per_minute"),
        prequeue_minutes: number("prequeue_minutes"),
        admitted_for_minutes: number("admitted_for_minutes"),
        pace: value("pace"),
        paused: room?.paused ?? false,
      });
      show(saved);
      say(
        room ? "Waiting room saved." : "The waiting room is open: registration now needs a turn.",
      );
    },
    room ? "Save the room" : "Open a waiting room",
  );
}

async function put(settings) {
  const { data } = await call("/waiting-room", { method: "PUT", body: settings });
  return data;
}

/** The settings a PUT keeps unchanged, from a room as GET shows it. */
const settingsOf = (room) => ({
  opens_at: room.opens_at,
  per_minute: room.per_minute,
  prequeue_minutes: room.prequeue_minutes,
  admitted_for_minutes: room.admitted_for_minutes,
  pace: room.pace,
  paused: room.paused,
});

export function waitingRoomSection() {
  const manages = may("manage_registrations");
  const figures = h("p", { id: "waiting-room-figures" });
  const curve = h("tbody", {});
  const controls = h("div", { id: "waiting-room-controls" });
  let timer = null;

  const show = (room) => {
    clearTimeout(timer);
    if (!room) {
      figures.textContent = "No waiting room: registration is open to everyone at once.";
      curve.replaceChildren();
      controls.replaceChildren(manages ? settingsForm(null, show) : "");
      return;
    }
    figures.textContent = summary(room);
    curve.replaceChildren(...curveRows(room));
    controls.replaceChildren(
      ...(manages ? [actions(room), h("h3", {}, "Settings"), settingsForm(room, show)] : []),
    );
    // Watched while it moves, and only while the page shows it.
    if (room.state !== "paused") {
      timer = setTimeout(() => figures.isConnected && refresh(), REFRESH_MS);
    }
  };

  const refresh = async () => {
    try {
      const { data } = await call("/waiting-room");
      show(data);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) show(null);
      else figures.textContent = `The waiting room could not be loaded: ${error.message}`;
    }
  };

  /** Pause or resume, and remove (asked twice). */
  const actions = (room) => {
    const change = async (button, act) => {
      button.disabled = true;
      try {
        await act();
      } catch (error) {
        button.disabled = false;
        say(`The waiting room was not changed: ${error.message}`);
      }
    };
    const pause = h(
      "button",
      { type: "button", id: "waiting-room-pause" },
      room.paused ? "Resume admission" : "Pause admission",
    );
    pause.addEventListener("click", () =>
      change(pause, async () => {
        show(await put({ ...settingsOf(room), paused: !room.paused }));
        say(room.paused ? "Admission resumed." : "Admission paused; every place is kept.");
      }),
    );
    const remove = h(
      "button",
      { type: "button", id: "waiting-room-remove", className: "danger" },
      "Remove the room",
    );
    remove.addEventListener("click", () => {
      if (remove.dataset.armed !== "yes") {
        remove.dataset.armed = "yes";
        remove.textContent = "Really let everyone register at once?";
        return;
      }
      change(remove, async () => {
        await call("/waiting-room", { method: "DELETE" });
        show(null);
        say("The waiting room is removed: registration is open to everyone.");
      });
    });
    return h(
      "div",
      { className: "actions" },
      pause,
      h("button", { type: "button", className: "secondary", onclick: refresh }, "Refresh"),
      remove,
    );
  };

  refresh();
  return section(
    "waiting-room-section",
    "Waiting room",
    figures,
    table(
      "Those waiting, by the time on their tickets, and when each band is expected in",
      ["Tickets stamped", "Waiting", "Expected in by"],
      curve,
      { id: "waiting-room-curve" },
    ),
    controls,
  );
}
