//! The origin's configuration: every Spin variable it reads, read once per
//! instance into one `Config` (Spin variables do not change while an
//! instance lives). A setting that is missing or invalid is kept as such
//! and refused by the part that needs it: an origin without mail settings
//! still registers, one without `public_url` still answers reads.

use eventfront_domain::signing::{Secret, Verifier};
use std::sync::OnceLock;

pub struct Config {
    /// The secret this origin signs with and the verifier it checks with
    /// (the previous secret too, during a rotation); `None` while
    /// `signing_secret` is unset or too short.
    pub signing: Option<(Secret, Verifier)>,
    /// The organizers' bearer token as configured, "" when unset.
    pub admin_token: String,
    /// The PostgreSQL server `database_url` names, or `None` for Spin's
    /// `default` SQLite database; `Err` when a database variable is not
    /// declared.
    pub database: Result<Option<Postgres>, ()>,
    /// The mail provider; without a URL, a token and a sender there is
    /// none, and messages stay in the development outbox.
    pub mail: Option<MailProvider>,
    /// The attendee site's address, for links in exports and messages.
    pub public_url: Option<String>,
    /// The edges publishes are pushed to (`edge_urls`, separated by commas
    /// or spaces).
    pub edge_urls: Vec<String>,
    /// Registration attempts per client and minute; 0 counts nothing.
    pub registrations_per_minute: u32,
    /// Whether the demo event is seeded into an empty database.
    pub seed_demo: bool,
}

/// A PostgreSQL server and how to trust it.
pub struct Postgres {
    pub url: String,
    /// The PEM certificate of the authority that signed the server's, when
    /// the system's roots do not include it.
    pub ca_root: Option<String>,
}

/// A Postmark-style mail API.
pub struct MailProvider {
    pub url: String,
    pub token: String,
    pub from: String,
}

/// Registration attempts per client and minute when the origin's
/// `registrations_per_minute` is unset, as at the edge.
const DEFAULT_PER_MINUTE: u32 = 20;

/// This instance's configuration, read on first use.
pub async fn get() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return config;
    }
    let config = Config::read().await;
    CONFIG.get_or_init(|| config)
}

/// A variable's value, trimmed; `None` when it is not declared.
async fn declared(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .await
        .ok()
        .map(|v| v.trim().to_string())
}

/// A variable's value, trimmed; "" when unset or not declared.
async fn value(name: &str) -> String {
    declared(name).await.unwrap_or_default()
}

/// A secret's value exactly as set; "" when unset or not declared.
async fn secret(name: &str) -> String {
    spin_sdk::variables::get(name).await.unwrap_or_default()
}

impl Config {
    async fn read() -> Self {
        let signing = match Secret::new(&secret("signing_secret").await) {
            Ok(current) => {
                let mut secrets = vec![current.clone()];
                if let Ok(previous) = Secret::new(&secret("signing_secret_previous").await) {
                    secrets.push(previous);
                }
                Some((current, Verifier::new(secrets)))
            }
            Err(_) => None,
        };
        let database = match declared("database_url").await {
            None => Err(()),
            Some(url) if url.is_empty() => Ok(None),
            Some(url) => match declared("database_ca_root").await {
                None => Err(()),
                Some(ca_root) => Ok(Some(Postgres {
                    url,
                    ca_root: Some(ca_root).filter(|c| !c.is_empty()),
                })),
            },
        };
        let (url, token, from) = (
            value("mail_api_url").await,
            value("mail_api_token").await,
            value("mail_from").await,
        );
        let mail =
            (!url.is_empty() && !token.is_empty() && !from.is_empty()).then(|| MailProvider {
                url: url.trim_end_matches('/').to_string(),
                token,
                from,
            });
        Self {
            signing,
            admin_token: secret("admin_token").await,
            database,
            mail,
            public_url: spin_sdk::variables::get("public_url").await.ok(),
            edge_urls: value("edge_urls")
                .await
                .split([',', ' ', '\n'])
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty())
                .collect(),
            registrations_per_minute: value("registrations_per_minute")
                .await
                .parse()
                .unwrap_or(DEFAULT_PER_MINUTE),
            seed_demo: value("seed_demo").await.eq_ignore_ascii_case("true"),
        }
    }
}
