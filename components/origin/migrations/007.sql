-- Registration attempts per client and minute, counted by the
-- transaction that decides them, across every edge and instance.
CREATE TABLE client_attempts (
    window_start INTEGER NOT NULL,
    client       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    PRIMARY KEY (window_start, client)
);
