-- Affiliates see only their own cases. A reveal key was scoped by channel alone, and channels are shared by
-- the affiliates: the card company's privacy officer could decrypt the bank's originals that came in on `app`.
--
-- intake.cases.affiliate: the affiliate that has the case now, from the timeline consumer: the case's own
-- CaseRouted (not the group consumer-protection office's copy of a flagged case, copy_reason set, which leaves
-- the case where it is) and each CaseTransferred (the new affiliate). affiliate_at: that event's time. Like the
-- status (004) and the deadline (006), the latest event by event time wins, so a late or redelivered routing
-- does not undo a transfer. NULL: not routed yet, or last routed or transferred before this migration (intake
-- did not keep it): only a `group` key reveals such a case, until an event sets it (deploy/README has a
-- one-off backfill from routing.cases).
--
-- intake.api_keys.affiliates: the affiliates whose cases a key may reveal (`group`: the office, every case),
-- on top of its channels. Keys from before this migration get none: their reveal answers 403 (naming the
-- fix) until the key is created again with a scope (`moksori keys create --replace --affiliates card …`);
-- their submit and read are unchanged (a read key sees only the cases submitted under its own name).
--
-- Safe on a live database: both columns are added without a rewrite or a scan (nullable; a constant
-- default), so the ACCESS EXCLUSIVE locks last an instant, and the migration waits at most its lock timeout.
ALTER TABLE intake.cases ADD COLUMN affiliate text, ADD COLUMN affiliate_at timestamptz;
ALTER TABLE intake.api_keys ADD COLUMN affiliates text[] NOT NULL DEFAULT '{}';
