// The organizer page: sign in with an organizer token, edit the draft
// (event, tracks, rooms, sessions, speakers) or import it whole, publish or
// roll back and watch the version go live on the edge, read registrations,
// run a waiting room in front of registration, read the outbox of messages
// to registrants and the audit log, and, for owners, manage the accounts. Each section shows only when the signed-in account's
// roles allow it. Everything goes through the organizer API (docs/api.md);
// the token typed in opens a sign-in cookie and is forgotten. This entry signs in
// and draws the dashboard of sections; the sections import `reload` and
// `signOut` back from it, as they redraw the page they are part of.

import { api, ApiError, h, field, readJson } from "/common.js";
import { SIGN_IN_KEY, state, loadSignIn, may, signInWith, endSignIn } from "/admin/client.js";
import { editorForm, input, say, statusLine } from "/admin/ui.js";
import { eventSection } from "/admin/event.js";
import { sessionsSection } from "/admin/sessions.js";
import { speakersSection } from "/admin/speakers.js";
import { importSection } from "/admin/import.js";
import { publishSection } from "/admin/publish.js";
import { registrationsSection, auditSection, outboxSection } from "/admin/records.js";
import { accountsSection } from "/admin/accounts.js";
import { waitingRoomSection } from "/admin/waiting-room.js";

const main = document.getElementById("main");

export async function signOut(why = "") {
  await endSignIn();
  sessionStorage.removeItem(SIGN_IN_KEY);
  Object.assign(state, { draft: null, me: null });
  document.getElementById("sections").hidden = true;
  signInView(why);
}
document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));

/**
 * The sign-in page: a token, or a link mailed to an account's address. With
 * `signedInAs` (a link was just used) only the event is asked for.
 */
async function signInView(why = "", signedInAs = null) {
  say(why);
  let events = [];
  try {
    ({
      data: { events },
    } = await api("/api/events"));
  } catch {
    // The list only suggests slugs; signing in works without it.
  }
  const tokenField = signedInAs
    ? null
    : field(
        "token",
        "Organizer token",
        input("token", "token", "", {
          type: "password",
          autocomplete: "current-password",
          required: true,
        }),
      );
  const form = editorForm(
    "sign-in",
    [
      tokenField,
      field(
        "slug",
        "Event",
        input("slug", "slug", state.slug || events[0]?.slug || "", {
          list: "known-events",
          required: true,
          "aria-describedby": "slug-hint",
        }),
        "The event's short name in its address; a new one starts a new event.",
      ),
      h(
        "datalist",
        { id: "known-events" },
        events.map((e) => h("option", { value: e.slug }, e.name)),
      ),
    ],
    async (f) => {
      state.slug = f.elements.slug.value.trim();
      if (!signedInAs) await signInWithToken(f.elements.token.value.trim());
      await loadSignIn();
      sessionStorage.setItem(SIGN_IN_KEY, JSON.stringify({ slug: state.slug, csrf: state.csrf }));
      dashboard();
    },
    signedInAs ? "Open the event" : "Sign in",
  );
  const linkForm = signedInAs
    ? null
    : editorForm(
        "sign-in-link",
        [
          field(
            "link-email",
            "Your email",
            input("link-email", "email", "", { type: "email", autocomplete: "email" }),
          ),
        ],
        async (f) => {
          const { data } = await api("/api/admin/sign-in-link", {
            method: "POST",
            body: { email: f.elements.email.value.trim() },
          });
          say(data.detail);
        },
        "Email me a sign-in link",
      );
  // The DOM would write a null out as "null": the parts left out are dropped.
  main.replaceChildren(
    ...[
      h("h1", {}, signedInAs ? `Signed in as ${signedInAs}` : "Organizer sign-in"),
      form,
      linkForm ? h("h2", {}, "No token? Sign in with a link") : null,
      linkForm,
    ].filter(Boolean),
  );
  document.title = "Organizer sign-in · Eventfront";
  (form.elements.token ?? form.elements.slug).focus();
}

