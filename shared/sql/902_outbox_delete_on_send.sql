-- Applied to every service schema after 901 ({schema} is the service name).
-- From this version on the relay deletes a row once it is published instead of setting sent_at
-- (a delete writes no new row version and no index entries; JetStream keeps the published events).
-- Rows published before it are deleted here; any a replica of an older version marks during a
-- rolling upgrade are deleted by housekeeping (shared/housekeeping.py).
DELETE FROM {schema}.outbox WHERE sent_at IS NOT NULL;
-- housekeeping no longer looks for old rows by age in the outbox (shared/sql/901)
DROP INDEX IF EXISTS {schema}.outbox_created_brin;
-- A writer that publishes its own rows holds them (Outbox.TAKE_OWN sets held_until) a moment after
-- inserting them. held_until is in no index, so that update is a HOT update (no new index entries)
-- when the row's page has room for the new version: leave half of each page free.
ALTER TABLE {schema}.outbox SET (fillfactor = 50);
