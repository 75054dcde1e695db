-- A channel system's message ids are its own, like its Idempotency-Keys (apikeys.scoped_key): two
-- systems on the same channel (the bank's and the card company's web forms, two affiliates' mailboxes
-- that got the same e-mail) may use the same id. Unique over (channel, channel_message_id) alone, the
-- second system's VOC was answered with the first one's case, tracking code and status secret (the
-- stored response), or refused with 409 when its text differed. Rows from before submitted_by
-- (migration 002) have it NULL and stay distinct.
ALTER TABLE intake.cases DROP CONSTRAINT IF EXISTS cases_channel_channel_message_id_key;
CREATE UNIQUE INDEX IF NOT EXISTS cases_message_id_per_submitter
    ON intake.cases (channel, submitted_by, channel_message_id);
