//! The origin's configuration: every Spin variable it reads, read once per
//! instance into one `Config` (Spin variables do not change while an
//! instance lives). A setting that is missing or invalid is kept as such
//! and refused by the part that needs it: an origin without mail settings
//! still registers, one without `public_url` still answers reads.

use crate::error::OriginError;
use eventfront_domain::sealed::Sealer;
use eventfront_domain::settings;
use eventfront_domain::signing::{Secret, Verifier};
use std::sync::OnceLock;

pub struct Config {
    /// The secret this origin signs with and the verifier it checks with
    /// (the previous secret too, during a rotation); `None` while
    /// `signing_secret` is unset or too short.
    pub signing: Option<(Secret, Verifier)>,
    /// What seals tokens at rest: keyed by `sealing_secret` when set (a
    /// secret the edges do not hold), else by the signing secret; every
    /// signing secret still opens what it sealed. `None` without them.
    pub sealer: Option<Sealer>,
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
    /// How many bytes of documents one notice pushes to an edge at most
    /// (`push_part_bytes`); a larger version goes in several parts.
    pub push_part_bytes: usize,
    /// Registration attempts per client and minute; 0 counts nothing.
    pub registrations_per_minute: u32,
    /// Whether the demo event is seeded into an empty database.
    pub seed_demo: bool,
    /// Whether an address is registered once whatever `+tag` it carries
    /// (`plus_addresses_are_one`, off by default: not every provider
    /// delivers tags to one inbox).
    pub plus_tags_ignored: bool,
    /// Emails sent to one inbox (tags ignored) per hour at most, across
    /// every event; beyond it a message is withheld. 0 sets no limit.
    pub mail_per_address_per_hour: u32,
    /// Emails sent to one domain per hour at most, likewise.
    pub mail_per_domain_per_hour: u32,
    /// `Strict-Transport-Security`'s max-age in seconds, 0 for none.
    pub hsts_max_age: u64,
    /// Where organizers' webhooks may point (`webhook_hosts`, one
    /// `allowed_outbound_hosts` pattern, which also lets Spin send there).
    pub webhook_hosts: String,
    /// Whether webhooks may point at this machine or a private network
    /// (`webhook_private_hosts`, off: only for a closed deployment).
    pub webhook_private_hosts: bool,
    /// What is wrong with the variables, one line each naming the
    /// variable: the origin answers nothing but `/health` while any is.
    pub problems: Vec<String>,
    /// Days after an event ends that its ended registrations and finished
    /// messages are kept (`retention_days`).
    pub retention_days: u32,
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
/// Half of the smallest KV value limit among edge platforms (Akamai's
/// 1 MB), so that a part's documents, as stored, stay within it.
const DEFAULT_PUSH_PART_BYTES: usize = 512 * 1024;
/// Smaller parts would be mostly manifest.
const LEAST_PUSH_PART_BYTES: usize = 1024;

/// Emails per inbox and hour when `mail_per_address_per_hour` is unset:
/// room for a registration, its confirmation and a change or two at a few
/// events, not for a flood.
const DEFAULT_MAIL_PER_ADDRESS: u32 = 10;
/// Emails per domain and hour when `mail_per_domain_per_hour` is unset:
/// far above what one event's opening sends to one large provider's
/// users, far below what a script would.
const DEFAULT_MAIL_PER_DOMAIN: u32 = 20_000;

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

/// `settings::whole_number` of variable `name`, its problem noted.
async fn number<T: std::str::FromStr + Copy>(
    name: &str,
    default: T,
    problems: &mut Vec<String>,
) -> T {
    settings::whole_number(name, &value(name).await, default).unwrap_or_else(|problem| {
        problems.push(problem);
        default
    })
}

/// `push_part_bytes`, at least `LEAST_PUSH_PART_BYTES`, its problem noted.
async fn push_part_bytes(problems: &mut Vec<String>) -> usize {
    let bytes = number("push_part_bytes", DEFAULT_PUSH_PART_BYTES, problems).await;
    if bytes < LEAST_PUSH_PART_BYTES {
        problems.push(format!(
            "push_part_bytes is {bytes}: it must be at least {LEAST_PUSH_PART_BYTES}"
        ));
        return DEFAULT_PUSH_PART_BYTES;
    }
    bytes
}

/// `settings::flag` of variable `name`, its problem noted.
async fn flag(name: &str, problems: &mut Vec<String>) -> bool {
    settings::flag(name, &value(name).await).unwrap_or_else(|problem| {
        problems.push(problem);
        false
    })
}

/// A secret's value exactly as set; "" when unset or not declared.
async fn secret(name: &str) -> String {
    spin_sdk::variables::get(name).await.unwrap_or_default()
}

impl Config {
    /// Refuses to answer while any variable is set to something it must
    /// not be: the log names each (`OriginError::Config`).
    pub fn check(&self) -> Result<(), OriginError> {
        match self.problems.is_empty() {
            true => Ok(()),
            false => Err(OriginError::Config(self.problems.join("; ").into())),
        }
    }

    async fn read() -> Self {
        let mut problems = Vec::new();
        let (current, previous, own) = (
            secret("signing_secret").await,
            secret("signing_secret_previous").await,
            secret("sealing_secret").await,
        );
        let (signing, sealer) = match Secret::new(&current) {
            Ok(signer) => {
                let mut secrets = vec![signer.clone()];
                let mut sealing = Vec::new();
                if Secret::new(&own).is_ok() {
                    sealing.push(own.as_bytes());
                }
                sealing.push(current.as_bytes());
                if let Ok(retiring) = Secret::new(&previous) {
                    secrets.push(retiring);
                    sealing.push(previous.as_bytes());
                }
                (
                    Some((signer, Verifier::new(secrets))),
                    Some(Sealer::new(sealing)),
                )
            }
            Err(_) => (None, None),
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
            sealer,
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
            push_part_bytes: push_part_bytes(&mut problems).await,
            registrations_per_minute: number(
                "registrations_per_minute",
                DEFAULT_PER_MINUTE,
                &mut problems,
            )
            .await,
            seed_demo: flag("seed_demo", &mut problems).await,
            plus_tags_ignored: flag("plus_addresses_are_one", &mut problems).await,
            mail_per_address_per_hour: number(
                "mail_per_address_per_hour",
                DEFAULT_MAIL_PER_ADDRESS,
                &mut problems,
            )
            .await,
            mail_per_domain_per_hour: number(
                "mail_per_domain_per_hour",
                DEFAULT_MAIL_PER_DOMAIN,
                &mut problems,
            )
            .await,
            hsts_max_age: number(
                "hsts_max_age",
                eventfront_domain::headers::ONE_YEAR,
                &mut problems,
            )
            .await,
            retention_days: number(
                "retention_days",
                eventfront_domain::retention::DEFAULT_DAYS,
                &mut problems,
            )
            .await,
            webhook_hosts: value("webhook_hosts").await,
            webhook_private_hosts: flag("webhook_private_hosts", &mut problems).await,
            problems,
        }
    }
}