/** Opens this browser's sign-in with the token typed, refused on the form. */
async function signInWithToken(token) {
  if (!token)
    throw new ApiError(422, {
      detail: "Enter the organizer token.",
      errors: [{ field: "token", message: "is required" }],
    });
  try {
    await signInWith(token);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      // Not 401: that would sign out, and this form is where a refusal is shown.
      throw new ApiError(403, {
        detail: "That token was refused.",
        errors: [{ field: "token", message: "was refused by the server" }],
      });
    }
    throw error;
  }
}

/**
 * A mailed link (`#sign-in=…`) opens a sign-in once its reader asks for it
 * (a link someone else sent must not sign a browser in unasked); the
 * secret leaves the address bar and the history first, whether it works
 * or not.
 */
function signInWithLink(link) {
  history.replaceState(null, "", location.pathname);
  say("");
  const use = async () => {
    try {
      const { data } = await api("/api/admin/sign-in", { method: "POST", body: { link } });
      state.csrf = data.csrf_token;
      await signInView("", data.actor);
    } catch (error) {
      await signInView(`That sign-in link did not work (${error.message}); ask for a new one.`);
    }
  };
  const button = h("button", { type: "button", id: "use-link", onclick: use }, "Sign in");
  main.replaceChildren(
    h("h1", {}, "Sign in with this link?"),
    h(
      "p",
      {},
      "This link signs this browser in to the account it was mailed to. Use it only if you asked for it.",
    ),
    button,
  );
  document.title = "Organizer sign-in · Eventfront";
  button.focus();
}

/** What the page says first: whose sign-in, and the draft's state if theirs to read. */
function greeting(draft) {
  const who = `Signed in as ${state.me.actor}.`;
  if (!may("read_draft")) return `${who} Your roles here do not include the draft.`;
  if (!draft) return `${who} ${state.slug} has no draft yet: fill in the event to create it.`;
  const verb = may("edit_draft") ? "Editing" : "Reading";
  return `${who} ${verb} the draft of ${state.slug}. Published version: ${draft.published_version || "none yet"}.`;
}

function dashboard() {
  const draft = state.draft;
  const edits = may("edit_draft");
  const people = may("read_registrations");
  say(greeting(draft));
  // The DOM would write a null out as "null": sections not drawn are dropped.
  main.replaceChildren(
    ...[
      h(
        "h1",
        {},
        draft ? draft.event.name : may("read_draft") ? `New event ${state.slug}` : state.slug,
      ),
      edits ? eventSection() : null,
      draft ? sessionsSection() : null,
      draft ? speakersSection() : null,
      edits ? importSection() : null,
      draft && may("publish") ? publishSection() : null,
      people ? registrationsSection() : null,
      people ? waitingRoomSection() : null,
      people ? outboxSection() : null,
      may("read_audit") ? auditSection() : null,
      may("manage_accounts") ? accountsSection() : null,
    ].filter(Boolean),
  );
  // The menu names only the sections drawn.
  const nav = document.getElementById("sections");
  for (const link of nav.querySelectorAll("a[href^='#']")) {
    link.parentElement.hidden = !document.getElementById(link.hash.slice(1));
  }
  nav.hidden = false;
  document.title = `${state.slug} · Organizer · Eventfront`;
}

/** Shows the draft again after a change, keeping the place and the focus. */
export async function reload(message) {
  const focusedId = document.activeElement?.id;
  await loadSignIn();
  const scroll = scrollY;
  dashboard();
  scrollTo(0, scroll);
  say(message);
  (document.getElementById(focusedId) ?? statusLine).focus({ preventScroll: true });
}

async function start() {
  const link = new URLSearchParams(location.hash.slice(1)).get("sign-in");
  if (link) return signInWithLink(link);
  const saved = readJson(sessionStorage, SIGN_IN_KEY, null);
  if (!saved) return signInView();
  Object.assign(state, saved);
  try {
    await loadSignIn();
    dashboard();
  } catch (error) {
    signOut(
      error instanceof ApiError && error.status === 401
        ? "Your sign-in ended; sign in again."
        : `Could not load the draft: ${error.message}`,
    );
  }
}

start();
