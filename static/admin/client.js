// The organizer's session with the API: the token and event signed in
// with, the draft as last read, and calls to the organizer routes
// (docs/api.md). The sign-in is kept in this tab's sessionStorage only.

import { api, ApiError } from "/common.js";

export const SIGN_IN_KEY = "eventfront:organizer";

export const state = { token: null, slug: null, draft: null };

const adminPath = (rest = "") => `/api/admin/events/${encodeURIComponent(state.slug)}${rest}`;
export const call = (rest, options = {}) =>
  api(adminPath(rest), { token: state.token, cache: "no-store", ...options });

/** The draft, or `null` when the event has none yet. */
export async function loadDraft() {
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
