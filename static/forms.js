// What the forms that write share, on both pages: the retry policy for
// writes and a problem's field errors shown beside their inputs.

import { ApiError, h } from "/common.js";

/** Whether trying the same request again later may succeed. */
export function isRetryable(error) {
  return !(error instanceof ApiError) || error.status === 503 || error.status === 429;
}

/**
 * Runs `attempt` until it succeeds, retrying what `isRetryable` allows:
 * after Retry-After when the server gave one, else with growing pauses.
 * `onWait({attempt, of, seconds})` is told every second of every wait, so
 * the page can show its progress. Gives up after `attempts` tries.
 */
export async function withRetry(attempt, { attempts = 8, onWait = () => {} } = {}) {
  for (let tried = 1; ; tried++) {
    try {
      return await attempt(tried);
    } catch (error) {
      if (!isRetryable(error) || tried >= attempts) throw error;
      const wait = error.retryAfter ?? Math.min(2 ** (tried - 1), 30);
      for (let left = Math.min(wait, 60); left > 0; left--) {
        onWait({ attempt: tried + 1, of: attempts, seconds: left, error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      onWait({ attempt: tried + 1, of: attempts, seconds: 0, error });
    }
  }
}

/** The input a problem's field name refers to: `tracks[2].id` → `tracks`. */
function fieldControl(form, field) {
  const name = field.split(/[[.]/)[0];
  return form.elements.namedItem(field) || form.elements.namedItem(name);
}

/** Removes every message a previous `showFieldErrors` put on `form`. */
export function clearFieldErrors(form) {
  for (const message of form.querySelectorAll(".field-error")) message.remove();
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    // Back to what described it before (a hint, say), or nothing.
    const before = control.dataset.describedBefore;
    if (before) control.setAttribute("aria-describedby", before);
    else control.removeAttribute("aria-describedby");
    delete control.dataset.describedBefore;
  }
}

/**
 * Puts each `{field, message}` next to its input, tied to it for screen
 * readers, focuses the first, and returns the errors no input matched.
 */
export function showFieldErrors(form, errors) {
  clearFieldErrors(form);
  const unmatched = [];
  let first = null;
  for (const [index, { field, message }] of errors.entries()) {
    const control = fieldControl(form, field);
    if (!control || !control.id) {
      unmatched.push({ field, message });
      continue;
    }
    const id = `${control.id}-error-${index}`;
    const text = field.split(/[[.]/)[0] === field ? message : `${field}: ${message}`;
    if (control.getAttribute("aria-invalid") !== "true") {
      control.dataset.describedBefore = control.getAttribute("aria-describedby") ?? "";
    }
    control.setAttribute("aria-invalid", "true");
    const described = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
    control.closest(".field")?.append(h("p", { className: "field-error", id }, text));
    first ??= control;
  }
  first?.focus();
  return unmatched;
}
