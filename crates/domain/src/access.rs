//! Who may do what on the organizer side: roles granted per event or for
//! every event, the action each organizer route and method needs, and the
//! one check (`may`) that every route goes through. API tokens carry
//! grants of their own, within their account's.

use crate::routes::Route;
use crate::{FieldError, Slug};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an organizer account is trusted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything; for every event, also the accounts and tokens.
    Owner,
    /// The draft: event, sessions, speakers, import.
    Editor,
    /// Publishing, rolling back and archiving what editors wrote.
    Publisher,
    /// The registration desk: people, their messages, cancelling for them.
    Registrations,
    /// Reads the draft and the audit log; no personal data.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Editor,
        Role::Publisher,
        Role::Registrations,
        Role::Viewer,
    ];

    fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Owner => true,
            Role::Editor => matches!(action, ReadDraft | EditDraft | ReadAudit),
            Role::Publisher => matches!(action, ReadDraft | Publish | ReadAudit),
            Role::Registrations => {
                matches!(action, ReadRegistrations | ManageRegistrations | ReadAudit)
            }
            Role::Viewer => matches!(action, ReadDraft | ReadAudit),
        }
    }
}

/// What an organizer request does, as far as permission goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    ReadDraft,
    EditDraft,
    Publish,
    /// Registrations (JSON or CSV) and the messages sent to registrants:
    /// personal data.
    ReadRegistrations,
    /// Cancelling or erasing for a registrant, sending a message again.
    ManageRegistrations,
    ReadAudit,
    ManageWebhook,
    /// Accounts, their API tokens, the bootstrap token and the audit log
    /// of all of it: never granted for one event only.
    ManageAccounts,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::ReadDraft,
        Action::EditDraft,
        Action::Publish,
        Action::ReadRegistrations,
        Action::ManageRegistrations,
        Action::ReadAudit,
        Action::ManageWebhook,
        Action::ManageAccounts,
    ];

    /// Whether it acts on one event (the route's `{slug}`) rather than on
    /// the organization.
    pub fn on_event(self) -> bool {
        self != Action::ManageAccounts
    }

    /// The action an organizer route's method needs; `None` for a route
    /// that is not an organizer route, or that any signed-in organizer may
    /// call (`/api/admin/me`, ending their own sign-in), or that anyone may
    /// (opening a sign-in, asking for a link), or a method the route does
    /// not answer.
    pub fn of(route: Route, method: &str) -> Option<Action> {
        use Action::*;
        if !route.accepts(method) {
            return None;
        }
        let reading = method == "GET";
        Some(match route {
            Route::AdminEvent | Route::AdminSession | Route::AdminSpeaker => EditDraft,
            Route::AdminDraft if reading => ReadDraft,
            Route::AdminDraft => EditDraft,
            Route::AdminPublish | Route::AdminRollback | Route::AdminArchive => Publish,
            Route::AdminRegistrations | Route::AdminOutbox => ReadRegistrations,
            Route::AdminSessionSeats | Route::AdminWaitingRoom if reading => ReadRegistrations,
            Route::AdminRegistration
            | Route::AdminResend
            | Route::AdminSessionSeats
            | Route::AdminWaitingRoom => ManageRegistrations,
            Route::AdminAudit => ReadAudit,
            Route::AdminWebhook => ManageWebhook,
            Route::AdminAccounts
            | Route::AdminAccount
            | Route::AdminAccountTokens
            | Route::AdminToken
            | Route::AdminBootstrapToken
            | Route::AdminAuditAll
            | Route::AdminAccountSignIns
            | Route::AdminSignInById
            | Route::AdminOutboxAll => ManageAccounts,
            _ => return None,
        })
    }
}

/// One role, for one event or (`event` absent) for every event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Slug>,
}

impl Grant {
    pub fn everywhere(role: Role) -> Self {
        Self { role, event: None }
    }

    fn allows(&self, action: Action, event: Option<&str>) -> bool {
        self.role.allows(action)
            && match (&self.event, action.on_event()) {
                (None, _) => true,
                (Some(_), false) => false,
                (Some(granted), true) => event == Some(granted.as_str()),
            }
    }
}

