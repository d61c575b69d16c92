-- Arrivals counted by buckets of 100 ms of stamp
-- (`waiting_room::BUCKET_MS`), each kept by when it starts in Unix
-- milliseconds, rather than by whole seconds: a crowd bunched inside a
-- second was admitted at several times the rate. The counts of rooms
-- already open are spread over the ten buckets of their second, the
-- first ones taking what does not divide, as a report by second from an
-- edge not yet upgraded is.
CREATE TABLE waiting_room_arrivals_by_bucket (
    event             TEXT NOT NULL REFERENCES events (slug),
    reporter          TEXT NOT NULL,
    bucket_starts_ms  INTEGER NOT NULL,
    count             INTEGER NOT NULL,
    PRIMARY KEY (event, reporter, bucket_starts_ms)
);
INSERT INTO waiting_room_arrivals_by_bucket (event, reporter, bucket_starts_ms, count)
SELECT a.event, a.reporter, a.second * 1000 + tenth.n * 100, (a.count + 9 - tenth.n) / 10
FROM waiting_room_arrivals a
CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
            UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7
            UNION ALL SELECT 8 UNION ALL SELECT 9) tenth
WHERE a.count + 9 - tenth.n >= 10;
DROP TABLE waiting_room_arrivals;
ALTER TABLE waiting_room_arrivals_by_bucket RENAME TO waiting_room_arrivals;
