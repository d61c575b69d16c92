// The event form: name, zone, dates, venue, description, tracks, rooms and
// registration settings, with wall times entered in the event's zone.

import { ApiError, h, field, rfc3339ToWallTime, wallTimeToRfc3339 } from "/common.js";
import { state, call } from "/admin/client.js";
import { editorForm, input, lines, section } from "/admin/ui.js";
import { reload } from "/admin/admin.js";

export function eventSection() {
  const event = state.draft?.event ?? {
    name: "",
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    tracks: [],
    rooms: [],
    registration: { open: true, capacity: null, confirm_email: true, hold_minutes: 30 },
  };
  const zone = event.timezone;
  const registration = event.registration ?? { open: true, capacity: null };
  const form = editorForm(
    "event-form",
    [
      h(
        "div",
        { className: "row" },
        field("event-name", "Name", input("event-name", "name", event.name, { required: true })),
        field(
          "event-timezone",
          "Time zone (IANA)",
          input("event-timezone", "timezone", event.timezone, { required: true }),
        ),
      ),
      h(
        "div",
        { className: "row" },
        field(
          "event-starts",
          "Starts (event time)",
          input("event-starts", "starts_at", rfc3339ToWallTime(event.starts_at, zone), {
            type: "datetime-local",
            required: true,
          }),
        ),
        field(
          "event-ends",
          "Ends (event time)",
          input("event-ends", "ends_at", rfc3339ToWallTime(event.ends_at, zone), {
            type: "datetime-local",
            required: true,
          }),
        ),
      ),
      field("event-venue", "Venue", input("event-venue", "venue", event.venue)),
      field(
        "event-description",
        "Description",
        h("textarea", {
          id: "event-description",
          name: "description",
          value: event.description ?? "",
        }),
      ),
      h(
        "div",
        { className: "row" },
        field(
          "event-tracks",
          "Tracks",
          h("textarea", {
            id: "event-tracks",
            name: "tracks",
            value: event.tracks.map((t) => `${t.id}: ${t.name}`).join("\n"),
            "aria-describedby": "event-tracks-hint",
          }),
          "One per line: id: Name",
        ),
        field(
          "event-rooms",
          "Rooms",
          h("textarea", {
            id: "event-rooms",
            name: "rooms",
            value: event.rooms
              .map((r) => [r.id, r.name, r.capacity].filter((x) => x != null).join(": "))
              .join("\n"),
            "aria-describedby": "event-rooms-hint",
          }),
          "One per line: id: Name: seats (seats optional)",
        ),
      ),
      h(
        "fieldset",
        {},
        h("legend", {}, "Registration"),
        h(
          "div",
          { className: "field" },
          h(
            "label",
            {},
            h("input", {
              type: "checkbox",
              id: "registration-open",
              name: "registration.open",
              checked: registration.open,
            }),
            " Open for registration",
          ),
        ),
        h(
          "div",
          { className: "field" },
          h(
            "label",
            {},
            h("input", {
              type: "checkbox",
              id: "registration-confirm-email",
              name: "registration.confirm_email",
              // Absent in a draft means on, as the origin reads it.
              checked: registration.confirm_email !== false,
              "aria-describedby": "registration-confirm-email-hint",
            }),
            " Confirm each registration by email",
          ),
          h(
            "p",
            { className: "hint", id: "registration-confirm-email-hint" },
            "The form then answers every address alike, and a place is held until its owner opens the link emailed to it. It needs the origin's mail settings (mail_api_token, mail_from); without them the links stay in the Outbox below.",
          ),
        ),
        h(
          "div",
          { className: "row" },
          field(
            "registration-capacity",
            "Seats",
            input("registration-capacity", "registration.capacity", registration.capacity ?? "", {
              type: "number",
              min: "0",
              "aria-describedby": "registration-capacity-hint",
            }),
            "Empty means unlimited. Counts for registrations once published.",
          ),
          field(
            "registration-hold",
            "Hold unconfirmed for (minutes)",
            input(
              "registration-hold",
              "registration.hold_minutes",
              registration.hold_minutes ?? 30,
              {
                type: "number",
                min: "1",
                max: "10080",
              },
            ),
          ),
          field(
            "registration-opens",
            "Opens (event time, optional)",
            input(
              "registration-opens",
              "registration.opens_at",
              rfc3339ToWallTime(registration.opens_at, zone),
              { type: "datetime-local" },
            ),
          ),
          field(
            "registration-closes",
            "Closes (event time, optional)",
            input(
              "registration-closes",
              "registration.closes_at",
              rfc3339ToWallTime(registration.closes_at, zone),
              { type: "datetime-local" },
            ),
          ),
        ),
      ),
    ],
    async (f) => {
      const value = (name) => f.elements.namedItem(name).value.trim();
      const tz = value("timezone");
      try {
        new Intl.DateTimeFormat("en", { timeZone: tz });
      } catch {
        throw new ApiError(422, {
          detail: "The time zone is not one this browser knows.",
          errors: [
            {
              field: "timezone",
              message: `${tz || "(empty)"} is not an IANA time zone, such as Europe/Lisbon`,
            },
          ],
        });
      }
      const when = (name) => (value(name) ? wallTimeToRfc3339(value(name), tz) : undefined);
      const body = {
        name: value("name"),
        timezone: tz,
        starts_at: when("starts_at") ?? "",
        ends_at: when("ends_at") ?? "",
        venue: value("venue"),
        description: value("description"),
        tracks: lines(value("tracks")).map((line) => {
          const [id, ...name] = line.split(":");
          return { id: id.trim(), name: name.join(":").trim() };
        }),
        rooms: lines(value("rooms")).map((line) => {
          const [id, name = "", seats] = line.split(":").map((p) => p.trim());
          return seats ? { id, name, capacity: Number(seats) } : { id, name };
        }),
        registration: {
          open: f.elements.namedItem("registration.open").checked,
          capacity:
            value("registration.capacity") === "" ? null : Number(value("registration.capacity")),
          opens_at: when("registration.opens_at"),
          closes_at: when("registration.closes_at"),
          confirm_email: f.elements.namedItem("registration.confirm_email").checked,
          hold_minutes:
            value("registration.hold_minutes") === ""
              ? undefined
              : Number(value("registration.hold_minutes")),
        },
      };
      await call("", { method: "PUT", body });
      await reload("Event saved to the draft.");
    },
    state.draft ? "Save event" : "Create event",
  );
  return section("event-section", "Event", form);
}
