-- Where a case's resolution clock started: NULL for its receipt (received_at), or the time it was
-- reopened. The warning at `warn_fraction` of the time to the deadline is measured from here when the
-- deadline moves (an extension, documents received, a transfer); it was measured from the receipt, so
-- a case reopened weeks later was warned as soon as its team touched it again.
ALTER TABLE routing.cases ADD COLUMN clock_start timestamptz;
