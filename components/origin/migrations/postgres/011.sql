-- Waiting rooms (`waiting_room.rs`): an event's room, its settings and
-- where admission stands (both JSON of `eventfront_domain::waiting_room`),
-- moved under `version` by whichever instance moves it; the tickets each
-- edge instance (`reporter`) reports it issued so far, counted by the Unix
-- second of their stamps (a total, so that a report sent twice counts
-- once); and
-- each ticket used to register, with the Idempotency-Key it came with,
-- so that a ticket registers once while its retries replay.
CREATE TABLE waiting_rooms (
    event     TEXT PRIMARY KEY REFERENCES events (slug),
    settings  TEXT NOT NULL,
    admission TEXT NOT NULL,
    version   BIGINT NOT NULL DEFAULT 1
);
CREATE TABLE waiting_room_arrivals (
    event    TEXT NOT NULL REFERENCES events (slug),
    reporter TEXT NOT NULL,
    second   BIGINT NOT NULL,
    count    BIGINT NOT NULL,
    PRIMARY KEY (event, reporter, second)
);
CREATE TABLE waiting_room_uses (
    event           TEXT NOT NULL REFERENCES events (slug),
    ticket          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    PRIMARY KEY (event, ticket)
);
