// The organizer page: sign in with the admin token, edit the draft (event,
// tracks, rooms, sessions, speakers) or import it whole, publish or roll
// back and watch the version go live on the edge, read registrations and
// the audit log. Everything goes through the organizer API (shared/API.md);
// the token lives in this tab's sessionStorage only.

import { api, ApiError, h, showFieldErrors, clearFieldErrors, clock, dateIn, wallTimeToRfc3339, rfc3339ToWallTime } from "/common.js";

const main = document.getElementById("main");
const statusLine = document.getElementById("admin-status");
const SIGN_IN_KEY = "eventfront:organizer";
const LIVE_WAIT_MS = 15_000;

const state = { token: null, slug: null, draft: null };

const adminPath = (rest = "") => `/api/admin/events/${encodeURIComponent(state.slug)}${rest}`;
const call = (rest, options = {}) => api(adminPath(rest), { token: state.token, cache: "no-store", ...options });

function say(text) {
  statusLine.textContent = text;
}

function field(id, label, input, hint) {
  return h("div", { className: "field" }, h("label", { htmlFor: id }, label), hint ? h("p", { className: "hint", id: `${id}-hint` }, hint) : null, input);
}

function input(id, name, value = "", attributes = {}) {
  return h("input", { id, name, value: value ?? "", ...attributes });
}

/** Shows a refused write: field messages by their inputs, the rest in `box`. */
function showProblem(form, box, error) {
  box.replaceChildren();
  if (error instanceof ApiError && error.status === 401) {
    signOut("The token was refused; sign in again.");
    return;
  }
  const unmatched = error instanceof ApiError ? showFieldErrors(form, error.fieldErrors) : [];
  const why = error instanceof ApiError ? error.message : "The server could not be reached.";
  box.append(h("p", { className: "error" }, why));
  if (unmatched.length) box.append(h("ul", { className: "error" }, unmatched.map((e) => h("li", {}, `${e.field}: ${e.message}`))));
}

/** A form whose submit runs `save(form)` with errors shown by field. */
function editorForm(id, children, save, submitLabel) {
  const box = h("div", { className: "form-error", role: "alert", id: `${id}-error` });
  const form = h("form", { id, noValidate: true }, children, h("div", { className: "actions" }, h("button", { type: "submit" }, submitLabel)), box);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    box.replaceChildren();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await save(form);
    } catch (error) {
      showProblem(form, box, error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// ---------------------------------------------------------------- sign in

function signOut(why = "") {
  sessionStorage.removeItem(SIGN_IN_KEY);
  Object.assign(state, { token: null, draft: null });
  document.getElementById("sections").hidden = true;
  signInView(why);
}
document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));

async function signInView(why = "") {
  say(why);
  let events = [];
  try {
    ({ data: { events } } = await api("/api/events"));
  } catch {
    // The list only suggests slugs; signing in works without it.
  }
  const form = editorForm("sign-in", [
    field("token", "Organizer token", input("token", "token", "", { type: "password", autocomplete: "current-password", required: true })),
    field("slug", "Event", input("slug", "slug", state.slug || events[0]?.slug || "", { list: "known-events", required: true, "aria-describedby": "slug-hint" }),
      "The event's short name in its address; a new one starts a new event."),
    h("datalist", { id: "known-events" }, events.map((e) => h("option", { value: e.slug }, e.name))),
  ], async (f) => {
    state.token = f.elements.token.value.trim();
    state.slug = f.elements.slug.value.trim();
    if (!state.token) throw new ApiError(422, { detail: "Enter the organizer token.", errors: [{ field: "token", message: "is required" }] });
    try {
      await loadDraft();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        // Not 401: that would sign out, and this form is where a refusal is shown.
        throw new ApiError(403, { detail: "That token was refused.", errors: [{ field: "token", message: "was refused by the server" }] });
      }
      throw error;
    }
    sessionStorage.setItem(SIGN_IN_KEY, JSON.stringify({ token: state.token, slug: state.slug }));
    dashboard();
  }, "Sign in");
  main.replaceChildren(h("h1", {}, "Organizer sign-in"), form);
  document.title = "Organizer sign-in · Eventfront";
  form.elements.token.focus();
}

