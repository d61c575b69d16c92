//! The demo event that a fresh development database starts with, so that
//! the first `spin up` shows a realistic published agenda with no extra
//! command. Only when `seed_demo` asks for it: on in the development
//! `spin.toml`, off in every production manifest.

use crate::db::{Db, Scope};
use crate::error::OriginError;
use crate::instance::instance;
use eventfront_domain::Slug;
use eventfront_domain::demo::{DEMO_SLUG, demo_draft};
pub fn settled() -> bool {
    instance().demo_settled.get()
}

/// Writes and publishes the demo event if it is wanted and the database
/// has no event yet. The check and the writes share one transaction, so
/// instances starting together seed it once.
pub async fn seed_if_wanted(db: &Db) -> Result<(), OriginError> {
    if settled() {
        return Ok(());
    }
    // A plain read first, so that an instance starting while the write
    // lock is taken does not wait for it.
    if crate::config::get().await.seed_demo && !has_events(db).await? {
        db.transaction(Scope::Whole, async |db| {
            if has_events(db).await? {
                return Ok(());
            }
            let slug = Slug::parse(DEMO_SLUG).expect("the demo slug is valid");
            let draft = demo_draft();
            crate::draft::replace(db, &slug, &draft).await?;
            let by = &crate::audit::Actor::SYSTEM;
            crate::publish::publish_in(db, &slug, &draft, "Demo event", None, by).await?;
            Ok(())
        })
        .await?;
    }
    instance().demo_settled.set(true);
    Ok(())
}

async fn has_events(db: &Db) -> Result<bool, OriginError> {
    Ok(db
        .row("SELECT EXISTS (SELECT 1 FROM events) AS found", [])
        .await?
        .is_some_and(|r| r.int("found") == 1))
}
