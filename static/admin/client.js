// The organizer's session with the API: the token and event signed in
// with, who that is and what they may do there, the draft as last read,
// and calls to the organizer routes (docs/api.md). The sign-in is kept in
// this tab's sessionStorage only.

import { api, ApiError } from "/common.js";

export const SIGN_IN_KEY = "eventfront:organizer";

export const state = { token: null, slug: null, draft: null, me: null };

const adminPath = (rest = "") => `/api/admin/events/${encodeURIComponent(state.slug)}${rest}`;
export const call = (rest, options = {}) =>
  api(adminPath(rest), { token: state.token, cache: "no-store", ...options });

/**
 * Who the token proves and what they may do on the event (the server's
 * permission table answers; the page only hides what would be refused).
 */
export async function loadMe() {
  ({ data: state.me } = await api(`/api/admin/me?event=${encodeURIComponent(state.slug)}`, {
    token: state.token,
    cache: "no-store",
  }));
}

/** Whether the signed-in organizer may take `action` (docs/api.md, roles). */
export const may = (action) =>
  Boolean(state.me?.event_actions?.includes(action) || state.me?.actions?.includes(action));

/** The draft, or `null` when the event has none yet or it is not theirs to read. */
export async function loadDraft() {
  if (!may("read_draft")) {
    state.draft = null;
    return;
  }
  try {
    ({ data: state.draft } = await call("/draft"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      state.draft = null;
      return;
    }
    throw error;
  }
}

/** Signs in (or back in): who they are, then the draft if theirs to read. */
export async function loadSignIn() {
  await loadMe();
  await loadDraft();
}
