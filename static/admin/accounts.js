// The owners' Accounts section: the organization's people with their roles
// (per event or for every event), inviting someone (an account, mailed a
// sign-in link), adding and removing roles, each account's API tokens
// (a new one shown once) with their last use, its browser sign-ins, and
// revoking a token, a sign-in or a whole account, which stops it at once
// (docs/api.md, Accounts and roles).

import { h, field } from "/common.js";
import { state, organizerApi } from "/admin/client.js";
import { editorForm, input, say, section, table } from "/admin/ui.js";

// The least power first, so that a role not chosen is the least one.
const ROLES = ["viewer", "editor", "publisher", "registrations", "owner"];

const accountsApi = (rest = "", options = {}) =>
  organizerApi(`/api/admin/accounts${rest}`, options);

const grantText = (g) => (g.event ? `${g.role} of ${g.event}` : `${g.role} of every event`);

function roleSelect(id) {
  return h(
    "select",
    { id, name: "role" },
    ROLES.map((r) => h("option", { value: r }, r)),
  );
}

/**
 * A button that runs `act` (which answers what happened), says it or why
 * it `failed`, then redraws what it changed with `after`.
 */
function actionButton(label, attributes, act, failed, after) {
  const run = async () => {
    try {
      say(await act());
    } catch (error) {
      say(`${failed}: ${error.message}`);
    }
    await after();
  };
  return h("button", { type: "button", ...attributes, onclick: run }, label);
}

/** A token just minted, with the warning that it is shown only now. */
function minted(box, name, token) {
  box.replaceChildren(
    h(
      "div",
      { className: "notice", role: "alert" },
      h("p", {}, `The token for ${name}, shown only now: copy it and hand it over safely.`),
      h("p", {}, h("code", { className: "minted-token" }, token)),
    ),
  );
}

export function accountsSection() {
  const body = h("tbody", {});
  const shown = h("div", { id: "minted" });
  const refresh = async () => {
    try {
      const { data } = await accountsApi();
      body.replaceChildren(...data.accounts.map((a) => accountRow(a, refresh, shown)));
    } catch (error) {
      body.replaceChildren(
        h("tr", {}, h("td", { colSpan: 4 }, `The accounts could not be loaded: ${error.message}`)),
      );
    }
  };
  const invite = editorForm(
    "invite-form",
    [
      field("invite-email", "Email", input("invite-email", "email", "", { type: "email" })),
      field("invite-name", "Name", input("invite-name", "name", "")),
      field("invite-role", "Role", roleSelect("invite-role")),
      field(
        "invite-event",
        "For the event",
        input("invite-event", "event", state.slug ?? ""),
        "Empty: for every event.",
      ),
    ],
    async (form) => {
      const event = form.elements.event.value.trim();
      const grants = [{ role: form.elements.role.value, ...(event ? { event } : {}) }];
      const name = form.elements.name.value.trim();
      const { data: account } = await accountsApi("", {
        method: "POST",
        body: { email: form.elements.email.value.trim(), name, grants },
      });
      form.reset();
      say(
        `${account.email} now has an account as ${grants.map(grantText).join(", ")}; an invitation to sign in is on its way to it.`,
      );
      await refresh();
    },
    "Invite",
  );
  refresh();
  return section(
    "accounts-section",
    "Accounts",
    h(
      "p",
      {},
      "People with roles instead of one shared token. An invited person signs in with the link mailed to them; machines use tokens.",
    ),
    shown,
    table("Accounts, oldest first", ["Name", "Email", "Roles", "Tokens and access"], body, {
      id: "accounts",
    }),
    h("h3", {}, "Invite someone"),
    invite,
  );
}