/** The draft, or `null` when the event has none yet. */
async function loadDraft() {
  try {
    ({ data: state.draft } = await call("/draft"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      // No draft yet: the audit log answers for any event, so it checks the token.
      await call("/audit");
      state.draft = null;
      return;
    }
    throw error;
  }
}

// ---------------------------------------------------------------- the page

function dashboard() {
  document.getElementById("sections").hidden = false;
  const draft = state.draft;
  say(draft
    ? `Editing the draft of ${state.slug}. Published version: ${draft.published_version || "none yet"}.`
    : `${state.slug} has no draft yet: fill in the event to create it.`);
  main.replaceChildren(
    h("h1", {}, draft ? draft.event.name : `New event ${state.slug}`),
    eventSection(),
    draft ? sessionsSection() : null,
    draft ? speakersSection() : null,
    importSection(),
    draft ? publishSection() : null,
    draft ? registrationsSection() : null,
    draft ? auditSection() : null,
  );
  document.title = `${state.slug} · Organizer · Eventfront`;
}

/** Shows the draft again after a change, keeping the place and the focus. */
async function reload(message) {
  const focusedId = document.activeElement?.id;
  await loadDraft();
  const scroll = scrollY;
  dashboard();
  scrollTo(0, scroll);
  say(message);
  (document.getElementById(focusedId) ?? statusLine).focus({ preventScroll: true });
}

function section(id, title, ...children) {
  return h("section", { id, "aria-labelledby": `${id}-heading` }, h("h2", { id: `${id}-heading` }, title), ...children);
}

// ---------------------------------------------------------------- event, tracks, rooms

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

function eventSection() {
  const event = state.draft?.event ?? { name: "", timezone: Intl.DateTimeFormat().resolvedOptions().timeZone, tracks: [], rooms: [], registration: { open: true, capacity: null } };
  const zone = event.timezone;
  const registration = event.registration ?? { open: true, capacity: null };
  const form = editorForm("event-form", [
    h("div", { className: "row" },
      field("event-name", "Name", input("event-name", "name", event.name, { required: true })),
      field("event-timezone", "Time zone (IANA)", input("event-timezone", "timezone", event.timezone, { required: true }))),
    h("div", { className: "row" },
      field("event-starts", "Starts (event time)", input("event-starts", "starts_at", rfc3339ToWallTime(event.starts_at, zone), { type: "datetime-local", required: true })),
      field("event-ends", "Ends (event time)", input("event-ends", "ends_at", rfc3339ToWallTime(event.ends_at, zone), { type: "datetime-local", required: true }))),
    field("event-venue", "Venue", input("event-venue", "venue", event.venue)),
    field("event-description", "Description", h("textarea", { id: "event-description", name: "description", value: event.description ?? "" })),
    h("div", { className: "row" },
      field("event-tracks", "Tracks", h("textarea", { id: "event-tracks", name: "tracks", value: event.tracks.map((t) => `${t.id}: ${t.name}`).join("\n"), "aria-describedby": "event-tracks-hint" }),
        "One per line: id: Name"),
      field("event-rooms", "Rooms", h("textarea", { id: "event-rooms", name: "rooms", value: event.rooms.map((r) => [r.id, r.name, r.capacity].filter((x) => x != null).join(": ")).join("\n"), "aria-describedby": "event-rooms-hint" }),
        "One per line: id: Name: seats (seats optional)")),
    h("fieldset", {},
      h("legend", {}, "Registration"),
      h("div", { className: "field" }, h("label", {}, h("input", { type: "checkbox", id: "registration-open", name: "registration.open", checked: registration.open }), " Open for registration")),
      h("div", { className: "row" },
        field("registration-capacity", "Seats", input("registration-capacity", "registration.capacity", registration.capacity ?? "", { type: "number", min: "0", "aria-describedby": "registration-capacity-hint" }), "Empty means unlimited. Counts for registrations once published."),
        field("registration-opens", "Opens (event time, optional)", input("registration-opens", "registration.opens_at", rfc3339ToWallTime(registration.opens_at, zone), { type: "datetime-local" })),
        field("registration-closes", "Closes (event time, optional)", input("registration-closes", "registration.closes_at", rfc3339ToWallTime(registration.closes_at, zone), { type: "datetime-local" })))),
  ], async (f) => {
    const value = (name) => f.elements.namedItem(name).value.trim();
    const tz = value("timezone");
    try {
      new Intl.DateTimeFormat("en", { timeZone: tz });
    } catch {
      throw new ApiError(422, { detail: "The time zone is not one this browser knows.", errors: [{ field: "timezone", message: `${tz || "(empty)"} is not an IANA time zone, such as Europe/Lisbon` }] });
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
        capacity: value("registration.capacity") === "" ? null : Number(value("registration.capacity")),
        opens_at: when("registration.opens_at"),
        closes_at: when("registration.closes_at"),
      },
    };
    await call("", { method: "PUT", body });
    await reload("Event saved to the draft.");
  }, state.draft ? "Save event" : "Create event");
  return section("event-section", "Event", form);
}

