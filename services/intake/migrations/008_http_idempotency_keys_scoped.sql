-- An HTTP channel system's Idempotency-Key is now stored under its API key's name,
-- 'http:<name>:<key>' (domain/apikeys.py: scoped_key). Before, it shared one key space with
-- partners' '<source>:<event id>', live calls' 'call:<id>' and imports' 'import:<hash>', so a
-- channel system could take a key another path would use (a partner's VOC then refused, a
-- call's case not opened) and two channel systems could not use the same key.
-- The keys stored so far are moved into their submitter's space, so a retry that spans the
-- upgrade still finds its case. HTTP rows are those submitted under an API key's name; rows from
-- partners (submitted_by 'nats:…'), live calls ('stt') and imports ('import:…' keys) keep theirs.
UPDATE intake.cases SET idempotency_key = 'http:' || submitted_by || ':' || idempotency_key
WHERE idempotency_key IS NOT NULL
  AND submitted_by IN (SELECT name FROM intake.api_keys)
  AND submitted_by NOT LIKE 'nats:%' AND submitted_by <> 'stt'
  AND idempotency_key NOT LIKE 'import:%';
