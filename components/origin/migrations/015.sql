-- Sessions with seats (`session_seats`): each published session's seat
-- limit, title and times, rewritten at every publish, and attendees'
-- picks of them: a seat, a place in the session's line (promoted by
-- `seq`) or a pick deferred until its registration is confirmed. Which
-- pick is which is the domain's rule; these tables only keep it.
CREATE TABLE session_limits (
    event                 TEXT NOT NULL REFERENCES events (slug),
    session               TEXT NOT NULL,
    title                 TEXT NOT NULL,
    capacity              INTEGER,
    registration_required INTEGER NOT NULL,
    starts_ms             INTEGER NOT NULL,
    ends_ms               INTEGER NOT NULL,
    PRIMARY KEY (event, session)
);
CREATE TABLE session_seats (
    event        TEXT NOT NULL REFERENCES events (slug),
    session      TEXT NOT NULL,
    registration TEXT NOT NULL REFERENCES registrations (id),
    seq          INTEGER NOT NULL,
    spot         TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (event, session, registration)
);
-- A line's order is unique: a second pick numbered the same fails.
CREATE UNIQUE INDEX session_seats_order ON session_seats (event, session, seq);
CREATE INDEX session_seats_registration ON session_seats (registration);
