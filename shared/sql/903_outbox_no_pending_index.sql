-- Applied to every service schema after 902 ({schema} is the service name).
-- Since 902 the outbox holds only rows not yet published (the relay deletes the others), so the
-- partial index of pending rows is the primary key over again: one index entry fewer per event.
-- The relay claims the oldest rows by the primary key.
DROP INDEX IF EXISTS {schema}.outbox_pending;
