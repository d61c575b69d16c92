//! The edge's settings, read from Spin variables so that one build serves
//! every region: its region name and where its origin is.

use crate::error::EdgeError;

pub struct EdgeConfig {
    pub region: String,
    /// Without a trailing slash, e.g. `http://origin.spin.internal`.
    pub origin_url: String,
}

impl EdgeConfig {
    pub async fn load() -> Result<Self, EdgeError> {
        let region = variable("region").await?;
        let origin_url = variable("origin_url").await?;
        Ok(Self {
            region,
            origin_url: origin_url.trim_end_matches('/').to_string(),
        })
    }
}

async fn variable(name: &str) -> Result<String, EdgeError> {
    spin_sdk::variables::get(name)
        .await
        .map_err(|e| EdgeError::Config(format!("variable {name}: {e:?}")))
}
