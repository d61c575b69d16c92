//! The edge's settings, read from Spin variables once per instance (they
//! do not change while it lives) so that one build serves every region.

use crate::error::EdgeError;
use eventfront_domain::signing::{Secret, Verifier};
use ipnet::IpNet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub struct EdgeConfig {
    pub region: String,
    /// Without a trailing slash, e.g. `http://origin.spin.internal`.
    pub origin_url: String,
    /// Signs what the edge sends its origin.
    pub secret: Secret,
    /// Checks what the origin sends the edge (current and previous secret).
    pub verifier: Verifier,
    /// How old a copy may be before the edge asks the origin about it.
    pub staleness: Duration,
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

impl EdgeConfig {
    pub async fn get() -> Result<Arc<Self>, EdgeError> {
        static CONFIG: OnceLock<Arc<EdgeConfig>> = OnceLock::new();
        if let Some(config) = CONFIG.get() {
            return Ok(config.clone());
        }
        let secret = Secret::new(&variable("signing_secret").await?)
            .map_err(|_| EdgeError::Config("signing_secret is unset or too short".into()))?;
        let mut secrets = vec![secret.clone()];
        if let Ok(previous) = Secret::new(&optional("signing_secret_previous").await) {
            secrets.push(previous);
        }
        let staleness = optional("staleness_secs")
            .await
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .map_or(Duration::from_secs(5), Duration::from_secs_f64);
        let registrations_per_minute = optional("registrations_per_minute")
            .await
            .parse()
            .unwrap_or(20);
        let trusted_proxies = optional("trusted_proxies")
            .await
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|entry| {
                let net = entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from));
                if net.is_err() {
                    eprintln!(
                        "edge: trusted_proxies: {entry:?} is not an address or CIDR block; ignored"
                    );
                }
                net.ok()
            })
            .collect();
        let client_ip_header = match optional("client_ip_header").await.trim() {
            "" => "x-forwarded-for".to_string(),
            header => header.to_ascii_lowercase(),
        };
        let config = EdgeConfig {
            registrations_per_minute,
            trusted_proxies,
            client_ip_header,
            region: variable("region").await?,
            origin_url: variable("origin_url")
                .await?
                .trim_end_matches('/')
                .to_string(),
            secret,
            verifier: Verifier::new(secrets),
            staleness,
        };
        Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
    }
}

async fn variable(name: &str) -> Result<String, EdgeError> {
    spin_sdk::variables::get(name)
        .await
        .map_err(|e| EdgeError::Config(format!("variable {name}: {e:?}")))
}

async fn optional(name: &str) -> String {
    spin_sdk::variables::get(name).await.unwrap_or_default()
}
