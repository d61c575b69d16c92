//! The demo event that a fresh database starts with, so that the first
//! `spin up` shows a realistic published agenda with no extra command.

use crate::db::Db;
use crate::error::OriginError;
use eventfront_domain::Slug;
use eventfront_domain::demo::{DEMO_SLUG, demo_draft};

/// Writes and publishes the demo event; runs inside the migration's
/// transaction, so it happens exactly once.
pub async fn seed(db: &Db) -> Result<(), OriginError> {
    let slug = Slug::parse(DEMO_SLUG).expect("the demo slug is valid");
    let draft = demo_draft();
    crate::draft::replace(db, &slug, &draft).await?;
    crate::publish::publish_in(db, &slug, &draft, "Demo event", None).await?;
    Ok(())
}
