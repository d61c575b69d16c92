//! Every route of the public HTTP contract (`docs/api.md`, machine-readable
//! in `docs/openapi.json`) in one table: the edge and the origin both
//! dispatch by it, and the contract tests check the document against it, so
//! a route cannot be answered without being documented. Pages and static
//! files are not routes: whatever matches nothing here is one.

/// Declares the routes once: name, path template, allowed methods.
macro_rules! routes {
    ($($(#[$doc:meta])* $name:ident => $template:literal, $allow:literal;)+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Route {
            $($(#[$doc])* $name,)+
        }

        impl Route {
            pub const ALL: &[Route] = &[$(Route::$name,)+];

            /// The path as the contract writes it, `{slug}` and `{id}` for
            /// the variable segments.
            pub fn template(self) -> &'static str {
                match self {
                    $(Route::$name => $template,)+
                }
            }

            /// The methods it answers, as an `Allow` header lists them.
            pub fn allow(self) -> &'static str {
                match self {
                    $(Route::$name => $allow,)+
                }
            }
        }
    };
}

routes! {
    /// The edge's own health: its region, KV and what it holds.
    Health => "/api/health", "GET";
    /// `docs/openapi.json`.
    OpenApi => "/api/openapi.json", "GET";
    Events => "/api/events", "GET";
    Event => "/api/events/{slug}", "GET";
    Sessions => "/api/events/{slug}/sessions", "GET";
    Session => "/api/events/{slug}/sessions/{id}", "GET";
    SessionIcs => "/api/events/{slug}/sessions/{id}/session.ics", "GET";
    /// Live places in the sessions attendees pick: the event's seat counts.
    Seats => "/api/events/{slug}/seats", "GET";
    Speakers => "/api/events/{slug}/speakers", "GET";
    Speaker => "/api/events/{slug}/speakers/{id}", "GET";
    Changelog => "/api/events/{slug}/changelog", "GET";
    ChangelogAtom => "/api/events/{slug}/changelog.atom", "GET";
    ScheduleIcs => "/api/events/{slug}/schedule.ics", "GET";
    ScheduleJson => "/api/events/{slug}/schedule.json", "GET";
    ScheduleXml => "/api/events/{slug}/schedule.xml", "GET";
    /// The event's waiting room: a ticket taken (POST), or its place told
    /// (GET, the ticket in `Eventfront-Ticket`); answered by the edge.
    WaitingRoom => "/api/events/{slug}/waiting-room", "GET, POST";
    Register => "/api/events/{slug}/registrations", "POST";
    Registration => "/api/registrations/{id}", "GET, DELETE";
    /// A pending registration confirmed by the link its email carries.
    ConfirmRegistration => "/api/registrations/{id}/confirm", "POST";
    /// A session with seats picked, or released, for a registration.
    RegistrationSession => "/api/registrations/{id}/sessions/{session}", "POST, DELETE";
    AdminEvent => "/api/admin/events/{slug}", "PUT";
    AdminDraft => "/api/admin/events/{slug}/draft", "GET, PUT";
    AdminSession => "/api/admin/events/{slug}/sessions/{id}", "PUT, DELETE";
    /// A session's seats: listed (or CSV), or one given or moved by hand.
    AdminSessionSeats => "/api/admin/events/{slug}/sessions/{id}/seats", "GET, POST";
    AdminSpeaker => "/api/admin/events/{slug}/speakers/{id}", "PUT, DELETE";
    AdminPublish => "/api/admin/events/{slug}/publish", "POST";
    AdminRollback => "/api/admin/events/{slug}/rollback", "POST";
    AdminArchive => "/api/admin/events/{slug}/archive", "POST";
    AdminRegistrations => "/api/admin/events/{slug}/registrations", "GET";
    /// One registration cancelled for its registrant, or also erased.
    AdminRegistration => "/api/admin/events/{slug}/registrations/{id}", "DELETE";
    AdminAudit => "/api/admin/events/{slug}/audit", "GET";
    AdminOutbox => "/api/admin/events/{slug}/outbox", "GET";
    AdminResend => "/api/admin/events/{slug}/outbox/{id}/resend", "POST";
    AdminWebhook => "/api/admin/events/{slug}/webhook", "GET, PUT, DELETE";
    /// The event's waiting room: its settings, its crowd and admission.
    AdminWaitingRoom => "/api/admin/events/{slug}/waiting-room", "GET, PUT, DELETE";
    /// Who the bearer is and what they may do.
    AdminMe => "/api/admin/me", "GET";
    AdminAccounts => "/api/admin/accounts", "GET, POST";
    AdminAccount => "/api/admin/accounts/{id}", "GET, PUT, DELETE";
    /// An account's API tokens: listed, or a new one minted (shown once).
    AdminAccountTokens => "/api/admin/accounts/{id}/tokens", "GET, POST";
    /// One API token, revoked.
    AdminToken => "/api/admin/tokens/{id}", "DELETE";
    /// The configured bootstrap token, turned off once owners have accounts.
    AdminBootstrapToken => "/api/admin/bootstrap-token", "DELETE";
    /// The audit log of every event and of the accounts.
    AdminAuditAll => "/api/admin/audit", "GET";
    /// A browser's sign-in: a session opened (its cookie set) with a token
    /// or a mailed link, or ended.
    AdminSignIn => "/api/admin/sign-in", "POST, DELETE";
    /// A sign-in link mailed to an account's address, asked for by anyone.
    AdminSignInLink => "/api/admin/sign-in-link", "POST";
    /// An account's browser sessions.
    AdminAccountSignIns => "/api/admin/accounts/{id}/sign-ins", "GET";
    /// One browser session, ended by an owner.
    AdminSignInById => "/api/admin/sign-ins/{id}", "DELETE";
    /// The organization's own mail (sign-in links), for owners.
    AdminOutboxAll => "/api/admin/outbox", "GET";
    /// What an edge holds, for operators.
    EdgeStatus => "/_edge/status", "GET";
    /// The origin's signed notice of a new version.
    EdgePublish => "/_edge/publish", "POST";
}

/// A path matched to its route, with the variable segments it named (empty
/// where the template has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found<'a> {
    pub route: Route,
    pub slug: &'a str,
    pub id: &'a str,
    /// A session of a registration's (`{session}`).
    pub session: &'a str,
}

