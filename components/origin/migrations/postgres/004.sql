-- Mail is limited per inbox and per domain across every event: each
-- email remembers the inbox it reaches (in lower case, any `+tag`
-- dropped) and its domain, and the emails sent to either within the last
-- hour are counted by these indexes before another is sent. Messages
-- written before this step have neither and count for nothing.
ALTER TABLE outbox ADD COLUMN mailbox TEXT;
ALTER TABLE outbox ADD COLUMN mail_domain TEXT;
CREATE INDEX outbox_sent_to_mailbox ON outbox (mailbox, sent_ms) WHERE channel = 'email';
CREATE INDEX outbox_sent_to_domain ON outbox (mail_domain, sent_ms) WHERE channel = 'email';
