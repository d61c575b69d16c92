// Publishing the draft, rolling back to an earlier version, archiving the
// event, and watching the public edge until it serves the new version.

import { api, h, field } from "/common.js";
import { state, call } from "/admin/client.js";
import { editorForm, input, say, section } from "/admin/ui.js";
import { reload } from "/admin/admin.js";

const LIVE_WAIT_MS = 15_000;

/**
 * Polls the public edge until it serves `version`; tells `progress` while it
 * waits and returns what happened, with how long it took.
 */
async function watchEdge(version, started, progress) {
  progress(`Version ${version} saved. Waiting for the edge to serve it…`);
  for (;;) {
    try {
      const { headers } = await api(`/api/events/${encodeURIComponent(state.slug)}`, {
        cache: "no-store",
      });
      if (Number(headers.get("eventfront-version")) >= version) {
        return `Version ${version} is live on the ${headers.get("eventfront-edge")} edge (seen ${Date.now() - started} ms after the click).`;
      }
    } catch {
      // Keep waiting: the edge may be revalidating.
    }
    if (Date.now() - started > LIVE_WAIT_MS) {
      return `Version ${version} is published; this edge has not served it yet and will within its staleness window.`;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** ` Edges notified: …` for a publish, rollback or archive that told edges, else nothing. */
function edgesNotified(answer) {
  const edges = (answer.edges ?? [])
    .map((e) => `${e.edge} ${e.acknowledged ? "acknowledged" : e.outcome}`)
    .join(", ");
  return edges ? ` Edges notified: ${edges}.` : "";
}

/** After a publish or rollback: wait for the edge, then show the new state. */
async function announce(answer, started) {
  const live = await watchEdge(answer.version, started, say);
  await reload(`${live}${edgesNotified(answer)}`);
}

/** Archiving, or how to bring back an archived event; nothing before a first publish. */
function archiveForm() {
  if (!state.draft.published_version) return null;
  if (state.draft.archived) {
    return h(
      "p",
      { id: "archived-note", className: "notice" },
      "This event is archived: attendees cannot see it and registration is closed. Publish the draft to bring it back.",
    );
  }
  return editorForm(
    "archive-form",
    [
      h("h3", {}, "Archive"),
      h(
        "p",
        {},
        "Takes the event off the public list and every edge, and stops registration. Nothing is deleted; publishing again brings it back.",
      ),
      field("archive-note", "Note", input("archive-note", "note", "", { placeholder: "Why" })),
    ],
    async (f) => {
      if (!window.confirm(`Archive ${state.slug}? Attendees will no longer see it.`)) return;
      const { data } = await call("/archive", {
        method: "POST",
        body: { note: f.elements.note.value.trim() },
      });
      await reload(`Archived.${edgesNotified(data)}`);
    },
    "Archive the event",
  );
}

export function publishSection() {
  const publish = editorForm(
    "publish-form",
    [
      field(
        "publish-note",
        "Note for the changelog",
        input("publish-note", "note", "", { placeholder: "What changed" }),
      ),
    ],
    async (f) => {
      const started = Date.now();
      const { data } = await call("/publish", {
        method: "POST",
        body: { note: f.elements.note.value.trim() },
      });
      await announce(data, started);
    },
    "Publish the draft",
  );
  const versions = h("select", { id: "rollback-version", name: "version", disabled: true });
  const rollback = editorForm(
    "rollback-form",
    [
      h("h3", {}, "Roll back"),
      h(
        "p",
        {},
        "Publishes an earlier version's content as a new version, and resets the draft to it.",
      ),
      field("rollback-version", "Version", versions),
      field("rollback-note", "Note", input("rollback-note", "note", "", { placeholder: "Why" })),
    ],
    async (f) => {
      const started = Date.now();
      const body = {
        version: Number(f.elements.version.value),
        note: f.elements.note.value.trim(),
      };
      const { data } = await call("/rollback", { method: "POST", body });
      await announce(data, started);
    },
    "Roll back",
  );
  rollback.querySelector("button[type=submit]").disabled = true;
  const changelog = h("ol", { id: "changelog", reversed: true });
  api(`/api/events/${encodeURIComponent(state.slug)}/changelog`, { cache: "no-store" }).then(
    ({ data }) => {
      changelog.replaceChildren(
        ...data.changelog.map((c) =>
          h(
            "li",
            { value: c.version },
            `v${c.version} · ${c.published_at}${c.note ? ` · ${c.note}` : ""}`,
          ),
        ),
      );
      // Rolling back to the version being served would change nothing.
      const earlier = data.changelog.filter((c) => c.version !== state.draft.published_version);
      versions.replaceChildren(
        ...earlier.map((c) =>
          h("option", { value: c.version }, `Version ${c.version}${c.note ? ` — ${c.note}` : ""}`),
        ),
      );
      versions.disabled = earlier.length === 0;
      rollback.querySelector("button[type=submit]").disabled = earlier.length === 0;
    },
    () => changelog.replaceChildren(h("li", {}, "Nothing published yet.")),
  );
  return section(
    "publish-section",
    "Publish",
    publish,
    rollback,
    archiveForm(),
    h("h3", {}, "Published versions"),
    changelog,
  );
}
