-- Applied to every service schema after 900 ({schema} is the service name).
-- Housekeeping (shared/housekeeping.py) deletes sent outbox rows and old inbox rows by age. Both
-- tables are written in time order, so a BRIN index (a few pages, next to nothing per insert)
-- finds their old end without reading the whole table.
CREATE INDEX outbox_created_brin ON {schema}.outbox USING brin (created_at);
CREATE INDEX inbox_processed_brin ON {schema}.inbox USING brin (processed_at);
