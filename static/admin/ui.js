// The organizer page's building blocks: the status line, inputs, editor
// forms that show a refused write by its fields, sections, tables, saving
// and deleting a session or speaker, and downloads made in the page.

import { ApiError, h } from "/common.js";
import { showFieldErrors, clearFieldErrors } from "/forms.js";
import { call } from "/admin/client.js";
import { reload, signOut } from "/admin/admin.js";

export const statusLine = document.getElementById("admin-status");

export function say(text) {
  statusLine.textContent = text;
}

export function input(id, name, value = "", attributes = {}) {
  return h("input", { id, name, value: value ?? "", ...attributes });
}

/** Shows a refused write: field messages by their inputs, the rest in `box`. */
function showProblem(form, box, error) {
  box.replaceChildren();
  if (error instanceof ApiError && error.status === 401) {
    signOut("Your sign-in ended or was refused; sign in again.");
    return;
  }
  const unmatched = error instanceof ApiError ? showFieldErrors(form, error.fieldErrors) : [];
  const why = error instanceof ApiError ? error.message : "The server could not be reached.";
  box.append(h("p", { className: "error" }, why));
  if (unmatched.length)
    box.append(
      h(
        "ul",
        { className: "error" },
        unmatched.map((e) => h("li", {}, `${e.field}: ${e.message}`)),
      ),
    );
}

/** A form whose submit runs `save(form)` with errors shown by field. */
export function editorForm(id, children, save, submitLabel) {
  const box = h("div", { className: "form-error", role: "alert", id: `${id}-error` });
  const form = h(
    "form",
    { id, noValidate: true },
    children,
    h("div", { className: "actions" }, h("button", { type: "submit" }, submitLabel)),
    box,
  );
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

export function section(id, title, ...children) {
  return h(
    "section",
    { id, "aria-labelledby": `${id}-heading` },
    h("h2", { id: `${id}-heading` }, title),
    ...children,
  );
}

/** The lines of a textarea that are not blank, trimmed. */
export const lines = (text) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/** A table with a caption for screen readers and a header row of `columns`. */
export function table(caption, columns, body, attributes = {}) {
  return h(
    "div",
    { className: "table-wrap" },
    h(
      "table",
      attributes,
      h("caption", { className: "visually-hidden" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      body,
    ),
  );
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

/**
 * Finishes the form of a session or speaker: Delete when it exists
 * (`deletion` is its path and how to name it), and Close, which empties
 * the `editor` the form was opened in.
 */
export function itemActions(form, editor, deletion) {
  const actions = form.querySelector(".actions");
  if (deletion) actions.append(deleteButton(...deletion));
  actions.append(
    h(
      "button",
      { type: "button", className: "secondary", onclick: () => editor.replaceChildren() },
      "Close",
    ),
  );
  return form;
}

/**
 * Saves a session or speaker under the id typed in its form. Refused here:
 * no id, and, for a new one, an id another already has, which the PUT
 * would overwrite; `usedBy(other)` says which.
 */
export async function saveItem(kind, id, body, { isNew, items, usedBy, saved }) {
  if (!id) {
    throw new ApiError(422, {
      detail: `The ${kind} needs an id.`,
      errors: [{ field: "id", message: "is required" }],
    });
  }
  const taken = isNew && items.find((other) => other.id === id);
  if (taken) {
    throw new ApiError(409, {
      detail: "That id is taken.",
      errors: [{ field: "id", message: usedBy(taken) }],
    });
  }
  await call(`/${kind}s/${encodeURIComponent(id)}`, { method: "PUT", body });
  await reload(saved);
}

/** Saves `text` as the file `name`, without a round trip to the server. */
export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
