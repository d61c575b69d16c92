//! The edge's settings, read from Spin variables once per instance (they
//! do not change while it lives) so that one build serves every region.

use crate::error::EdgeError;
use eventfront_domain::signing::{Secret, Verifier};
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
    /// Registration attempts allowed per client address per minute; `0`
    /// leaves limiting to the platform in front (each count is a KV write).
    pub registrations_per_minute: u32,
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
        let config = EdgeConfig {
            registrations_per_minute,
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
