//! The demo event that a fresh development database starts with, so that
//! the first `spin up` shows a realistic published agenda with no extra
//! command. Only when `seed_demo` asks for it: on in the development
//! `spin.toml`, off in every production manifest.

use crate::db::Db;
use crate::error::OriginError;
use eventfront_domain::Slug;
use eventfront_domain::demo::{DEMO_SLUG, demo_draft};

/// Whether the `seed_demo` variable asks for the demo event.
pub async fn wanted() -> bool {
    spin_sdk::variables::get("seed_demo")
        .await
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Writes and publishes the demo event; runs inside the migration's
/// transaction, so it happens exactly once.
pub async fn seed(db: &Db) -> Result<(), OriginError> {
    let slug = Slug::parse(DEMO_SLUG).expect("the demo slug is valid");
    let draft = demo_draft();
    crate::draft::replace(db, &slug, &draft).await?;
    crate::publish::publish_in(db, &slug, &draft, "Demo event", None).await?;
    Ok(())
}
