//! The edge's settings, read from Spin variables once per instance (they
//! do not change while it lives) so that one build serves every region;
//! each part when the instance first needs it.

use crate::error::EdgeError;
use eventfront_domain::signing::{Secret, Verifier};
use eventfront_domain::{headers, settings};
use ipnet::IpNet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What every request needs, read on an instance's first request. The
/// rest is read when an instance first needs it (`OriginLink`,
/// `ClientRules`, `kv_value_limit`): each variable is a call to the host,
/// which a fresh instance serving a read from KV would otherwise pay for
/// nothing.
pub struct EdgeConfig {
    pub region: String,
    /// How old a copy may be before the edge asks the origin about it.
    pub staleness: Duration,
    /// `Strict-Transport-Security`'s max-age in seconds, 0 for none.
    pub hsts_max_age: u64,
}

/// How the edge and its origin reach and trust each other.
pub struct OriginLink {
    /// Without a trailing slash, e.g. `http://origin.spin.internal`.
    pub origin_url: String,
    /// Signs what the edge sends its origin.
    pub secret: Secret,
    /// Checks what the origin sends the edge (current and previous secret).
    pub verifier: Verifier,
}

/// How the edge tells clients apart and limits them.
pub struct ClientRules {
    /// Registration attempts allowed per client address per minute in one
    /// instance, before the origin counts them across instances; `0` turns
    /// this first line off.
    pub registrations_per_minute: u32,
    /// Proxies in front of the edge whose forwarding header names the
    /// client (`trusted_proxies`, addresses or CIDR blocks); empty trusts
    /// none, and the address Spin saw is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// The header those proxies name the client in.
    pub client_ip_header: String,
}

/// Akamai EdgeKV's limit on a value, the smallest among the stores the
/// edge runs on.
const DEFAULT_KV_VALUE_LIMIT: usize = 1 << 20;
/// Below this a value's pieces would be mostly keys.
const LEAST_KV_VALUE_LIMIT: usize = 1024;

/// The value `cell` holds, read by `read` the first time it is asked for;
/// a failed read is tried again next time.
async fn once<T>(
    cell: &'static OnceLock<Arc<T>>,
    read: impl AsyncFnOnce() -> Result<T, EdgeError>,
) -> Result<Arc<T>, EdgeError> {
    if let Some(value) = cell.get() {
        return Ok(value.clone());
    }
    let value = read().await?;
    Ok(cell.get_or_init(|| Arc::new(value)).clone())
}

impl EdgeConfig {
    pub async fn get() -> Result<Arc<Self>, EdgeError> {
        static CONFIG: OnceLock<Arc<EdgeConfig>> = OnceLock::new();
        once(&CONFIG, async || {
            Ok(EdgeConfig {
                region: variable("region").await?,
                staleness: staleness(&optional("staleness_secs").await)
                    .map_err(EdgeError::Config)?,
                hsts_max_age: settings::whole_number(
                    "hsts_max_age",
                    &optional("hsts_max_age").await,
                    headers::ONE_YEAR,
                )
                .map_err(EdgeError::Config)?,
            })
        })
        .await
    }
}

impl OriginLink {
    pub async fn get() -> Result<Arc<Self>, EdgeError> {
        static LINK: OnceLock<Arc<OriginLink>> = OnceLock::new();
        once(&LINK, async || {
            let secret = Secret::new(&variable("signing_secret").await?)
                .map_err(|_| EdgeError::Config("signing_secret is unset or too short".into()))?;
            let mut secrets = vec![secret.clone()];
            if let Ok(previous) = Secret::new(&optional("signing_secret_previous").await) {
                secrets.push(previous);
            }
            Ok(OriginLink {
                origin_url: variable("origin_url")
                    .await?
                    .trim_end_matches('/')
                    .to_string(),
                secret,
                verifier: Verifier::new(secrets),
            })
        })
        .await
    }
}