// ---------------------------------------------------------------- sessions

function sessionsSection() {
  const { event, sessions, speakers } = state.draft;
  const zone = event.timezone;
  const editor = h("div", { id: "session-editor" });
  const open = (session) => {
    editor.replaceChildren(sessionForm(session));
    editor.querySelector("input, textarea")?.focus();
  };
  const rows = sessions.map((s) => h("tr", {},
    h("td", {}, `${dateIn(s.starts_at, zone)} ${clock(s.starts_at, zone)}–${clock(s.ends_at, zone)}`),
    h("td", {}, s.title),
    h("td", {}, s.room ?? ""),
    h("td", {}, h("button", { type: "button", className: "secondary", "aria-label": `Edit “${s.title}”`, dataset: { edit: s.id }, onclick: () => open(s) }, "Edit"))));
  return section("sessions-section", `Sessions (${sessions.length})`,
    h("p", {}, h("button", { type: "button", id: "new-session", onclick: () => open(null) }, "New session")),
    editor,
    h("div", { className: "table-wrap" }, h("table", {},
      h("caption", { className: "visually-hidden" }, "Sessions in the draft"),
      h("thead", {}, h("tr", {}, ["When (event time)", "Title", "Room", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))));

  function sessionForm(session) {
    const s = session ?? { id: "", title: "", abstract: "", starts_at: event.starts_at, ends_at: event.starts_at, speakers: [], tags: [], links: {} };
    const choice = (list, current) => [h("option", { value: "" }, "—"), ...list.map((x) => h("option", { value: x.id, selected: x.id === current }, x.name))];
    const form = editorForm("session-form", [
      h("h3", {}, session ? `Edit “${session.title}”` : "New session"),
      h("div", { className: "row" },
        field("session-id", "Id (in the address)", input("session-id", "id", s.id, { required: true, readOnly: Boolean(session), pattern: "[a-z0-9][a-z0-9-]{0,63}" })),
        field("session-title", "Title", input("session-title", "title", s.title, { required: true }))),
      h("div", { className: "row" },
        field("session-starts", `Starts (${zone})`, input("session-starts", "starts_at", rfc3339ToWallTime(s.starts_at, zone), { type: "datetime-local", required: true })),
        field("session-ends", `Ends (${zone})`, input("session-ends", "ends_at", rfc3339ToWallTime(s.ends_at, zone), { type: "datetime-local", required: true }))),
      h("div", { className: "row" },
        field("session-track", "Track", h("select", { id: "session-track", name: "track" }, choice(event.tracks, s.track))),
        field("session-room", "Room", h("select", { id: "session-room", name: "room" }, choice(event.rooms, s.room)))),
      field("session-speakers", "Speakers", h("select", { id: "session-speakers", name: "speakers", multiple: true, size: 6 },
        speakers.map((sp) => h("option", { value: sp.id, selected: s.speakers.includes(sp.id) }, sp.name)))),
      field("session-abstract", "Abstract", h("textarea", { id: "session-abstract", name: "abstract", value: s.abstract ?? "" })),
      field("session-tags", "Tags", input("session-tags", "tags", (s.tags ?? []).join(", "), { "aria-describedby": "session-tags-hint" }), "Separated by commas."),
      h("div", { className: "row" }, ["live", "recording", "slides"].map((kind) =>
        field(`session-link-${kind}`, `${kind[0].toUpperCase()}${kind.slice(1)} link`, input(`session-link-${kind}`, `links.${kind}`, s.links?.[kind] ?? "", { type: "url" })))),
    ], async (f) => {
      const value = (name) => f.elements.namedItem(name).value.trim();
      const links = Object.fromEntries(["live", "recording", "slides"].map((k) => [k, value(`links.${k}`)]).filter(([, v]) => v));
      const body = {
        title: value("title"),
        abstract: value("abstract"),
        starts_at: value("starts_at") ? wallTimeToRfc3339(value("starts_at"), zone) : "",
        ends_at: value("ends_at") ? wallTimeToRfc3339(value("ends_at"), zone) : "",
        track: value("track") || null,
        room: value("room") || null,
        speakers: [...f.elements.namedItem("speakers").selectedOptions].map((o) => o.value),
        tags: value("tags").split(",").map((t) => t.trim()).filter(Boolean),
        links,
      };
      const id = value("id");
      if (!id) throw new ApiError(422, { detail: "The session needs an id.", errors: [{ field: "id", message: "is required" }] });
      const taken = !session && sessions.find((other) => other.id === id);
      if (taken) throw new ApiError(409, { detail: "That id is taken.", errors: [{ field: "id", message: `is already used by “${taken.title}”; edit that session instead` }] });
      await call(`/sessions/${encodeURIComponent(id)}`, { method: "PUT", body });
      await reload(`Session “${body.title}” saved to the draft.`);
    }, "Save session");
    if (session) form.querySelector(".actions").append(deleteButton(`/sessions/${encodeURIComponent(session.id)}`, `session “${session.title}”`));
    form.querySelector(".actions").append(h("button", { type: "button", className: "secondary", onclick: () => editor.replaceChildren() }, "Close"));
    return form;
  }
}

/** A delete that asks once more before it acts. */
function deleteButton(rest, what) {
  const button = h("button", { type: "button", className: "danger" }, "Delete");
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.textContent = `Really delete ${what}?`;
      return;
    }
    button.disabled = true;
    try {
      await call(rest, { method: "DELETE" });
      await reload(`Deleted ${what} from the draft.`);
    } catch (error) {
      button.disabled = false;
      button.after(h("p", { className: "error", role: "alert" }, error.message));
    }
  });
  return button;
}

