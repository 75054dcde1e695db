-- The Idempotency-Key of a team's HTTP command (POST /v1/cases/{id}/...). A command retried after a
-- timeout or a dropped connection, when the first did land, answered 409 (a second provide-info or
-- reopen: "not waiting for documents") or 404 (a transfer to another affiliate: no longer the caller's).
-- With a key, the retry gets the first answer again. A key is the caller's (its affiliate), kept with a
-- digest of the command it was first used for (another command with the same key is refused) and the
-- answer; only a command that was recorded or found unchanged keeps its key (a refused one rolls back).
-- Deleted by housekeeping at the inbox's age (shared/housekeeping.py: Retention).
CREATE TABLE routing.command_keys (
    caller     text        NOT NULL,
    key        text        NOT NULL,
    command    text        NOT NULL,  -- sha256 (hex) of the command as the key was first used for
    answer     jsonb,                 -- the JSON answered; NULL only inside the transaction that claims the key
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
CREATE INDEX command_keys_created_brin ON routing.command_keys USING brin (created_at);
