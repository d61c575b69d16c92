//! What registrants are told by email, composed from plain data: one
//! message per change to their registration, as plain text and simple
//! HTML, with the event's start in the event's own time zone. A message
//! links only to its own registration, its token in the link's fragment
//! (which browsers never send to a server), so a forwarded email lets its
//! reader act on that one registration and nothing else.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use quick_xml::escape::escape;

/// Why a registrant is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Confirmed,
    Waitlisted {
        position: u32,
    },
    /// A seat came free and is now theirs.
    Promoted,
    Cancelled,
    /// Someone submitted an address that is already registered: its
    /// holder gets a working manage link, and nobody else learns anything.
    LinkAgain,
    /// A registration is held until `hold_expires_at` for its address to
    /// be confirmed by the link in this message.
    Pending {
        hold_expires_at: Timestamp,
    },
    /// An address whose registration still waits for confirmation was
    /// submitted again: the confirmation link, once more.
    ConfirmAgain {
        hold_expires_at: Timestamp,
    },
    /// The hold lapsed unconfirmed; its place went to the next in line.
    Expired,
    /// A seat came free in a session they waited in line for, and it is
    /// theirs (the message's `SessionAbout` says which).
    SessionSeat,
}

impl Notice {
    /// The message's kind as stored and listed.
    pub fn kind(self) -> &'static str {
        match self {
            Notice::Confirmed => "confirmed",
            Notice::Waitlisted { .. } => "waitlisted",
            Notice::Promoted => "promoted",
            Notice::Cancelled => "cancelled",
            Notice::LinkAgain => "link_again",
            Notice::Pending { .. } => "pending",
            Notice::ConfirmAgain { .. } => "confirm_again",
            Notice::Expired => "expired",
            Notice::SessionSeat => "session_seat",
        }
    }

    /// The registration's status after the change; `None` when nothing
    /// changed (a link sent again).
    pub fn status(self) -> Option<&'static str> {
        match self {
            Notice::Confirmed | Notice::Promoted | Notice::SessionSeat => Some("confirmed"),
            Notice::Waitlisted { .. } => Some("waitlisted"),
            Notice::Cancelled => Some("cancelled"),
            Notice::Pending { .. } => Some("pending"),
            Notice::Expired => Some("expired"),
            Notice::LinkAgain | Notice::ConfirmAgain { .. } => None,
        }
    }
}

/// The event a message is about (read from its published draft's `event`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct EventAbout {
    pub name: String,
    /// An IANA zone name, as the event's draft has it.
    pub timezone: String,
    pub starts_at: Timestamp,
}

/// A composed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where a registration is managed on the attendee site at `public_url`.
pub fn manage_link(public_url: &str, id: &str, token: &str) -> String {
    format!(
        "{}/registrations/{id}#token={token}",
        public_url.trim_end_matches('/')
    )
}

/// Where a pending registration is confirmed on the attendee site.
pub fn confirm_link(public_url: &str, id: &str, token: &str) -> String {
    format!(
        "{}/registrations/{id}/confirm#token={token}",
        public_url.trim_end_matches('/')
    )
}

/// The links a message carries, each holding a token of its registration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Links<'a> {
    pub manage: Option<&'a str>,
    pub confirm: Option<&'a str>,
}

/// `Tuesday 8 June 2027, 09:00 (Europe/Lisbon)`: `at` on the event's own
/// wall clock, named, so a reader abroad is not misled. An unknown zone
/// falls back to UTC.
fn local_time(event: &EventAbout, at: Timestamp) -> String {
    let (zone, name) = match TimeZone::get(&event.timezone) {
        Ok(zone) => (zone, event.timezone.as_str()),
        Err(_) => (TimeZone::UTC, "UTC"),
    };
    let local = at.to_zoned(zone);
    format!("{} ({name})", local.strftime("%A %-d %B %Y, %H:%M"))
}