// ---------------------------------------------------------------- speakers

function speakersSection() {
  const { speakers } = state.draft;
  const editor = h("div", { id: "speaker-editor" });
  const open = (speaker) => {
    editor.replaceChildren(speakerForm(speaker));
    editor.querySelector("input")?.focus();
  };
  return section("speakers-section", `Speakers (${speakers.length})`,
    h("p", {}, h("button", { type: "button", id: "new-speaker", onclick: () => open(null) }, "New speaker")),
    editor,
    h("ul", { className: "people columns" }, speakers.map((sp) => h("li", {},
      `${sp.name} `, h("button", { type: "button", className: "secondary", "aria-label": `Edit ${sp.name}`, onclick: () => open(sp) }, "Edit")))));

  function speakerForm(speaker) {
    const s = speaker ?? { id: "", name: "", affiliation: "", bio: "", links: {} };
    const form = editorForm("speaker-form", [
      h("h3", {}, speaker ? `Edit ${speaker.name}` : "New speaker"),
      h("div", { className: "row" },
        field("speaker-id", "Id (in the address)", input("speaker-id", "id", s.id, { required: true, readOnly: Boolean(speaker) })),
        field("speaker-name", "Name", input("speaker-name", "name", s.name, { required: true })),
        field("speaker-affiliation", "Affiliation", input("speaker-affiliation", "affiliation", s.affiliation))),
      field("speaker-bio", "Bio", h("textarea", { id: "speaker-bio", name: "bio", value: s.bio ?? "" })),
      field("speaker-links", "Links", h("textarea", { id: "speaker-links", name: "links", value: Object.entries(s.links ?? {}).map(([k, v]) => `${k}: ${v}`).join("\n"), "aria-describedby": "speaker-links-hint" }),
        "One per line: label: https://…"),
    ], async (f) => {
      const value = (name) => f.elements.namedItem(name).value.trim();
      const links = {};
      for (const line of lines(value("links"))) {
        // `label: https://…`: the label ends at the first ": ", so the URL's own colon stays.
        const at = line.indexOf(": ");
        if (at < 1) throw new ApiError(422, { detail: "A link is not in the form label: URL.", errors: [{ field: "links", message: `“${line}” needs a label first, as in “website: https://…”` }] });
        links[line.slice(0, at).trim()] = line.slice(at + 2).trim();
      }
      const body = { name: value("name"), affiliation: value("affiliation"), bio: value("bio"), links };
      const id = value("id");
      if (!id) throw new ApiError(422, { detail: "The speaker needs an id.", errors: [{ field: "id", message: "is required" }] });
      const taken = !speaker && speakers.find((other) => other.id === id);
      if (taken) throw new ApiError(409, { detail: "That id is taken.", errors: [{ field: "id", message: `is already used by ${taken.name}; edit them instead` }] });
      await call(`/speakers/${encodeURIComponent(id)}`, { method: "PUT", body });
      await reload(`Speaker ${body.name} saved to the draft.`);
    }, "Save speaker");
    if (speaker) form.querySelector(".actions").append(deleteButton(`/speakers/${encodeURIComponent(speaker.id)}`, speaker.name));
    form.querySelector(".actions").append(h("button", { type: "button", className: "secondary", onclick: () => editor.replaceChildren() }, "Close"));
    return form;
  }
}

