-- Seat counts are written by the origin with each decision, from the
-- registration lifecycle's own ledger (`eventfront_domain::lifecycle`),
-- not kept by triggers that restated in SQL which statuses hold a seat
-- or a place in line: the rule has one home. The counts are correct as
-- the triggers left them.
DROP TRIGGER seat_counts_insert;
DROP TRIGGER seat_counts_update;
DROP TRIGGER seat_counts_delete;