/// The message telling `attendee` about `notice` for `event`, with the
/// registration's `links` that it carries; `None` for a lapsed hold. A
/// hold lapses only for an address that never confirmed anything, so it
/// may not be the registrant's: whoever typed it into the form must not
/// be able to have the organizer write to it a second time.
pub fn compose(
    notice: Notice,
    event: &EventAbout,
    attendee: &str,
    links: Links<'_>,
) -> Option<Message> {
    let name = &event.name;
    let (subject, lines): (String, Vec<String>) = match notice {
        Notice::Confirmed => (
            format!("You are registered for {name}"),
            vec![format!("Your seat at {name} is confirmed.")],
        ),
        Notice::Waitlisted { position } => (
            format!("You are on the waitlist for {name}"),
            vec![
                format!(
                    "Every seat at {name} is taken; you are number {position} on the waitlist."
                ),
                "If a seat comes free, it goes to the first in line, and we write to you.".into(),
            ],
        ),
        Notice::Promoted => (
            format!("A seat at {name} is yours"),
            vec![format!(
                "A seat came free at {name}, and it is now yours: your registration is confirmed."
            )],
        ),
        Notice::Cancelled => (
            format!("Your registration for {name} is cancelled"),
            vec![format!(
                "Your registration for {name} is cancelled; your place went to the next in line, if anyone waited."
            )],
        ),
        Notice::LinkAgain => (
            format!("Your registration for {name}"),
            vec![
                format!(
                    "Someone, perhaps you, tried to register this address for {name} again. It is already registered; nothing changed."
                ),
                "Here is a link to manage that registration.".into(),
            ],
        ),
        Notice::Pending { hold_expires_at } => (
            format!("Confirm your registration for {name}"),
            vec![
                format!("This address was registered for {name}, we hope by you."),
                format!(
                    "Your place is held until {}: open the confirmation link below before then to make it yours. If it was not you, do nothing: the hold lapses, and this address hears nothing more from us about it.",
                    local_time(event, hold_expires_at)
                ),
            ],
        ),
        Notice::ConfirmAgain { hold_expires_at } => (
            format!("Confirm your registration for {name}"),
            vec![
                format!(
                    "Someone, perhaps you, tried to register this address for {name} again. Its registration is still waiting to be confirmed; nothing changed."
                ),
                format!(
                    "Your place is held until {}: open the confirmation link below before then to make it yours.",
                    local_time(event, hold_expires_at)
                ),
            ],
        ),
        Notice::Expired => return None,
        Notice::SessionSeat => return None,
    };
    Some(assemble(subject, &lines, event, attendee, links))
}

/// A session with seats, as a message about it names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAbout {
    pub id: String,
    pub title: String,
    pub starts_at: Timestamp,
}

/// The message telling `attendee` that a seat in `session` of `event`,
/// for which they waited in line, is now theirs.
pub fn session_seat(
    session: &SessionAbout,
    event: &EventAbout,
    attendee: &str,
    links: Links<'_>,
) -> Message {
    let title = &session.title;
    let lines = [
        format!(
            "A seat came free in “{title}” ({}), and it is now yours.",
            local_time(event, session.starts_at)
        ),
        "If you cannot come after all, release it from your registration's page, so that the next in line gets it.".to_string(),
    ];
    assemble(
        format!("A seat in “{title}” is yours"),
        &lines,
        event,
        attendee,
        links,
    )
}

/// A message of `lines`, then when the event starts and the `links`.
fn assemble(
    subject: String,
    lines: &[String],
    event: &EventAbout,
    attendee: &str,
    links: Links<'_>,
) -> Message {
    let when = format!("The event starts {}.", local_time(event, event.starts_at));
    let confirm_line = links.confirm.map(|link| {
        format!("Confirm your registration (this link is yours alone; do not forward it): {link}")
    });
    let manage_line = links.manage.map(|link| {
        format!(
            "See or cancel your registration (this link is yours alone; do not forward it): {link}"
        )
    });
    let mut text = format!("Hello {attendee},\n\n");
    for line in lines
        .iter()
        .chain([&when])
        .chain(confirm_line.as_ref())
        .chain(manage_line.as_ref())
    {
        text.push_str(line);
        text.push_str("\n\n");
    }
    text.push_str("— Eventfront\n");

    let mut html = format!("<p>Hello {},</p>\n", escape(attendee));
    for line in lines.iter().chain([&when]) {
        html.push_str(&format!("<p>{}</p>\n", escape(line.as_str())));
    }
    if let Some(link) = links.confirm {
        let link = escape(link);
        html.push_str(&format!(
            "<p><a href=\"{link}\">Confirm your registration</a> (this link is yours alone; do not forward it).</p>\n"
        ));
    }
    if let Some(link) = links.manage {
        let link = escape(link);
        html.push_str(&format!(
            "<p><a href=\"{link}\">See or cancel your registration</a> (this link is yours alone; do not forward it).</p>\n"
        ));
    }
    html.push_str("<p>— Eventfront</p>\n");
    Message {
        subject,
        text,
        html,
    }
}

/// Where a sign-in link opens the organizer page on the site at
/// `public_url`: the secret in the fragment, which no request carries.
pub fn sign_in_link(public_url: &str, secret: &str) -> String {
    format!(
        "{}/admin/#sign-in={secret}",
        public_url.trim_end_matches('/')
    )
}

/// The mail that carries an organizer's sign-in `link`, good for
/// `minutes`.
pub fn sign_in(name: &str, link: &str, minutes: i64) -> Message {
    let why = format!(
        "Someone, we hope you, asked to sign in to Eventfront's organizer pages with this address. The link below signs you in once, within {minutes} minutes. If it was not you, do nothing."
    );
    with_sign_in_link("Your Eventfront sign-in link", name, &why, link)
}

/// The mail that invites `name` to the organizer pages on behalf of
/// `inviter`, with a sign-in `link` good for `days`.
pub fn invitation(name: &str, inviter: &str, link: &str, days: i64) -> Message {
    let why = format!(
        "{inviter} gave this address an account on Eventfront's organizer pages. The link below signs you in once, within {days} days; after that, ask the sign-in page for a new link with this address."
    );
    with_sign_in_link(
        "You are invited to organize with Eventfront",
        name,
        &why,
        link,
    )
}

