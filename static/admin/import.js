// Replacing the whole draft with a JSON document, from a file or pasted,
// and downloading the current one.

import { ApiError, h, field } from "/common.js";
import { state, call } from "/admin/client.js";
import { download, editorForm, section } from "/admin/ui.js";
import { reload } from "/admin/admin.js";

export function importSection() {
  const form = editorForm(
    "import-form",
    [
      h(
        "p",
        {},
        "Replace the whole draft with a JSON document ",
        h("code", {}, "{event, sessions, speakers}"),
        ". Nothing changes unless all of it is valid.",
      ),
      field(
        "import-file",
        "From a file",
        h("input", {
          type: "file",
          id: "import-file",
          accept: "application/json,.json",
          onchange: async (e) => {
            const file = e.target.files[0];
            if (file) form.elements.namedItem("draft").value = await file.text();
          },
        }),
      ),
      field(
        "import-json",
        "Draft JSON",
        h("textarea", { id: "import-json", name: "draft", rows: 8, spellcheck: false }),
      ),
    ],
    async (f) => {
      const text = f.elements.namedItem("draft").value;
      try {
        JSON.parse(text);
      } catch (error) {
        throw new ApiError(400, {
          detail: `That is not JSON: ${error.message}`,
          errors: [{ field: "draft", message: "is not valid JSON" }],
        });
      }
      await call("/draft", { method: "PUT", body: text });
      await reload("Draft imported.");
    },
    "Import draft",
  );
  const exportButton = state.draft
    ? h(
        "button",
        {
          type: "button",
          className: "secondary",
          onclick: () => {
            const { event, sessions, speakers } = state.draft;
            download(
              `${state.slug}-draft.json`,
              "application/json",
              JSON.stringify({ event, sessions, speakers }, null, 2),
            );
          },
        },
        "Download the current draft",
      )
    : null;
  return section("import-section", "Import", exportButton ? h("p", {}, exportButton) : null, form);
}
