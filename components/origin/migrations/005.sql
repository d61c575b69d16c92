-- What each version changed in the agenda, for the changelog feed.
ALTER TABLE snapshots ADD COLUMN changes TEXT NOT NULL DEFAULT '{}';
