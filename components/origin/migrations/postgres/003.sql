-- Seat counts are written by the origin with each decision, from the
-- registration lifecycle's own ledger (`eventfront_domain::lifecycle`),
-- not kept by triggers that restated in SQL which statuses hold a seat
-- or a place in line: the rule has one home. The counts are correct as
-- the triggers left them.
DROP TRIGGER seat_counts_follow_insert ON registrations;
DROP TRIGGER seat_counts_follow_update ON registrations;
DROP TRIGGER seat_counts_follow_delete ON registrations;
DROP FUNCTION seat_counts_follow();
DROP FUNCTION seat_counts_add(TEXT, BIGINT, BIGINT, BIGINT);
DROP FUNCTION holds_a_seat(BIGINT, TEXT);
DROP FUNCTION holds_a_place(BIGINT, TEXT);
