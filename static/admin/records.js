// What attendees and organizers did: the registrations with their seats
// and waitlist (exportable as CSV), and the audit log.

import { h } from "/common.js";
import { state, call } from "/admin/client.js";
import { download, section, table } from "/admin/ui.js";

export function registrationsSection() {
  const summary = h("p", { id: "registration-summary" });
  const body = h("tbody", {});
  const refresh = async () => {
    try {
      const { data } = await call("/registrations");
      const seats = data.capacity == null ? "unlimited seats" : `${data.capacity} seats`;
      summary.textContent = `${seats} · ${data.confirmed} confirmed · ${data.waitlisted} waitlisted · ${data.cancelled} cancelled`;
      body.replaceChildren(
        ...data.registrations.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, r.name),
            h("td", {}, r.email),
            h("td", {}, r.status === "waitlisted" ? `waitlisted (#${r.position})` : r.status),
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

export function auditSection() {
  const body = h("tbody", {});
  const refresh = async () => {
    try {
      const { data } = await call("/audit");
      body.replaceChildren(
        ...data.entries.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, e.at),
            h("td", {}, e.actor),
            h("td", {}, e.action),
            h("td", {}, e.target ?? ""),
            h("td", {}, h("code", {}, JSON.stringify(e.detail))),
          ),
        ),
      );
    } catch (error) {
      body.replaceChildren(
        h("tr", {}, h("td", { colSpan: 5 }, `The audit log could not be loaded: ${error.message}`)),
      );
    }
  };
  refresh();
  return section(
    "audit-section",
    "Audit log",
    h(
      "p",
      {},
      h("button", { type: "button", className: "secondary", onclick: refresh }, "Refresh"),
    ),
    table("Audit log, newest first", ["At", "Who", "What", "Target", "Detail"], body, {
      id: "audit",
    }),
  );
}