function accountRow(account, refresh, shown) {
  const revoked = Boolean(account.revoked_at);
  const path = `/${account.id}`;
  const update = async (grants, said) => {
    try {
      await accountsApi(path, { method: "PUT", body: { name: account.name, grants } });
      say(said);
    } catch (error) {
      say(`The roles of ${account.email} could not be changed: ${error.message}`);
    }
    await refresh();
  };
  const roles = h(
    "ul",
    { className: "grants" },
    account.grants.map((g, i) =>
      h(
        "li",
        {},
        grantText(g),
        revoked
          ? null
          : h(
              "button",
              {
                type: "button",
                className: "secondary",
                "aria-label": `Remove ${grantText(g)} from ${account.email}`,
                onclick: () =>
                  update(
                    account.grants.filter((_, j) => j !== i),
                    `${account.email} is no longer ${grantText(g)}.`,
                  ),
              },
              "Remove",
            ),
      ),
    ),
  );
  const addRole = revoked
    ? null
    : h(
        "form",
        {
          className: "add-role",
          onsubmit: (e) => {
            e.preventDefault();
            const event = e.target.elements.event.value.trim();
            const grant = { role: e.target.elements.role.value, ...(event ? { event } : {}) };
            update([...account.grants, grant], `${account.email} is now ${grantText(grant)} too.`);
          },
        },
        h("label", { htmlFor: `role-${account.id}` }, `Role to add for ${account.email}`),
        roleSelect(`role-${account.id}`),
        h("label", { htmlFor: `event-${account.id}` }, "for the event (empty: every event)"),
        input(`event-${account.id}`, "event", state.slug ?? ""),
        h("button", { type: "submit", className: "secondary" }, "Add role"),
      );
  return h(
    "tr",
    { "data-account": account.email },
    h("td", {}, account.name),
    h("td", {}, account.email),
    h("td", {}, roles, addRole),
    h(
      "td",
      {},
      revoked ? h("p", {}, `Revoked ${account.revoked_at}`) : null,
      tokensList(account, shown),
      revoked ? null : signInsList(account),
      revoked
        ? null
        : actionButton(
            "Revoke account",
            { className: "danger", "aria-label": `Revoke account of ${account.email}` },
            async () => {
              await accountsApi(path, { method: "DELETE" });
              return `The account of ${account.email} is revoked; its tokens no longer work.`;
            },
            "The account could not be revoked",
            refresh,
          ),
    ),
  );
}

/** An account's live browser sign-ins, each of which an owner can end. */
function signInsList(account) {
  const list = h("ul", { className: "sign-ins" });
  const load = async () => {
    try {
      const { data } = await accountsApi(`/${account.id}/sign-ins`);
      list.replaceChildren(
        ...data.sign_ins
          .filter((s) => s.live)
          .map((s) =>
            h(
              "li",
              {},
              `Signed in ${s.opened_at}${s.address ? ` from ${s.address}` : ""}, last seen ${s.last_seen_at} `,
              actionButton(
                "End the sign-in",
                {
                  className: "secondary",
                  "aria-label": `End the sign-in of ${account.email} from ${s.opened_at}`,
                },
                async () => {
                  await organizerApi(`/api/admin/sign-ins/${s.id}`, { method: "DELETE" });
                  return `The sign-in of ${account.email} is ended.`;
                },
                "The sign-in could not be ended",
                load,
              ),
            ),
          ),
      );
    } catch (error) {
      list.replaceChildren(h("li", {}, `The sign-ins could not be loaded: ${error.message}`));
    }
  };
  load();
  return list;
}

/** An account's tokens, each revocable, and a new one on demand. */
function tokensList(account, shown) {
  const list = h("ul", { className: "tokens" });
  const load = async () => {
    try {
      const { data } = await accountsApi(`/${account.id}/tokens`);
      list.replaceChildren(
        ...data.tokens.map((t) =>
          h(
            "li",
            {},
            `${t.name}: `,
            t.revoked_at
              ? `revoked ${t.revoked_at}`
              : t.last_used_at
                ? `last used ${t.last_used_at}`
                : "never used",
            t.revoked_at
              ? null
              : actionButton(
                  "Revoke",
                  {
                    className: "secondary",
                    "aria-label": `Revoke the token ${t.name} of ${account.email}`,
                  },
                  async () => {
                    await organizerApi(`/api/admin/tokens/${t.id}`, { method: "DELETE" });
                    return `The token ${t.name} of ${account.email} no longer works.`;
                  },
                  "The token could not be revoked",
                  load,
                ),
          ),
        ),
      );
    } catch (error) {
      list.replaceChildren(h("li", {}, `The tokens could not be loaded: ${error.message}`));
    }
  };
  load();
  const mint = account.revoked_at
    ? null
    : actionButton(
        "New token",
        { className: "secondary", "aria-label": `New token for ${account.email}` },
        async () => {
          const { data } = await accountsApi(`/${account.id}/tokens`, {
            method: "POST",
            body: { name: `token ${new Date().toISOString().slice(0, 16)}` },
          });
          minted(shown, account.name, data.token);
          return `A new token for ${account.email} is shown above, this once.`;
        },
        "No token could be made",
        load,
      );
  return h("div", {}, list, mint);
}
