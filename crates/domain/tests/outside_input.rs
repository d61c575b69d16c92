//! Property tests over every parser in the domain crate that takes input
//! from outside: whatever arrives, none panics, and every refusal says
//! why (a field error, a message, a signature error). A bounded number of
//! cases per property keeps the run short.

use bytes::Bytes;
use eventfront_domain::body::{BodyError, read_limited};
use eventfront_domain::conditional::none_match;
use eventfront_domain::filter::SessionFilter;
use eventfront_domain::signing::{Direction, Message, Secret, Verifier};
use eventfront_domain::{Email, IdempotencyKey, Slug, validate};
use proptest::prelude::*;
use serde_json::Value;

const SECRET: &str = "property-test-secret-0123456789";

/// Field names the parsers know, so generated objects reach deep into them.
const KEYS: &[&str] = &[
    "event",
    "sessions",
    "speakers",
    "name",
    "timezone",
    "starts_at",
    "ends_at",
    "venue",
    "tracks",
    "rooms",
    "registration",
    "id",
    "title",
    "abstract",
    "track",
    "room",
    "capacity",
    "open",
    "opens_at",
    "closes_at",
    "bio",
    "affiliation",
    "links",
    "tags",
    "description",
    "email",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            ".{0,40}",
            Just("2027-06-08T09:00:00+01:00".to_string()),
            Just("Europe/Lisbon".to_string()),
            "[a-z0-9-]{1,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![prop::sample::select(KEYS).prop_map(String::from), ".{0,8}"],
                    inner
                ),
                0..8
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1_000,
        // Failures are reported with their minimal input; no files written.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn drafts_and_their_parts_are_parsed_or_refused_by_field(input in json()) {
        if let Err(errors) = validate::draft(&input) {
            prop_assert!(!errors.is_empty());
            // Every error names what is wrong (the field is the key as sent,
            // which may itself be the empty string).
            prop_assert!(errors.iter().all(|e| !e.message.is_empty()));
        }
        if let Err(errors) = validate::event(&input) {
            prop_assert!(!errors.is_empty());
        }
        let id = Slug::parse("someone").unwrap();
        if let Err(errors) = validate::speaker(&id, &input) {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn registrations_are_parsed_or_refused_by_field(input in json(), name in ".{0,220}", email in ".{0,80}") {
        for body in [input, serde_json::json!({"name": name, "email": email})] {
            match validate::registration(&body) {
                Ok(new) => {
                    // What comes out can be written on one line anywhere.
                    prop_assert!(!new.name.is_empty() && !new.name.chars().any(char::is_control));
                    prop_assert!(new.name.chars().count() <= validate::MAX_NAME);
                }
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    prop_assert!(errors.iter().all(|e| !e.message.is_empty()));
                }
            }
        }
    }

    #[test]
    fn query_filters_are_parsed_or_refused_with_a_message(query in ".{0,80}") {
        if let Err(message) = SessionFilter::parse(&query) {
            prop_assert!(!message.is_empty());
        }
    }

    #[test]
    fn filters_built_from_known_keys_never_panic(
        pairs in prop::collection::vec(
            (prop::sample::select(&["day", "track", "room", "q", "tz", "sessions", "x"][..]), ".{0,20}"),
            0..5,
        )
    ) {
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        let _ = SessionFilter::parse(&query);
    }

    #[test]
    fn identifiers_from_clients_never_panic(s in ".{0,300}") {
        let _ = Slug::parse(&s);
        let _ = Email::parse(&s);
        let _ = IdempotencyKey::parse(&s);
    }

    #[test]
    fn if_none_match_never_panics_and_star_always_matches(header in ".{0,60}", tag in ".{0,20}") {
        let _ = none_match(Some(&header), &tag);
        prop_assert!(none_match(Some("*"), &tag));
        prop_assert!(!none_match(None, &tag));
    }

    #[test]
    fn forged_signatures_are_refused_whatever_the_headers(
        timestamp in prop_oneof![".{0,24}", any::<i64>().prop_map(|t| t.to_string())],
        signature in prop_oneof![".{0,80}", "v1=[0-9a-f]{64}"],
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let verifier = Verifier::new(vec![Secret::new(SECRET).unwrap()]);
        for direction in [Direction::ToOrigin, Direction::ToEdge] {
            let verdict = verifier.verify(&Message::new(direction, "POST", "/x", &body), Some(&timestamp), Some(&signature), now);
            prop_assert!(verdict.is_err());
        }
    }

    #[test]
    fn signatures_verify_only_for_what_was_signed(
        body in prop::collection::vec(any::<u8>(), 0..64),
        flip in any::<prop::sample::Index>(),
        now in 0i64..4_000_000_000,
    ) {
        let secret = Secret::new(SECRET).unwrap();
        let verifier = Verifier::new(vec![secret.clone()]);
        let signed = secret.sign(&Message::new(Direction::ToEdge, "POST", "/_edge/publish", &body), now);
        let check = |body: &[u8]| {
            verifier.verify(&Message::new(Direction::ToEdge, "POST", "/_edge/publish", body), Some(&signed[0].1), Some(&signed[1].1), now)
        };
        prop_assert!(check(&body).is_ok());
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 1;
            prop_assert!(check(&tampered).is_err());
        }
    }

    #[test]
    fn bodies_are_read_whole_or_refused_at_the_limit(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        limit in 0usize..2_000,
    ) {
        let total: usize = chunks.iter().map(Vec::len).sum();
        let body = http_body_util::StreamBody::new(futures::stream::iter(
            chunks.into_iter().map(|c| Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(c)))),
        ));
        let read = futures::executor::block_on(read_limited(body, limit));
        if total <= limit {
            prop_assert_eq!(read.map(|b| b.len()), Ok(total));
        } else {
            prop_assert_eq!(read, Err(BodyError::TooLarge(limit)));
        }
    }
}