impl Route {
    /// The route `path` (without its query) belongs to, if any.
    pub fn find(path: &str) -> Option<Found<'_>> {
        Route::ALL.iter().find_map(|&route| route.matches(path))
    }

    fn matches(self, path: &str) -> Option<Found<'_>> {
        let mut found = Found {
            route: self,
            slug: "",
            id: "",
            session: "",
        };
        let mut segments = path.strip_prefix('/')?.split('/');
        for part in self.template()[1..].split('/') {
            let segment = segments.next()?;
            match part {
                "{slug}" if !segment.is_empty() => found.slug = segment,
                "{id}" if !segment.is_empty() => found.id = segment,
                "{session}" if !segment.is_empty() => found.session = segment,
                literal if literal == segment => {}
                _ => return None,
            }
        }
        segments.next().is_none().then_some(found)
    }

    /// The methods it answers, one by one.
    pub fn methods(self) -> impl Iterator<Item = &'static str> {
        self.allow().split(", ")
    }

    pub fn accepts(self, method: &str) -> bool {
        self.methods().any(|m| m == method)
    }

    /// The largest request body the route takes, as the edge forwards it
    /// and the origin reads it: only a whole draft's import is large, so
    /// no other route (whatever its `Authorization` says) makes either
    /// read much.
    pub fn body_limit(self) -> usize {
        match self {
            Route::AdminDraft => 4 << 20,
            Route::AdminEvent | Route::AdminSession | Route::AdminSpeaker => 64 << 10,
            // An account's grants, up to `access::MAX_GRANTS` of them.
            Route::AdminAccounts | Route::AdminAccount | Route::AdminAccountTokens => 16 << 10,
            Route::Register
            | Route::Registration
            | Route::ConfirmRegistration
            | Route::RegistrationSession => 8 << 10,
            // Notes, webhook settings; reads and deletes carry none.
            _ => 4 << 10,
        }
    }

    /// Whether the origin answers it: the edge forwards it, signed.
    pub fn forwarded(self) -> bool {
        self.template().starts_with("/api/admin/")
            || matches!(
                self,
                Route::Register
                    | Route::Registration
                    | Route::ConfirmRegistration
                    | Route::RegistrationSession
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills a template's variables with sample values.
    fn sample(route: Route) -> String {
        route
            .template()
            .replace("{slug}", "summit")
            .replace("{id}", "talk-1")
            .replace("{session}", "lab-1")
    }

    #[test]
    fn every_route_is_found_by_its_own_template_and_names_its_segments() {
        for &route in Route::ALL {
            let path = sample(route);
            let found = Route::find(&path).unwrap_or_else(|| panic!("{path} is not found"));
            assert_eq!(found.route, route, "{path}");
            let template = route.template();
            assert_eq!(
                found.slug,
                if template.contains("{slug}") {
                    "summit"
                } else {
                    ""
                }
            );
            assert_eq!(
                found.id,
                if template.contains("{id}") {
                    "talk-1"
                } else {
                    ""
                }
            );
            assert_eq!(
                found.session,
                if template.contains("{session}") {
                    "lab-1"
                } else {
                    ""
                }
            );
        }
    }

    #[test]
    fn paths_longer_shorter_or_with_empty_segments_are_no_route() {
        for path in [
            "",
            "/",
            "/api",
            "/api/events/",
            "/api/events//sessions",
            "/api/events/summit/sessions/",
            "/api/events/summit/sessions/a/b",
            "/api/events/summit/other",
            "/api/admin/events/summit/nothing",
            "/api/registrations",
            "/_edge",
            "/index.html",
            "api/events",
        ] {
            assert_eq!(Route::find(path), None, "{path:?}");
        }
    }

    #[test]
    fn methods_come_from_the_allow_list() {
        assert!(Route::Registration.accepts("GET"));
        assert!(Route::Registration.accepts("DELETE"));
        assert!(!Route::Registration.accepts("PUT"));
        assert_eq!(
            Route::AdminDraft.methods().collect::<Vec<_>>(),
            ["GET", "PUT"]
        );
    }

    #[test]
    fn only_a_draft_import_takes_a_large_body() {
        let large: Vec<Route> = Route::ALL
            .iter()
            .copied()
            .filter(|r| r.body_limit() > 64 << 10)
            .collect();
        assert_eq!(large, [Route::AdminDraft]);
        assert_eq!(Route::Register.body_limit(), 8 << 10);
        assert_eq!(Route::AdminWebhook.body_limit(), 4 << 10);
    }

    #[test]
    fn writes_and_organizer_routes_are_the_forwarded_ones() {
        let forwarded: Vec<Route> = Route::ALL
            .iter()
            .copied()
            .filter(|r| r.forwarded())
            .collect();
        assert_eq!(forwarded.len(), 31);
        assert!(forwarded.contains(&Route::Register));
        assert!(forwarded.contains(&Route::Registration));
        assert!(forwarded.contains(&Route::ConfirmRegistration));
        assert!(forwarded.contains(&Route::AdminAudit));
        assert!(!Route::Sessions.forwarded());
        assert!(!Route::EdgePublish.forwarded());
        assert!(!Route::WaitingRoom.forwarded(), "the edge answers it alone");
        assert!(Route::AdminWaitingRoom.forwarded());
    }
}
