-- Registrations waiting for their decision, pooled across the origin's
-- instances: whichever instance decides next decides every one waiting for
-- the event, so a burst spread over many instances is decided in a few
-- large batches instead of one small batch per instance. A row lives for
-- the moments its decision takes: it is deleted when its answer is
-- stored, or marked with the refusal it was answered (`refused`) for the
-- instance that holds its request to read and delete. Unlogged: its
-- writes cost no flush to disk (a commit that wrote only these waits for
-- none), and what a crash empties it of, its instances' clients retry.
CREATE UNLOGGED TABLE registration_requests (
    key TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_canonical TEXT NOT NULL,
    arrived_ms BIGINT NOT NULL,
    client TEXT,
    per_minute BIGINT,
    queued_ms BIGINT NOT NULL,
    refused TEXT
);
CREATE INDEX registration_requests_queue ON registration_requests (event, queued_ms, key);