// ---------------------------------------------------------------- import

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function importSection() {
  const form = editorForm("import-form", [
    h("p", {}, "Replace the whole draft with a JSON document ", h("code", {}, "{event, sessions, speakers}"), ". Nothing changes unless all of it is valid."),
    field("import-file", "From a file", h("input", {
      type: "file", id: "import-file", accept: "application/json,.json",
      onchange: async (e) => {
        const file = e.target.files[0];
        if (file) form.elements.namedItem("draft").value = await file.text();
      },
    })),
    field("import-json", "Draft JSON", h("textarea", { id: "import-json", name: "draft", rows: 8, spellcheck: false })),
  ], async (f) => {
    const text = f.elements.namedItem("draft").value;
    try {
      JSON.parse(text);
    } catch (error) {
      throw new ApiError(400, { detail: `That is not JSON: ${error.message}`, errors: [{ field: "draft", message: "is not valid JSON" }] });
    }
    await call("/draft", { method: "PUT", body: text });
    await reload("Draft imported.");
  }, "Import draft");
  const exportButton = state.draft
    ? h("button", {
      type: "button", className: "secondary",
      onclick: () => {
        const { event, sessions, speakers } = state.draft;
        download(`${state.slug}-draft.json`, "application/json", JSON.stringify({ event, sessions, speakers }, null, 2));
      },
    }, "Download the current draft")
    : null;
  return section("import-section", "Import", exportButton ? h("p", {}, exportButton) : null, form);
}

// ---------------------------------------------------------------- publish and roll back

/**
 * Polls the public edge until it serves `version`; tells `progress` while it
 * waits and returns what happened, with how long it took.
 */
