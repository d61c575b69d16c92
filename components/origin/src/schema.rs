//! The origin's schema, applied before the first request an instance
//! answers and migrated forward in numbered steps (`migrations/NNN.sql`,
//! each saying why), all in one transaction,
//! so that a fresh database works on the first request and an existing one
//! keeps its data. `REFERENCES` are enforced: Spin's SQLite (rusqlite's
//! bundled build, as in the test host) turns foreign keys on for every
//! connection.

use crate::db::Db;
use crate::error::OriginError;
use std::sync::atomic::{AtomicBool, Ordering};

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001.sql"),
    include_str!("../migrations/002.sql"),
    include_str!("../migrations/003.sql"),
    include_str!("../migrations/004.sql"),
    include_str!("../migrations/005.sql"),
    include_str!("../migrations/006.sql"),
    include_str!("../migrations/007.sql"),
    include_str!("../migrations/008.sql"),
    include_str!("../migrations/009.sql"),
];

/// Set once this instance has seen the schema current.
static CURRENT: AtomicBool = AtomicBool::new(false);

/// Migrates and seeds once per instance, on a connection of its own, before
/// the first request that needs the data.
pub async fn ready() -> Result<(), OriginError> {
    if CURRENT.load(Ordering::Acquire) && crate::demo::settled() {
        return Ok(());
    }
    let db = Db::open().await?;
    migrate(&db).await?;
    crate::demo::seed_if_wanted(&db).await
}

async fn migrate(db: &Db) -> Result<(), OriginError> {
    if CURRENT.load(Ordering::Acquire) {
        return Ok(());
    }
    // A plain read first: a fresh instance over a current database must
    // not wait for the write lock (a replayed registration never does).
    if version(db).await? == MIGRATIONS.len() {
        CURRENT.store(true, Ordering::Release);
        return Ok(());
    }
    db.use_write_ahead_log().await?;
    // A migration that rebuilds a table drops the old one while other
    // tables refer to its rows; with foreign keys on, that drop is refused.
    // So they are off for this connection while migrating (the pragma does
    // nothing inside a transaction), and every reference is checked before
    // the commit instead.
    db.exec("PRAGMA foreign_keys = OFF", []).await?;
    let migrated = db
        .transaction(async |db| {
            // Read again inside the write transaction: two instances
            // starting at once must not both migrate.
            let mut version = version(db).await?;
            while version < MIGRATIONS.len() {
                for statement in statements(MIGRATIONS[version]) {
                    db.exec(&statement, []).await?;
                }
                version += 1;
            }
            if let Some(broken) = db.row("PRAGMA foreign_key_check", []).await? {
                return Err(OriginError::Database(format!(
                    "migrating left a row of {} referring to nothing",
                    broken.text("table")
                )));
            }
            // PRAGMA takes no parameters; `version` is our own number.
            db.exec(&format!("PRAGMA user_version = {version}"), [])
                .await?;
            Ok(())
        })
        .await;
    db.exec("PRAGMA foreign_keys = ON", []).await?;
    migrated?;
    CURRENT.store(true, Ordering::Release);
    Ok(())
}

/// A migration's statements, one per `execute`: its `--` comment lines
/// dropped, split at semicolons, but for those ending the statements
/// inside a trigger's `BEGIN … END`.
fn statements(migration: &str) -> Vec<String> {
    let code: String = migration
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in code.split(';') {
        current.push_str(piece);
        let statement = current.trim();
        if statement.starts_with("CREATE TRIGGER") && !statement.ends_with("END") {
            current.push(';');
            continue;
        }
        if !statement.is_empty() {
            out.push(statement.to_string());
        }
        current.clear();
    }
    out
}

async fn version(db: &Db) -> Result<usize, OriginError> {
    Ok(db
        .row("PRAGMA user_version", [])
        .await?
        .map_or(0, |r| r.int("user_version")) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_stays_one_statement() {
        let split = statements(
            "-- Why; and more.\nCREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  \
             INSERT INTO b VALUES (1);\n  UPDATE b SET y = 2;\nEND;\nDROP TABLE c;\n",
        );
        assert_eq!(
            split,
            [
                "CREATE TABLE a (x)",
                "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  \
                 INSERT INTO b VALUES (1);\n  UPDATE b SET y = 2;\nEND",
                "DROP TABLE c",
            ]
        );
    }

    #[test]
    fn every_migration_splits_into_whole_statements() {
        for migration in MIGRATIONS {
            for statement in statements(migration) {
                let begins = statement.matches("BEGIN").count();
                assert_eq!(begins, statement.matches("END").count(), "{statement}");
            }
        }
    }
}
