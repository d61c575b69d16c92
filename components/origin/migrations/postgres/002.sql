-- Seat counts follow registrations once per statement instead of once per
-- row. A row trigger updated the same counts row once for each
-- registration a statement wrote, and in one transaction every such update
-- walks the chain of versions the earlier ones left: expiring 3,000 lapsed
-- holds in chunks of 500 took 41 ms for the first chunk and 261 ms for the
-- sixth. Now each statement adds up its rows and updates each event once.
DROP TRIGGER seat_counts_follow ON registrations;
DROP FUNCTION seat_counts_follow();
-- Whether a registration in this state counts as a seat held, or as a
-- place in line (1 or 0; INT, so that sums are BIGINT).
CREATE FUNCTION holds_a_seat(holds_seat BIGINT, status TEXT) RETURNS INT
    LANGUAGE sql IMMUTABLE
    RETURN (holds_seat = 1 AND status IN ('pending', 'confirmed'))::int;
CREATE FUNCTION holds_a_place(holds_seat BIGINT, status TEXT) RETURNS INT
    LANGUAGE sql IMMUTABLE
    RETURN (holds_seat = 0 AND status IN ('pending', 'waitlisted'))::int;
-- Adds one statement's changes to an event's counts.
CREATE FUNCTION seat_counts_add(event TEXT, seats BIGINT, places BIGINT, seq BIGINT)
    RETURNS void LANGUAGE sql AS $$
    INSERT INTO seat_counts (event, seated, waiting, last_seq)
    VALUES (event, seats, places, coalesce(seq, 0))
    ON CONFLICT (event) DO UPDATE SET
        seated = seat_counts.seated + excluded.seated,
        waiting = seat_counts.waiting + excluded.waiting,
        last_seq = greatest(seat_counts.last_seq, excluded.last_seq)
$$;
-- `added` holds the rows as written, `removed` as they were: a row
-- updated is in both.
CREATE FUNCTION seat_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM seat_counts_add(event, sum(holds_a_seat(holds_seat, status)),
            sum(holds_a_place(holds_seat, status)), max(seq))
        FROM added GROUP BY event;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM seat_counts_add(event, sum(seats), sum(places), max(seq))
        FROM (SELECT event, holds_a_seat(holds_seat, status) AS seats,
                  holds_a_place(holds_seat, status) AS places, seq FROM added
              UNION ALL
              SELECT event, -holds_a_seat(holds_seat, status),
                  -holds_a_place(holds_seat, status), NULL::BIGINT FROM removed) AS changed
        GROUP BY event;
    ELSE
        PERFORM seat_counts_add(event, -sum(holds_a_seat(holds_seat, status)),
            -sum(holds_a_place(holds_seat, status)), NULL::BIGINT)
        FROM removed GROUP BY event;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER seat_counts_follow_insert
    AFTER INSERT ON registrations REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION seat_counts_follow();
CREATE TRIGGER seat_counts_follow_update
    AFTER UPDATE ON registrations REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION seat_counts_follow();
CREATE TRIGGER seat_counts_follow_delete
    AFTER DELETE ON registrations REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION seat_counts_follow();
