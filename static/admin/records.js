// What attendees and organizers did: the registrations with their seats
// and waitlist (exportable as CSV), the audit log, and the outbox of
// messages to registrants.

import { h } from "/common.js";
import { state, call } from "/admin/client.js";
import { download, say, section, table } from "/admin/ui.js";

// A held registration shows whether it holds a seat or its place in line.
const statusCell = (r) =>
  r.status === "waitlisted"
    ? `waitlisted (#${r.position})`
    : r.status === "pending"
      ? `awaiting confirmation until ${r.hold_expires_at}, ${r.position ? `in line (#${r.position})` : "seat held"}`
      : r.status;

export function registrationsSection() {
  const summary = h("p", { id: "registration-summary" });
  const body = h("tbody", {});
  const refresh = async () => {
    try {
      const { data } = await call("/registrations");
      const seats = data.capacity == null ? "unlimited seats" : `${data.capacity} seats`;
      const held = data.pending ? ` · ${data.pending} awaiting email confirmation` : "";
      const expired = data.expired ? ` · ${data.expired} expired` : "";
      summary.textContent = `${seats} · ${data.confirmed} confirmed · ${data.waitlisted} waitlisted${held} · ${data.cancelled} cancelled${expired}`;
      body.replaceChildren(
        ...data.registrations.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, r.name),
            h("td", {}, r.email),
            h("td", {}, statusCell(r)),
            h("td", {}, r.created_at),
          ),
        ),
      );
    } catch (error) {
      summary.textContent = `Registrations could not be loaded: ${error.message}`;
    }
  };
  const csv = async () => {
    try {
      const { data } = await call("/registrations", { accept: "text/csv" });
      download(`${state.slug}-registrations.csv`, "text/csv", data);
    } catch (error) {
      summary.textContent = `The export failed: ${error.message}`;
    }
  };
  refresh();
  return section(
    "registrations-section",
    "Registrations",
    summary,
    h(
      "div",
      { className: "actions" },
      h("button", { type: "button", id: "export-csv", onclick: csv }, "Export as CSV"),
      h("button", { type: "button", className: "secondary", onclick: refresh }, "Refresh"),
    ),
    table("Registrations, oldest first", ["Name", "Email", "Status", "Registered at"], body),
  );
}

/** A section listing what `path` answers, newest first, with a refresh;
 * `rows(data, refresh)` draws them. */
function listSection({ id, title, path, headers, rows }) {
  const body = h("tbody", {});
  const refresh = async () => {
    try {
      const { data } = await call(path);
      body.replaceChildren(...rows(data, refresh));
    } catch (error) {
      body.replaceChildren(
        h(
          "tr",
          {},
          h(
            "td",
            { colSpan: headers.length },
            `The ${title.toLowerCase()} could not be loaded: ${error.message}`,
          ),
        ),
      );
    }
  };
  refresh();
  return section(
    `${id}-section`,
    title,
    h(
      "p",
      {},
      h("button", { type: "button", className: "secondary", onclick: refresh }, "Refresh"),
    ),
    table(`${title}, newest first`, headers, body, { id }),
  );
}

export function auditSection() {
  return listSection({
    id: "audit",
    title: "Audit log",
    path: "/audit",
    headers: ["At", "Who", "From", "What", "Target", "Detail"],
    rows: (data) =>
      data.entries.map((e) =>
        h(
          "tr",
          {},
          h("td", {}, e.at),
          h("td", {}, e.actor),
          h("td", {}, e.address ?? ""),
          h("td", {}, e.action),
          h("td", {}, e.target ?? ""),
          h("td", {}, h("code", {}, JSON.stringify(e.detail))),
        ),
      ),
  });
}

// Every message written to registrants with its delivery state ("development"
// when no mail provider is configured), its text, and its confirm or manage
// link to follow as the registrant would; any can be sent again.
export function outboxSection() {
  return listSection({
    id: "outbox",
    title: "Outbox",
    path: "/outbox",
    headers: ["At", "To", "What", "Message", "State"],
    rows: (data, refresh) =>
      data.messages.map((m) =>
        h(
          "tr",
          {},
          h("td", {}, m.created_at),
          h("td", {}, m.to),
          h("td", {}, m.kind),
          h(
            "td",
            {},
            h(
              "details",
              {},
              h("summary", {}, m.subject),
              h(
                "pre",
                { className: "message" },
                m.text ??
                  "Not shown: the text holds the registrant's own link, so it is shown only while mail stays here (no mail provider configured).",
              ),
              m.links.confirm
                ? h(
                    "a",
                    { href: m.links.confirm, className: "confirm-link" },
                    "Open the confirm link",
                  )
                : null,
              m.links.manage ? h("a", { href: m.links.manage }, "Open the manage link") : null,
            ),
          ),
          h(
            "td",
            {},
            m.state === "failed" ? `failed (${m.last_error})` : m.state,
            " ",
            h(
              "button",
              {
                type: "button",
                className: "secondary",
                "aria-label": `Send “${m.subject}” to ${m.to} again`,
                onclick: (click) => resend(m, click.target, refresh),
              },
              "Send again",
            ),
          ),
        ),
      ),
  });
}

/** Sends message `m` again as a new message, then shows the outbox anew. */
async function resend(m, button, refresh) {
  button.disabled = true;
  try {
    await call(`/outbox/${encodeURIComponent(m.id)}/resend`, { method: "POST" });
    say(`“${m.subject}” will be sent to ${m.to} again.`);
    await refresh();
  } catch (error) {
    say(`The message could not be sent again: ${error.message}`);
    button.disabled = false;
  }
}
