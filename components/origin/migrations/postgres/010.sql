-- Live seat counts (`seat_counts.rs`): each event's counts version, which
-- every change of a pick or of a session's limit raises in its own
-- transaction, and, apart (only pushers write it, so it never conflicts
-- with a decision), where the pushes of the counts to the edges stand:
-- when the last one began, which version it carried and how many began,
-- so that across every instance an event's counts go out at most once a
-- second.
CREATE TABLE seat_count_versions (
    event   TEXT PRIMARY KEY REFERENCES events (slug),
    version BIGINT NOT NULL
);
CREATE TABLE seat_count_pushes (
    event          TEXT PRIMARY KEY REFERENCES events (slug),
    pushed_ms      BIGINT NOT NULL,
    pushed_version BIGINT NOT NULL DEFAULT 0,
    pushes         BIGINT NOT NULL DEFAULT 1
);
