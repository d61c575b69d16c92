// The draft's sessions: a table of them, and, for those whose roles let
// them edit the draft, a form to add, edit or delete one.

import { h, field, clock, dateIn, rfc3339ToWallTime, wallTimeToRfc3339 } from "/common.js";
import { state, may } from "/admin/client.js";
import { editorForm, input, itemActions, saveItem, section, table } from "/admin/ui.js";

export function sessionsSection() {
  const { event, sessions, speakers } = state.draft;
  const zone = event.timezone;
  const edits = may("edit_draft");
  const editor = h("div", { id: "session-editor" });
  const open = (session) => {
    editor.replaceChildren(sessionForm(session));
    editor.querySelector("input, textarea")?.focus();
  };
  const rows = sessions.map((s) =>
    h(
      "tr",
      {},
      h(
        "td",
        {},
        `${dateIn(s.starts_at, zone)} ${clock(s.starts_at, zone)}–${clock(s.ends_at, zone)}`,
      ),
      h("td", {}, s.title),
      h("td", {}, s.room ?? ""),
      edits
        ? h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                className: "secondary",
                "aria-label": `Edit “${s.title}”`,
                dataset: { edit: s.id },
                onclick: () => open(s),
              },
              "Edit",
            ),
          )
        : null,
    ),
  );
  return section(
    "sessions-section",
    `Sessions (${sessions.length})`,
    edits
      ? h(
          "p",
          {},
          h(
            "button",
            { type: "button", id: "new-session", onclick: () => open(null) },
            "New session",
          ),
        )
      : null,
    editor,
    table(
      "Sessions in the draft",
      ["When (event time)", "Title", "Room", ...(edits ? [""] : [])],
      h("tbody", {}, rows),
    ),
  );

  function sessionForm(session) {
    const s = session ?? {
      id: "",
      title: "",
      abstract: "",
      starts_at: event.starts_at,
      ends_at: event.starts_at,
      speakers: [],
      tags: [],
      links: {},
    };
    const choice = (list, current) => [
      h("option", { value: "" }, "—"),
      ...list.map((x) => h("option", { value: x.id, selected: x.id === current }, x.name)),
    ];
    const form = editorForm(
      "session-form",
      [
        h("h3", {}, session ? `Edit “${session.title}”` : "New session"),
        h(
          "div",
          { className: "row" },
          field(
            "session-id",
            "Id (in the address)",
            input("session-id", "id", s.id, {
              required: true,
              readOnly: Boolean(session),
              pattern: "[a-z0-9][a-z0-9-]{0,63}",
            }),
          ),
          field(
            "session-title",
            "Title",
            input("session-title", "title", s.title, { required: true }),
          ),
        ),
        h(
          "div",
          { className: "row" },
          field(
            "session-starts",
            `Starts (${zone})`,
            input("session-starts", "starts_at", rfc3339ToWallTime(s.starts_at, zone), {
              type: "datetime-local",
              required: true,
            }),
          ),
          field(
            "session-ends",
            `Ends (${zone})`,
            input("session-ends", "ends_at", rfc3339ToWallTime(s.ends_at, zone), {
              type: "datetime-local",
              required: true,
            }),
          ),
        ),
        h(
          "div",
          { className: "row" },
          field(
            "session-track",
            "Track",
            h("select", { id: "session-track", name: "track" }, choice(event.tracks, s.track)),
          ),
          field(
            "session-room",
            "Room",
            h("select", { id: "session-room", name: "room" }, choice(event.rooms, s.room)),
          ),
        ),
        field(
          "session-speakers",
          "Speakers",
          h(
            "select",
            { id: "session-speakers", name: "speakers", multiple: true, size: 6 },
            speakers.map((sp) =>
              h("option", { value: sp.id, selected: s.speakers.includes(sp.id) }, sp.name),
            ),
          ),
        ),
        field(
          "session-abstract",
          "Abstract",
          h("textarea", { id: "session-abstract", name: "abstract", value: s.abstract ?? "" }),
        ),
        field(
          "session-tags",
          "Tags",
          input("session-tags", "tags", (s.tags ?? []).join(", "), {
            "aria-describedby": "session-tags-hint",
          }),
          "Separated by commas.",
        ),
        h(
          "div",
          { className: "row" },
          ["live", "recording", "slides"].map((kind) =>
            field(
              `session-link-${kind}`,
              `${kind[0].toUpperCase()}${kind.slice(1)} link`,
              input(`session-link-${kind}`, `links.${kind}`, s.links?.[kind] ?? "", {
                type: "url",
              }),
            ),
          ),
        ),
      ],
      async (f) => {
        const value = (name) => f.elements.namedItem(name).value.trim();
        const links = Object.fromEntries(
          ["live", "recording", "slides"].map((k) => [k, value(`links.${k}`)]).filter(([, v]) => v),
        );
        const body = {
          title: value("title"),
          abstract: value("abstract"),
          starts_at: value("starts_at") ? wallTimeToRfc3339(value("starts_at"), zone) : "",
          ends_at: value("ends_at") ? wallTimeToRfc3339(value("ends_at"), zone) : "",
          track: value("track") || null,
          room: value("room") || null,
          speakers: [...f.elements.namedItem("speakers").selectedOptions].map((o) => o.value),
          tags: value("tags")
            .split(",")
            .map((t) => t.trim())
            .filter(Boolean),
          links,
        };
        await saveItem("session", value("id"), body, {
          isNew: !session,
          items: sessions,
          usedBy: (taken) => `is already used by “${taken.title}”; edit that session instead`,
          saved: `Session “${body.title}” saved to the draft.`,
        });
      },
      "Save session",
    );
    return itemActions(
      form,
      editor,
      session && [`/sessions/${encodeURIComponent(session.id)}`, `session “${session.title}”`],
    );
  }
}
