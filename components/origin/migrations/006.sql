-- Each event's seat counts and last registration number, kept by
-- triggers in the writing transaction: a decision reads one row where
-- it counted every registration of the event.
CREATE TABLE seat_counts (
    event      TEXT PRIMARY KEY,
    confirmed  INTEGER NOT NULL DEFAULT 0,
    waitlisted INTEGER NOT NULL DEFAULT 0,
    last_seq   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO seat_counts (event, confirmed, waitlisted, last_seq)
    SELECT event, sum(status = 'confirmed'), sum(status = 'waitlisted'), max(seq)
    FROM registrations GROUP BY event;
CREATE TRIGGER seat_counts_insert AFTER INSERT ON registrations BEGIN
    INSERT OR IGNORE INTO seat_counts (event) VALUES (NEW.event);
    UPDATE seat_counts SET
        confirmed = confirmed + (NEW.status = 'confirmed'),
        waitlisted = waitlisted + (NEW.status = 'waitlisted'),
        last_seq = max(last_seq, NEW.seq)
    WHERE event = NEW.event;
END;
CREATE TRIGGER seat_counts_update AFTER UPDATE OF status ON registrations BEGIN
    UPDATE seat_counts SET
        confirmed = confirmed - (OLD.status = 'confirmed') + (NEW.status = 'confirmed'),
        waitlisted = waitlisted - (OLD.status = 'waitlisted') + (NEW.status = 'waitlisted')
    WHERE event = NEW.event;
END;
CREATE TRIGGER seat_counts_delete AFTER DELETE ON registrations BEGIN
    UPDATE seat_counts SET
        confirmed = confirmed - (OLD.status = 'confirmed'),
        waitlisted = waitlisted - (OLD.status = 'waitlisted')
    WHERE event = OLD.event;
END;
