-- When the origin last shed a registration that came through an event's
-- waiting room (503: too many waiting to be decided, or the database
-- unavailable), in Unix milliseconds, 0 for never: what a room paced by
-- decisions slows down on (`waiting_room::Pace::Decided`), and what an
-- organizer pacing by a rate is shown.
ALTER TABLE waiting_rooms ADD COLUMN shed_at INTEGER NOT NULL DEFAULT 0;