/// Whether `grants` allow `action` on `event` (the route's slug; `None`
/// for an action on the organization).
pub fn may(grants: &[Grant], action: Action, event: Option<&str>) -> bool {
    grants.iter().any(|grant| grant.allows(action, event))
}

/// Whether `grants` can manage the organization's accounts: what someone
/// must still hold once the bootstrap token is off, or nobody could.
pub fn manages_accounts(grants: &[Grant]) -> bool {
    may(grants, Action::ManageAccounts, None)
}

/// Whether every grant of `inner` gives nothing that `outer` does not:
/// an API token's grants within its account's.
pub fn within(inner: &[Grant], outer: &[Grant]) -> bool {
    inner.iter().all(|grant| {
        let event = grant.event.as_ref().map(Slug::as_str);
        Action::ALL
            .iter()
            .filter(|&&action| grant.allows(action, event))
            .all(|&action| may(outer, action, event))
    })
}

/// The most grants one account or token holds.
pub const MAX_GRANTS: usize = 100;

/// A list of grants as an organizer writes it, `[{"role": "editor",
/// "event": "summit"}, {"role": "viewer"}]`, at `field`; repeats are kept
/// once.
pub fn grants(input: &Value, field: &str) -> Result<Vec<Grant>, Vec<FieldError>> {
    let invalid = |at: String, message: &str| vec![FieldError::new(at, message)];
    let Some(items) = input.as_array() else {
        return Err(invalid(field.into(), "must be a list of grants"));
    };
    if items.len() > MAX_GRANTS {
        return Err(invalid(
            field.into(),
            &format!("must hold at most {MAX_GRANTS} grants"),
        ));
    }
    let mut errors = Vec::new();
    let mut list: Vec<Grant> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("{field}[{index}]");
        let Some(object) = item.as_object() else {
            errors.push(FieldError::new(at, "must be an object with a role"));
            continue;
        };
        if let Some(other) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "role" | "event"))
        {
            errors.push(FieldError::new(
                format!("{at}.{other}"),
                "is not a recognized field",
            ));
            continue;
        }
        let role = object
            .get("role")
            .and_then(|r| serde_json::from_value::<Role>(r.clone()).ok());
        let event = match object.get("event") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Slug::parse(s).map(Some).map_err(|e| e.0),
            Some(_) => Err("must be an event's slug"),
        };
        match (role, event) {
            (None, _) => errors.push(FieldError::new(
                format!("{at}.role"),
                "must be one of owner, editor, publisher, registrations, viewer",
            )),
            (_, Err(why)) => errors.push(FieldError::new(format!("{at}.event"), why)),
            (Some(role), Ok(event)) => {
                let grant = Grant { role, event };
                if !list.contains(&grant) {
                    list.push(grant);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(list)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn on(role: Role, event: &str) -> Grant {
        Grant {
            role,
            event: Some(Slug::parse(event).unwrap()),
        }
    }

    /// The whole matrix, written out: which role may take which action.
    #[test]
    fn every_role_may_take_exactly_its_actions() {
        use Action::*;
        let expected = |role: Role| -> &'static [Action] {
            match role {
                Role::Owner => &Action::ALL,
                Role::Editor => &[ReadDraft, EditDraft, ReadAudit],
                Role::Publisher => &[ReadDraft, Publish, ReadAudit],
                Role::Registrations => &[ReadRegistrations, ManageRegistrations, ReadAudit],
                Role::Viewer => &[ReadDraft, ReadAudit],
            }
        };
        for role in Role::ALL {
            let grants = [Grant::everywhere(role)];
            for action in Action::ALL {
                let event = action.on_event().then_some("summit");
                assert_eq!(
                    may(&grants, action, event),
                    expected(role).contains(&action),
                    "{role:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn a_grant_for_one_event_allows_nothing_on_another_nor_on_accounts() {
        for role in Role::ALL {
            let grants = [on(role, "summit")];
            for action in Action::ALL {
                let everywhere = may(&[Grant::everywhere(role)], action, Some("summit"));
                if action.on_event() {
                    assert_eq!(may(&grants, action, Some("summit")), everywhere);
                } else {
                    assert!(!may(&grants, action, None), "{role:?} {action:?}");
                }
                assert!(!may(&grants, action, Some("other")), "{role:?} {action:?}");
            }
        }
        assert!(!may(&[], Action::ReadAudit, Some("summit")));
    }

    #[test]
    fn only_an_owner_of_every_event_manages_accounts() {
        assert!(manages_accounts(&[Grant::everywhere(Role::Owner)]));
        assert!(!manages_accounts(&[on(Role::Owner, "summit")]));
        let others = Role::ALL.map(Grant::everywhere)[1..].to_vec();
        assert!(!manages_accounts(&others));
        assert!(!manages_accounts(&[]));
    }

    #[test]
    fn grants_add_up() {
        let grants = [on(Role::Editor, "summit"), on(Role::Publisher, "summit")];
        assert!(may(&grants, Action::EditDraft, Some("summit")));
        assert!(may(&grants, Action::Publish, Some("summit")));
        assert!(!may(&grants, Action::ReadRegistrations, Some("summit")));
    }

    #[test]
    fn every_organizer_route_and_method_names_its_action() {
        for &route in Route::ALL {
            for method in route.methods() {
                let organizer = route.template().starts_with("/api/admin/");
                let action = Action::of(route, method);
                let anyone = [Route::AdminMe, Route::AdminSignIn, Route::AdminSignInLink];
                assert_eq!(
                    action.is_some(),
                    organizer && !anyone.contains(&route),
                    "{method} {}",
                    route.template()
                );
                // An action on one event needs the route to name it.
                if let Some(action) = action {
                    assert_eq!(
                        action.on_event(),
                        route.template().contains("{slug}"),
                        "{method} {}",
                        route.template()
                    );
                }
            }
        }
        assert_eq!(
            Action::of(Route::AdminDraft, "GET"),
            Some(Action::ReadDraft)
        );
        assert_eq!(
            Action::of(Route::AdminDraft, "PUT"),
            Some(Action::EditDraft)
        );
        assert_eq!(Action::of(Route::AdminDraft, "POST"), None);
    }

    #[test]
    fn a_token_stays_within_its_account() {
        let owner = [Grant::everywhere(Role::Owner)];
        let editor = [on(Role::Editor, "summit")];
        assert!(within(&editor, &owner));
        assert!(within(&[on(Role::Viewer, "summit")], &editor));
        assert!(within(&[], &editor));
        assert!(!within(&owner, &editor));
        assert!(!within(&[on(Role::Editor, "other")], &editor));
        assert!(!within(&[Grant::everywhere(Role::Editor)], &editor));
        assert!(!within(&[on(Role::Publisher, "summit")], &editor));
        // An owner of one event is not an owner of the organization.
        assert!(!within(&owner, &[on(Role::Owner, "summit")]));
    }

    #[test]
    fn grants_are_parsed_with_every_error_named() {
        let parsed = grants(
            &json!([{"role": "editor", "event": "summit"}, {"role": "viewer"},
                    {"role": "viewer", "event": null}]),
            "grants",
        )
        .unwrap();
        assert_eq!(
            parsed,
            [on(Role::Editor, "summit"), Grant::everywhere(Role::Viewer)]
        );
        let errors = grants(
            &json!([{"role": "admin"}, {"role": "viewer", "event": "Bad Slug"},
                    {"role": "viewer", "scope": 1}, 7]),
            "grants",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "grants[0].role",
                "grants[1].event",
                "grants[2].scope",
                "grants[3]"
            ]
        );
        assert!(grants(&json!({"role": "owner"}), "grants").is_err());
        let many: Vec<Value> = (0..=MAX_GRANTS)
            .map(|i| json!({"role": "viewer", "event": format!("e{i}")}))
            .collect();
        assert!(grants(&Value::Array(many), "grants").is_err());
    }
}