impl ClientRules {
    pub async fn get() -> Result<Arc<Self>, EdgeError> {
        static RULES: OnceLock<Arc<ClientRules>> = OnceLock::new();
        once(&RULES, async || {
            let registrations_per_minute = settings::whole_number(
                "registrations_per_minute",
                &optional("registrations_per_minute").await,
                20,
            )
            .map_err(EdgeError::Config)?;
            let trusted_proxies = optional("trusted_proxies")
                .await
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|entry| {
                    entry
                        .parse::<IpNet>()
                        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| {
                            EdgeError::Config(format!(
                                "trusted_proxies: {entry:?} is not an address or CIDR block"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?;
            let client_ip_header = match optional("client_ip_header").await.trim() {
                "" => "x-forwarded-for".to_string(),
                header => header.to_ascii_lowercase(),
            };
            Ok(ClientRules {
                registrations_per_minute,
                trusted_proxies,
                client_ip_header,
            })
        })
        .await
    }
}

/// The largest value written to KV whole (`kv_value_limit`, bytes); larger
/// ones are kept in pieces. Read the first time an instance writes.
pub async fn kv_value_limit() -> Result<usize, EdgeError> {
    static LIMIT: OnceLock<Arc<usize>> = OnceLock::new();
    once(&LIMIT, async || {
        kv_value_limit_of(&optional("kv_value_limit").await).map_err(EdgeError::Config)
    })
    .await
    .map(|limit| *limit)
}

/// The longest `staleness_secs` taken: a day.
const MOST_STALENESS: Duration = Duration::from_secs(24 * 60 * 60);

/// `staleness_secs` as configured: 5 s when unset; otherwise a positive
/// number of seconds up to a day, or a configuration error that says so
/// (never a value that traps later, such as `inf`).
fn staleness(configured: &str) -> Result<Duration, String> {
    let configured = configured.trim();
    if configured.is_empty() {
        return Ok(Duration::from_secs(5));
    }
    configured
        .parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|staleness| *staleness <= MOST_STALENESS)
        .ok_or_else(|| {
            format!(
                "staleness_secs is {configured:?}: it must be seconds, more than 0, at most 86400"
            )
        })
}

/// `kv_value_limit` as configured: 1 MiB when unset, at least 1 KiB.
fn kv_value_limit_of(configured: &str) -> Result<usize, String> {
    let limit = settings::whole_number("kv_value_limit", configured, DEFAULT_KV_VALUE_LIMIT)?;
    if limit < LEAST_KV_VALUE_LIMIT {
        return Err(format!(
            "kv_value_limit is {limit}: it must be at least {LEAST_KV_VALUE_LIMIT} bytes"
        ));
    }
    Ok(limit)
}

async fn variable(name: &str) -> Result<String, EdgeError> {
    spin_sdk::variables::get(name)
        .await
        .map_err(|e| EdgeError::Config(format!("variable {name}: {e:?}")))
}

async fn optional(name: &str) -> String {
    spin_sdk::variables::get(name).await.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_is_a_positive_number_of_seconds_up_to_a_day() {
        assert_eq!(staleness(""), Ok(Duration::from_secs(5)));
        assert_eq!(staleness(" 0.25 "), Ok(Duration::from_millis(250)));
        assert_eq!(staleness("86400"), Ok(MOST_STALENESS));
        for bad in ["inf", "1e20", "NaN", "0", "-1", "five", "86401"] {
            let refused = staleness(bad).unwrap_err();
            assert!(refused.contains("staleness_secs"), "{bad}: {refused}");
        }
    }

    #[test]
    fn the_kv_value_limit_is_a_mebibyte_unless_set_and_never_below_a_kibibyte() {
        assert_eq!(kv_value_limit_of(""), Ok(DEFAULT_KV_VALUE_LIMIT));
        assert_eq!(kv_value_limit_of("4096"), Ok(4096));
        for bad in ["1023", "0", "-5", "lots"] {
            assert!(
                kv_value_limit_of(bad)
                    .unwrap_err()
                    .contains("kv_value_limit"),
                "{bad}"
            );
        }
    }
}
