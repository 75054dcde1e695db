-- Channel systems authenticate with API keys; only a hash of the secret is kept.
CREATE TABLE intake.api_keys (
    key_id      text        PRIMARY KEY,
    name        text        NOT NULL,
    secret_hash text        NOT NULL,
    channels    text[]      NOT NULL,
    roles       text[]      NOT NULL,
    rate_per_s  real        NOT NULL,
    burst       int         NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX api_keys_live_name ON intake.api_keys (name) WHERE revoked_at IS NULL;

-- Every decryption of an original is recorded: who, when, why.
CREATE TABLE intake.reveal_audit (
    id         bigserial   PRIMARY KEY,
    case_id    uuid        NOT NULL REFERENCES intake.cases (id),
    key_name   text        NOT NULL,
    reason     text        NOT NULL,
    client_ip  text,
    revealed_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE intake.cases ADD COLUMN submitted_by text;
ALTER TABLE intake.cases ADD COLUMN expected_resolution timestamptz;
ALTER TABLE intake.cases ADD COLUMN purged_at timestamptz;
