// The organizer's session with the API: a sign-in cookie the page never
// sees (opened with the token typed once, which is then forgotten) and the
// CSRF token its writes carry, the event, who that is and what they may
// do there, the draft as last read, and calls to the organizer routes
// (docs/api.md). The event and CSRF token are kept in this tab's
// sessionStorage only.

import { api, ApiError } from "/common.js";

export const SIGN_IN_KEY = "eventfront:organizer";

export const state = { slug: null, csrf: null, draft: null, me: null };

/** An organizer call, signed by the sign-in cookie; writes carry its CSRF token. */
export const organizerApi = (path, options = {}) =>
  api(path, {
    cache: "no-store",
    ...options,
    headers: { ...(state.csrf ? { "x-csrf-token": state.csrf } : {}), ...options.headers },
  });

const adminPath = (rest = "") => `/api/admin/events/${encodeURIComponent(state.slug)}${rest}`;
export const call = (rest, options = {}) => organizerApi(adminPath(rest), options);

/** Opens this browser's sign-in with `token`: the cookie is set, the token forgotten. */
export async function signInWith(token) {
  const { data } = await api("/api/admin/sign-in", { method: "POST", token, body: {} });
  state.csrf = data.csrf_token;
}

/** Ends this browser's sign-in (its cookie cleared), if it has one. */
export async function endSignIn() {
  if (state.csrf) await organizerApi("/api/admin/sign-in", { method: "DELETE" }).catch(() => {});
  state.csrf = null;
}

/**
 * Who the token proves and what they may do on the event (the server's
 * permission table answers; the page only hides what would be refused).
 */
export async function loadMe() {
  ({ data: state.me } = await organizerApi(
    `/api/admin/me?event=${encodeURIComponent(state.slug)}`,
  ));
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
