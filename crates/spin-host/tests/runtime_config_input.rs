//! The runtime configuration file is input from operators: whatever it
//! holds, the host either takes it or says what is wrong, and never panics.
//! Generated files reach deep into the format (its tables, types and keys)
//! as well as being arbitrary text; a bounded number of cases keeps the
//! run short.

use proptest::prelude::*;
use spin_test_host::runtime_config::{KvStoreConfig, RuntimeConfig, SqliteConfig};
use std::path::Path;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"spin\"".to_string()),
        Just("\"redis\"".to_string()),
        Just("\"libsql\"".to_string()),
        Just("\"redis://127.0.0.1:6379\"".to_string()),
        Just("\"rediss://:secret@cache:6380\"".to_string()),
        Just("\"https://db.example.com\"".to_string()),
        Just("\"data/kv.db\"".to_string()),
        "\"[^\"\\\\]{0,20}\"",
        any::<i64>().prop_map(|n| n.to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
    ]
}

/// A file of tables such as `[key_value_store.default]` with lines such
/// as `type = "redis"`, mixed with noise.
fn file() -> impl Strategy<Value = String> {
    let table = prop_oneof![
        Just("key_value_store"),
        Just("sqlite_database"),
        Just("variables_provider"),
        Just("other"),
    ];
    let label = prop_oneof![Just("default".to_string()), "[a-z]{1,6}"];
    let line = (
        prop_oneof![
            prop::sample::select(&["type", "url", "path", "token"][..]).prop_map(String::from),
            "[a-z]{1,5}",
        ],
        value(),
    )
        .prop_map(|(k, v)| format!("{k} = {v}"));
    let section = (table, label, prop::collection::vec(line, 0..4))
        .prop_map(|(t, l, lines)| format!("[{t}.{l}]\n{}\n", lines.join("\n")));
    prop_oneof![
        prop::collection::vec(section, 0..4).prop_map(|s| s.concat()),
        ".{0,200}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn runtime_configs_are_taken_whole_or_refused_with_a_reason(text in file()) {
        match RuntimeConfig::parse(&text, Path::new("/srv/app")) {
            Ok(config) => {
                // What is taken names a store the host can reach.
                for store in config.key_value_stores.values() {
                    if let KvStoreConfig::Redis { url } = store {
                        prop_assert!(url.starts_with("redis://") || url.starts_with("rediss://"));
                    }
                }
                for db in config.sqlite_databases.values() {
                    if let SqliteConfig::Libsql { url } = db {
                        prop_assert!(["https://", "http://", "libsql://"].iter().any(|p| url.starts_with(p)));
                    }
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