/// A mail to organizer `name` saying `why`, then the sign-in `link`.
fn with_sign_in_link(subject: &str, name: &str, why: &str, link: &str) -> Message {
    let text = format!(
        "Hello {name},\n\n{why}\n\nSign in (this link is yours alone; do not forward it): {link}\n\n— Eventfront\n"
    );
    let html = format!(
        "<p>Hello {},</p>\n<p>{}</p>\n<p><a href=\"{}\">Sign in</a> (this link is yours alone; do not forward it).</p>\n<p>— Eventfront</p>\n",
        escape(name),
        escape(why),
        escape(link)
    );
    Message {
        subject: subject.to_string(),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventAbout {
        EventAbout {
            name: "Wasm <Edge> & Summit".into(),
            timezone: "Europe/Lisbon".into(),
            starts_at: "2027-06-08T08:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn times_are_the_events_own_wall_clock() {
        let message = compose(Notice::Confirmed, &event(), "Ada", Links::default()).unwrap();
        // 08:00 UTC is 09:00 in Lisbon in summer.
        assert!(
            message
                .text
                .contains("Tuesday 8 June 2027, 09:00 (Europe/Lisbon)"),
            "{}",
            message.text
        );
        let nowhere = EventAbout {
            timezone: "Mars/Olympus".into(),
            ..event()
        };
        assert!(
            compose(Notice::Confirmed, &nowhere, "Ada", Links::default())
                .unwrap()
                .text
                .contains("08:00 (UTC)")
        );
    }

    #[test]
    fn html_escapes_what_people_typed_and_text_keeps_it() {
        let link = manage_link("https://events.example.com/", "r1", "t0k");
        assert_eq!(
            link,
            "https://events.example.com/registrations/r1#token=t0k"
        );
        let message = compose(
            Notice::Promoted,
            &event(),
            "<b>Ada</b>",
            Links {
                manage: Some(&link),
                confirm: None,
            },
        )
        .unwrap();
        assert!(message.html.contains("Hello &lt;b&gt;Ada&lt;/b&gt;"));
        assert!(message.html.contains("Wasm &lt;Edge&gt; &amp; Summit"));
        assert!(!message.html.contains("<b>"));
        assert!(message.html.contains(&format!("href=\"{link}\"")));
        assert!(message.text.contains("Hello <b>Ada</b>"));
        assert!(message.text.contains(&link));
        assert_eq!(message.subject, "A seat at Wasm <Edge> & Summit is yours");
    }

    #[test]
    fn each_notice_says_what_happened_and_links_only_when_given_a_link() {
        let cases = [
            (Notice::Confirmed, "is confirmed"),
            (
                Notice::Waitlisted { position: 3 },
                "number 3 on the waitlist",
            ),
            (Notice::Promoted, "it is now yours"),
            (Notice::Cancelled, "is cancelled"),
            (Notice::LinkAgain, "already registered; nothing changed"),
            (
                Notice::Pending {
                    hold_expires_at: "2027-05-01T10:30:00Z".parse().unwrap(),
                },
                "held until Saturday 1 May 2027, 11:30 (Europe/Lisbon)",
            ),
            (
                Notice::ConfirmAgain {
                    hold_expires_at: "2027-05-01T10:30:00Z".parse().unwrap(),
                },
                "still waiting to be confirmed",
            ),
        ];
        for (notice, says) in cases {
            let bare = compose(notice, &event(), "Ada", Links::default()).unwrap();
            assert!(bare.text.contains(says), "{}: {}", notice.kind(), bare.text);
            assert!(!bare.text.contains("http"), "no link was given");
            let linked = compose(
                notice,
                &event(),
                "Ada",
                Links {
                    manage: None,
                    confirm: Some("https://x/registrations/1/confirm#token=c"),
                },
            )
            .unwrap();
            assert!(linked.text.contains("/confirm#token=c"));
            assert!(linked.html.contains("Confirm your registration</a>"));
        }
        let lapsed = compose(Notice::Expired, &event(), "Ada", Links::default());
        assert!(
            lapsed.is_none(),
            "an address that never confirmed is not written to again"
        );
        assert_eq!(
            confirm_link("https://x/", "r1", "c0"),
            "https://x/registrations/r1/confirm#token=c0"
        );
    }

    #[test]
    fn a_sign_in_mail_carries_its_link_in_the_fragment_and_escapes_the_name() {
        let link = sign_in_link("https://events.example.com/", "abc");
        assert_eq!(link, "https://events.example.com/admin/#sign-in=abc");
        let mail = sign_in("Ada <script>", &link, 15);
        assert!(mail.text.contains(&link));
        assert!(mail.text.contains("within 15 minutes"));
        assert!(mail.html.contains("Ada &lt;script&gt;"));
        assert!(
            mail.html
                .contains("href=\"https://events.example.com/admin/#sign-in=abc\"")
        );
    }
}
