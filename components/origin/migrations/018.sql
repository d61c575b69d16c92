-- What an event's waiting room moves on besides the arrivals
-- (`waiting_room::Heard`), in Unix milliseconds: when the origin last shed
-- a registration that came through it (503: too many waiting to be
-- decided, or the database unavailable; 0 for never), which a room paced
-- by decisions slows down on and an organizer is shown; and how late
-- edges' reports came lately (the longest an arrival waited to be
-- reported, and when that was seen), which the cutoff stays behind.
ALTER TABLE waiting_rooms ADD COLUMN shed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE waiting_rooms ADD COLUMN reports_late_by INTEGER NOT NULL DEFAULT 0;
ALTER TABLE waiting_rooms ADD COLUMN reports_late_at INTEGER NOT NULL DEFAULT 0;
