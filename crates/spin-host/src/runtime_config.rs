//! Spin's runtime configuration file (`--runtime-config-file`): which
//! backend serves each key-value store and SQLite database label. This host
//! runs `spin` (SQLite files) and `redis` key-value stores and `spin`
//! databases; a `libsql` database parses (so deploy files are checked) but
//! an app using one is refused at start, since no libSQL server runs here.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, KvStoreConfig>,
    pub sqlite_databases: BTreeMap<String, SqliteConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvStoreConfig {
    /// Spin's own SQLite-backed store, in this file.
    Spin {
        path: PathBuf,
    },
    Redis {
        url: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteConfig {
    Spin {
        path: PathBuf,
    },
    /// A libSQL/Turso database; valid configuration, but this host cannot
    /// serve it (no libSQL server runs here).
    Libsql {
        url: String,
    },
}

/// Unknown tables are errors, so that a typo fails loudly; Spin's other
/// sections are accepted and left to Spin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawStore>,
    #[serde(default, rename = "llm_compute")]
    _llm_compute: Option<toml::Value>,
    #[serde(default, rename = "variables_provider")]
    _variables_provider: Option<toml::Value>,
    #[serde(default, rename = "outbound_networking")]
    _outbound_networking: Option<toml::Value>,
    #[serde(default, rename = "otel")]
    _otel: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    url: Option<String>,
    /// libSQL's auth token, which only Spin uses.
    #[serde(default, rename = "token")]
    _token: Option<String>,
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base)
            .with_context(|| format!("invalid runtime config {}", path.display()))
    }

    /// Relative paths resolve against `base`, the file's folder.
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let raw: Raw = toml::from_str(text)?;
        let mut config = Self::default();
        for (label, store) in raw.key_value_store {
            let entry = match (store.kind.as_str(), store.path, store.url) {
                ("spin", Some(path), None) => KvStoreConfig::Spin {
                    path: base.join(path),
                },
                ("redis", None, Some(url)) => {
                    if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                        bail!("key_value_store.{label}: url must be a redis:// URL");
                    }
                    KvStoreConfig::Redis { url }
                }
                ("spin", ..) => bail!("key_value_store.{label}: type \"spin\" takes a path"),
                ("redis", ..) => bail!("key_value_store.{label}: type \"redis\" takes a url"),
                (other, ..) => {
                    bail!("key_value_store.{label}: type {other:?} is not supported here")
                }
            };
            config.key_value_stores.insert(label, entry);
        }
        for (label, db) in raw.sqlite_database {
            let is_url = |u: &str| {
                ["https://", "http://", "libsql://"]
                    .iter()
                    .any(|p| u.starts_with(p))
            };
            let entry = match (db.kind.as_str(), db.path, db.url) {
                ("spin", Some(path), None) => SqliteConfig::Spin {
                    path: base.join(path),
                },
                ("libsql", None, Some(url)) if is_url(&url) => SqliteConfig::Libsql { url },
                ("spin", ..) => bail!("sqlite_database.{label}: type \"spin\" takes a path"),
                ("libsql", ..) => {
                    bail!("sqlite_database.{label}: type \"libsql\" takes an http(s) or libsql url")
                }
                (other, ..) => {
                    bail!("sqlite_database.{label}: type {other:?} is not supported here")
                }
            };
            config.sqlite_databases.insert(label, entry);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_databases_parse_with_paths_relative_to_the_file() {
        let config = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379"

[key_value_store.cache]
type = "spin"
path = "data/cache.db"

[sqlite_database.default]
type = "spin"
path = "db/origin.db"
"#,
            Path::new("/srv/app"),
        )
        .unwrap();
        assert_eq!(
            config.key_value_stores["default"],
            KvStoreConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            config.key_value_stores["cache"],
            KvStoreConfig::Spin {
                path: "/srv/app/data/cache.db".into()
            }
        );
        assert_eq!(
            config.sqlite_databases["default"],
            SqliteConfig::Spin {
                path: "/srv/app/db/origin.db".into()
            }
        );
    }

    #[test]
    fn typos_and_unsupported_backends_are_errors() {
        for bad in [
            "[key_value_store.default]\ntype = \"rediss\"\nurl = \"redis://x\"",
            "[key_value_store.default]\ntype = \"redis\"\npath = \"x\"",
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://x\"",
            "[sqlite_database.default]\ntype = \"libsql\"\npath = \"db\"",
            "[key_value_stores.default]\ntype = \"spin\"",
        ] {
            assert!(RuntimeConfig::parse(bad, Path::new("/")).is_err(), "{bad}");
        }
    }
}
