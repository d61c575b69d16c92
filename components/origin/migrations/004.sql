-- Organizers archive an event to take it off the public list and the
-- edges; what attendees and edges may see is defined once, here.
ALTER TABLE events ADD COLUMN archived_at_ms INTEGER;
CREATE VIEW published_events AS
    SELECT * FROM events WHERE current_version > 0 AND archived_at_ms IS NULL;
