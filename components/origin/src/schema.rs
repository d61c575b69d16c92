//! The origin's schema, applied before the first request an instance
//! answers and migrated forward in numbered steps, each saying why, all in
//! one transaction, so that a fresh database works on the first request
//! and an existing one keeps its data. Each engine has its own steps:
//! SQLite's (`migrations/NNN.sql`) from the first release on, PostgreSQL's
//! (`migrations/postgres/NNN.sql`) from where SQLite's step 9 left the
//! schema; a change to come is a step in each (PostgreSQL's step 6, a
//! table SQLite's one writer has no use for, is its own). `REFERENCES` are enforced
//! on both: Spin's SQLite (rusqlite's bundled build, as in the test host)
//! turns foreign keys on for every connection.

use crate::db::{Db, Engine, Scope, int};
use crate::error::OriginError;
use crate::instance::instance;

/// SQLite's steps: each entry moves the schema from version `index` to
/// `index + 1`, the version kept in `PRAGMA user_version`.
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
    include_str!("../migrations/010.sql"),
    include_str!("../migrations/011.sql"),
    include_str!("../migrations/012.sql"),
    include_str!("../migrations/013.sql"),
    include_str!("../migrations/014.sql"),
    include_str!("../migrations/015.sql"),
    include_str!("../migrations/016.sql"),
    include_str!("../migrations/017.sql"),
    include_str!("../migrations/018.sql"),
    include_str!("../migrations/019.sql"),
];

/// PostgreSQL's steps, the version kept in the `schema_version` table.
const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/001.sql"),
    include_str!("../migrations/postgres/002.sql"),
    include_str!("../migrations/postgres/003.sql"),
    include_str!("../migrations/postgres/004.sql"),
    include_str!("../migrations/postgres/005.sql"),
    include_str!("../migrations/postgres/006.sql"),
    include_str!("../migrations/postgres/007.sql"),
    include_str!("../migrations/postgres/008.sql"),
    include_str!("../migrations/postgres/009.sql"),
    include_str!("../migrations/postgres/010.sql"),
    include_str!("../migrations/postgres/011.sql"),
    include_str!("../migrations/postgres/012.sql"),
    include_str!("../migrations/postgres/013.sql"),
];

/// Migrates and seeds once per instance, on a connection of its own, before
/// the first request that needs the data.
pub async fn ready() -> Result<(), OriginError> {
    if instance().schema_current.get() && crate::demo::settled() {
        return Ok(());
    }
    let db = Db::open().await?;
    migrate(&db).await?;
    crate::demo::seed_if_wanted(&db).await
}

async fn migrate(db: &Db) -> Result<(), OriginError> {
    if instance().schema_current.get() {
        return Ok(());
    }
    match db.engine() {
        Engine::Sqlite => migrate_sqlite(db).await?,
        Engine::Postgres => migrate_postgres(db).await?,
    }
    instance().schema_current.set(true);
    Ok(())
}

async fn migrate_sqlite(db: &Db) -> Result<(), OriginError> {
    // A plain read first: a fresh instance over a current database must
    // not wait for the write lock (a replayed registration never does).
    if version(db).await? == MIGRATIONS.len() {
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
        .transaction(Scope::Whole, async |db| {
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
    migrated
}

async fn migrate_postgres(db: &Db) -> Result<(), OriginError> {
    if postgres_version(db).await? == POSTGRES_MIGRATIONS.len() {
        return Ok(());
    }
    db.transaction(Scope::Whole, async |db| {
        // Inside the write lock: instances starting at once migrate once.
        db.exec(
            "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
            [],
        )
        .await?;
        let mut version = postgres_version(db).await?;
        while version < POSTGRES_MIGRATIONS.len() {
            for statement in statements(POSTGRES_MIGRATIONS[version]) {
                db.exec(&statement, []).await?;
            }
            version += 1;
        }
        db.exec("DELETE FROM schema_version", []).await?;
        db.exec(
            "INSERT INTO schema_version (version) VALUES (?)",
            [int(version as i64)],
        )
        .await
    })
    .await
}

/// PostgreSQL's schema version: 0 before the first migration made the
/// table that keeps it.
async fn postgres_version(db: &Db) -> Result<usize, OriginError> {
    let kept = db
        .row(
            "SELECT to_regclass('schema_version') IS NOT NULL AS kept",
            [],
        )
        .await?
        .is_some_and(|r| r.int("kept") == 1);
    if !kept {
        return Ok(0);
    }
    Ok(db
        .row("SELECT max(version) AS version FROM schema_version", [])
        .await?
        .map_or(0, |r| r.int("version")) as usize)
}

/// A migration's statements, one per `execute`: its `--` comment lines
/// dropped, split at semicolons, but for those ending the statements
/// inside a SQLite trigger's `BEGIN … END` or a PostgreSQL function's
/// `$$ … $$` body.
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
        let in_trigger = statement.starts_with("CREATE TRIGGER")
            && statement.contains("BEGIN")
            && !statement.ends_with("END");
        let in_body = statement.matches("$$").count() % 2 == 1;
        if in_trigger || in_body {
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
    fn a_function_body_stays_one_statement() {
        let split = statements(
            "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  \
             UPDATE b SET y = 2;\n  RETURN NULL;\nEND\n$$;\n\
             CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION f();\n",
        );
        assert_eq!(split.len(), 2, "{split:?}");
        assert!(split[0].ends_with("END\n$$"), "{}", split[0]);
        assert!(split[1].starts_with("CREATE TRIGGER t"), "{}", split[1]);
    }

    #[test]
    fn every_postgres_body_is_closed() {
        for migration in POSTGRES_MIGRATIONS {
            for statement in statements(migration) {
                assert_eq!(statement.matches("$$").count() % 2, 0, "{statement}");
            }
        }
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
