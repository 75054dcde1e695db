-- Applied to every service schema after its own migrations ({schema} is the service name).
-- A transaction that publishes its own outbox rows as it commits (Relay.dispatch) holds them
-- in the same transaction: no relay, of this replica or another, claims a held row until the
-- hold expires, so a row is not published twice while its writer is still on the way to
-- publishing it. A writer that dies after the commit leaves the rows to any relay once held_until passes.
ALTER TABLE {schema}.outbox ADD COLUMN held_until timestamptz;
