-- Every case's status is updated a few times soon after it is inserted (classified, routed,
-- acknowledged, ...), and the updated columns are in no index. Leaving a quarter of each new
-- page free lets PostgreSQL write the new row version on the same page (a HOT update): no new
-- entries in the four indexes, and the old version is pruned without a vacuum. Pages written
-- before this migration keep their old fill.
ALTER TABLE intake.cases SET (fillfactor = 75);
