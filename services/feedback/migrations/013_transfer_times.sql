-- A case's affiliate and team, and its kind and topic, order-proof as its deadline is (012): the facts consumer
-- takes a case's events late, twice and in any order, so they are set by the latest transfer and the latest
-- reclassification in time (services/feedback/adapters/facts.py), not by the last one to arrive (a case
-- transferred A->B, then B->C, whose first CaseTransferred was nak'd and came last, was left with team B).
--
-- transferred_at:  the latest CaseTransferred's time (its envelope's); `affiliate` and `team` are that
--                  transfer's. NULL: the routing's, earlier than any transfer.
-- reclassified_at: the latest CaseReclassified's time (its envelope's); `kind` and `topic` are that
--                  reclassification's. NULL: the routing's classification, earlier than any reclassification.
-- CaseRouted fills only what no transfer or reclassification set (its COALESCE), whenever it comes.
--
-- Nullable, no default: adding them rewrites no row, and nothing is backfilled (the facts kept no transfer's or
-- reclassification's time). Rows written before this migration keep the affiliate, team, kind and topic they
-- have, as of a time earlier than any event recorded after it: a later transfer or reclassification replaces
-- them, and so does a late or redelivered one from before the migration (as it did before it).
ALTER TABLE feedback.case_facts
    ADD COLUMN transferred_at  timestamptz,
    ADD COLUMN reclassified_at timestamptz;
