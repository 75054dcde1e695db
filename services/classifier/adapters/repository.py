"""The classifier's SQL."""

from shared.outbox import case_events_held

# classifications (a fetched batch's, or one) and their outgoing events in one statement (one round trip);
# a case classified before (under another event id) is not written again, nor are its events, so they are
# not published twice. Flags travel comma-joined: unnest cannot take an array of arrays of different
# lengths. The events' rows come back (event ids included: a case is new if its events are). Run on its
# own (autocommit), the events are written held for $17 seconds, for Relay.dispatch; inside a transaction
# $17 is NULL (not held: TAKE_OWN takes them). See shared/outbox.py: case_events_held.
CLASSIFY_CASES = """
WITH c AS (
    INSERT INTO classifier.classifications
        (case_id, kind, topic, urgency, flags, affiliate, sentiment, result, model_version, text, repeat_count)
    SELECT c.case_id, c.kind, c.topic, c.urgency, string_to_array(c.flags, ','), c.affiliate, c.sentiment,
           c.result::jsonb, $9, c.text, c.repeat_count
      FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                  $10::text[], $11::int[])
           AS c (case_id, kind, topic, urgency, flags, affiliate, sentiment, result, text, repeat_count)
    ON CONFLICT (case_id) DO NOTHING
    RETURNING case_id
""" + case_events_held("classifier", 12)

# earlier complaints of the same customer on the same topic inside the window
COUNT_REPEATS = """
SELECT count(*) FROM classifier.customer_topics
WHERE customer_key = $1 AND topic = $2 AND received_at >= $3 AND received_at <= $4 AND case_id <> $5"""

RECORD_CUSTOMER_TOPIC = """
INSERT INTO classifier.customer_topics (customer_key, topic, received_at, case_id) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING"""

# a batch's angry customer turns: those not counted before (one row per call and seq, so a turn that
# comes again is not counted twice) are added to their calls' counts (one row per call, in call order so
# two replicas lock rows in the same order); each newly counted turn, with its call's counts after the batch
RECORD_ANGRY_TURNS = """
WITH fresh AS (
    INSERT INTO classifier.live_turns (call_id, seq, abusive)
    SELECT * FROM unnest($1::text[], $2::int[], $3::bool[]) ORDER BY 1, 2
    ON CONFLICT DO NOTHING
    RETURNING call_id, seq, abusive
), counted AS (
    INSERT INTO classifier.live_calls AS c (call_id, angry_turns, abusive_turns)
    SELECT call_id, count(*), count(*) FILTER (WHERE abusive) FROM fresh GROUP BY call_id ORDER BY 1
    ON CONFLICT (call_id) DO UPDATE SET angry_turns = c.angry_turns + excluded.angry_turns,
                                        abusive_turns = c.abusive_turns + excluded.abusive_turns, updated_at = now()
    RETURNING call_id, angry_turns, abusive_turns
)
SELECT f.call_id, f.seq, k.angry_turns, k.abusive_turns FROM fresh f JOIN counted k USING (call_id)"""

# a batch's alert candidates: the (call, reason) pairs not raised before, which are raised now
INSERT_LIVE_ALERTS = """
INSERT INTO classifier.live_alerts (call_id, reason)
SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2
ON CONFLICT DO NOTHING RETURNING call_id, reason"""

INSERT_CORRECTION = """
INSERT INTO classifier.corrections (event_id, case_id, kind, topic, previous_kind, previous_topic, corrected_by, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"""

# the latest correction of each case, with what the classifier saw and decided
# the text's own urgency, before a repeat complaint's raise (classify.raise_urgency's `repeat:<from>-><to>` rule):
# the raise comes from the customer's history, which the text does not show, so it is not a label to learn
CORRECTED_EXAMPLES = """
SELECT DISTINCT ON (k.case_id) k.case_id, k.kind, k.topic, c.text,
       coalesce((SELECT split_part(substr(r, 8), '->', 1) FROM jsonb_array_elements_text(c.result->'rules') r
                 WHERE r LIKE 'repeat:%->%' LIMIT 1), c.urgency) AS urgency,
       c.flags, c.affiliate, c.sentiment
FROM classifier.corrections k JOIN classifier.classifications c USING (case_id)
WHERE c.text IS NOT NULL AND k.at >= $1
ORDER BY k.case_id, k.at DESC"""
