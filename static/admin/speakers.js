// The draft's speakers: a list of them, and, for those whose roles let
// them edit the draft, a form to add, edit or delete one.

import { ApiError, h, field } from "/common.js";
import { state, may } from "/admin/client.js";
import { editorForm, input, itemActions, lines, saveItem, section } from "/admin/ui.js";

export function speakersSection() {
  const { speakers } = state.draft;
  const edits = may("edit_draft");
  const editor = h("div", { id: "speaker-editor" });
  const open = (speaker) => {
    editor.replaceChildren(speakerForm(speaker));
    editor.querySelector("input")?.focus();
  };
  return section(
    "speakers-section",
    `Speakers (${speakers.length})`,
    edits
      ? h(
          "p",
          {},
          h(
            "button",
            { type: "button", id: "new-speaker", onclick: () => open(null) },
            "New speaker",
          ),
        )
      : null,
    editor,
    h(
      "ul",
      { className: "people columns" },
      speakers.map((sp) =>
        h(
          "li",
          {},
          `${sp.name} `,
          edits
            ? h(
                "button",
                {
                  type: "button",
                  className: "secondary",
                  "aria-label": `Edit ${sp.name}`,
                  onclick: () => open(sp),
                },
                "Edit",
              )
            : null,
        ),
      ),
    ),
  );

  function speakerForm(speaker) {
    const s = speaker ?? { id: "", name: "", affiliation: "", bio: "", links: {} };
    const form = editorForm(
      "speaker-form",
      [
        h("h3", {}, speaker ? `Edit ${speaker.name}` : "New speaker"),
        h(
          "div",
          { className: "row" },
          field(
            "speaker-id",
            "Id (in the address)",
            input("speaker-id", "id", s.id, { required: true, readOnly: Boolean(speaker) }),
          ),
          field("speaker-name", "Name", input("speaker-name", "name", s.name, { required: true })),
          field(
            "speaker-affiliation",
            "Affiliation",
            input("speaker-affiliation", "affiliation", s.affiliation),
          ),
        ),
        field(
          "speaker-bio",
          "Bio",
          h("textarea", { id: "speaker-bio", name: "bio", value: s.bio ?? "" }),
        ),
        field(
          "speaker-links",
          "Links",
          h("textarea", {
            id: "speaker-links",
            name: "links",
            value: Object.entries(s.links ?? {})
              .map(([k, v]) => `${k}: ${v}`)
              .join("\n"),
            "aria-describedby": "speaker-links-hint",
          }),
          "One per line: label: https://…",
        ),
      ],
      async (f) => {
        const value = (name) => f.elements.namedItem(name).value.trim();
        const links = {};
        for (const line of lines(value("links"))) {
          // `label: https://…`: the label ends at the first ": ", so the URL's own colon stays.
          const at = line.indexOf(": ");
          if (at < 1)
            throw new ApiError(422, {
              detail: "A link is not in the form label: URL.",
              errors: [
                {
                  field: "links",
                  message: `“${line}” needs a label first, as in “website: https://…”`,
                },
              ],
            });
          links[line.slice(0, at).trim()] = line.slice(at + 2).trim();
        }
        const body = {
          name: value("name"),
          affiliation: value("affiliation"),
          bio: value("bio"),
          links,
        };
        await saveItem("speaker", value("id"), body, {
          isNew: !speaker,
          items: speakers,
          usedBy: (taken) => `is already used by ${taken.name}; edit them instead`,
          saved: `Speaker ${body.name} saved to the draft.`,
        });
      },
      "Save speaker",
    );
    return itemActions(
      form,
      editor,
      speaker && [`/speakers/${encodeURIComponent(speaker.id)}`, speaker.name],
    );
  }
}