async function watchEdge(version, started, progress) {
  progress(`Version ${version} saved. Waiting for the edge to serve it…`);
  for (;;) {
    try {
      const { headers } = await api(`/api/events/${encodeURIComponent(state.slug)}`, { cache: "no-store" });
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

/** After a publish or rollback: wait for the edge, then show the new state. */
async function announce(answer, started) {
  const live = await watchEdge(answer.version, started, say);
  const edges = (answer.edges ?? []).map((e) => `${e.edge} ${e.acknowledged ? "acknowledged" : e.outcome}`).join(", ");
  await reload(`${live}${edges ? ` Edges notified: ${edges}.` : ""}`);
}

/** Archiving, or how to bring back an archived event; nothing before a first publish. */
function archiveForm() {
  if (!state.draft.published_version) return null;
  if (state.draft.archived) {
    return h("p", { id: "archived-note", className: "notice" },
      "This event is archived: attendees cannot see it and registration is closed. Publish the draft to bring it back.");
  }
  return editorForm("archive-form", [
    h("h3", {}, "Archive"),
    h("p", {}, "Takes the event off the public list and every edge, and stops registration. Nothing is deleted; publishing again brings it back."),
    field("archive-note", "Note", input("archive-note", "note", "", { placeholder: "Why" })),
  ], async (f) => {
    if (!window.confirm(`Archive ${state.slug}? Attendees will no longer see it.`)) return;
    const { data } = await call("/archive", { method: "POST", body: { note: f.elements.note.value.trim() } });
    const edges = (data.edges ?? []).map((e) => `${e.edge} ${e.acknowledged ? "acknowledged" : e.outcome}`).join(", ");
    await reload(`Archived.${edges ? ` Edges notified: ${edges}.` : ""}`);
  }, "Archive the event");
}

function publishSection() {
  const publish = editorForm("publish-form", [
    field("publish-note", "Note for the changelog", input("publish-note", "note", "", { placeholder: "What changed" })),
  ], async (f) => {
    const started = Date.now();
    const { data } = await call("/publish", { method: "POST", body: { note: f.elements.note.value.trim() } });
    await announce(data, started);
  }, "Publish the draft");
  const versions = h("select", { id: "rollback-version", name: "version", disabled: true });
  const rollback = editorForm("rollback-form", [
    h("h3", {}, "Roll back"),
    h("p", {}, "Publishes an earlier version's content as a new version, and resets the draft to it."),
    field("rollback-version", "Version", versions),
    field("rollback-note", "Note", input("rollback-note", "note", "", { placeholder: "Why" })),
  ], async (f) => {
    const started = Date.now();
    const body = { version: Number(f.elements.version.value), note: f.elements.note.value.trim() };
    const { data } = await call("/rollback", { method: "POST", body });
    await announce(data, started);
  }, "Roll back");
  rollback.querySelector("button[type=submit]").disabled = true;
  const changelog = h("ol", { id: "changelog", reversed: true });
  api(`/api/events/${encodeURIComponent(state.slug)}/changelog`, { cache: "no-store" }).then(({ data }) => {
    changelog.replaceChildren(...data.changelog.map((c) => h("li", { value: c.version }, `v${c.version} · ${c.published_at}${c.note ? ` · ${c.note}` : ""}`)));
    // Rolling back to the version being served would change nothing.
    const earlier = data.changelog.filter((c) => c.version !== state.draft.published_version);
    versions.replaceChildren(...earlier.map((c) => h("option", { value: c.version }, `Version ${c.version}${c.note ? ` — ${c.note}` : ""}`)));
    versions.disabled = earlier.length === 0;
    rollback.querySelector("button[type=submit]").disabled = earlier.length === 0;
  }, () => changelog.replaceChildren(h("li", {}, "Nothing published yet.")));
  return section("publish-section", "Publish", publish, rollback, archiveForm(), h("h3", {}, "Published versions"), changelog);
}

// ---------------------------------------------------------------- registrations and audit

function registrationsSection() {
  const summary = h("p", { id: "registration-summary" });
  const body = h("tbody", {});
  const refresh = async () => {
    try {
      const { data } = await call("/registrations");
      const seats = data.capacity == null ? "unlimited seats" : `${data.capacity} seats`;
      summary.textContent = `${seats} · ${data.confirmed} confirmed · ${data.waitlisted} waitlisted · ${data.cancelled} cancelled`;
      body.replaceChildren(...data.registrations.map((r) => h("tr", {},
        h("td", {}, r.name), h("td", {}, r.email),
        h("td", {}, r.status === "waitlisted" ? `waitlisted (#${r.position})` : r.status),
        h("td", {}, r.created_at))));
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
  return section("registrations-section", "Registrations",
    summary,
    h("div", { className: "actions" },
      h("button", { type: "button", id: "export-csv", onclick: csv }, "Export as CSV"),
      h("button", { type: "button", className: "secondary", onclick: refresh }, "Refresh")),
    h("div", { className: "table-wrap" }, h("table", {},
      h("caption", { className: "visually-hidden" }, "Registrations, oldest first"),
      h("thead", {}, h("tr", {}, ["Name", "Email", "Status", "Registered at"].map((c) => h("th", { scope: "col" }, c)))),
      body)));
}

function auditSection() {
  const body = h("tbody", {});
  const refresh = async () => {
    try {
      const { data } = await call("/audit");
      body.replaceChildren(...data.entries.map((e) => h("tr", {},
        h("td", {}, e.at), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.target ?? ""),
        h("td", {}, h("code", {}, JSON.stringify(e.detail))))));
    } catch (error) {
      body.replaceChildren(h("tr", {}, h("td", { colSpan: 5 }, `The audit log could not be loaded: ${error.message}`)));
    }
  };
  refresh();
  return section("audit-section", "Audit log",
    h("p", {}, h("button", { type: "button", className: "secondary", onclick: refresh }, "Refresh")),
    h("div", { className: "table-wrap" }, h("table", { id: "audit" },
      h("caption", { className: "visually-hidden" }, "Audit log, newest first"),
      h("thead", {}, h("tr", {}, ["At", "Who", "What", "Target", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
      body)));
}

// ---------------------------------------------------------------- start

async function start() {
  const saved = (() => {
    try {
      return JSON.parse(sessionStorage.getItem(SIGN_IN_KEY));
    } catch {
      return null;
    }
  })();
  if (!saved) return signInView();
  Object.assign(state, saved);
  try {
    await loadDraft();
    dashboard();
  } catch (error) {
    signOut(error instanceof ApiError && error.status === 401 ? "The saved token was refused; sign in again." : `Could not load the draft: ${error.message}`);
  }
}

start();
