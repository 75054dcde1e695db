CREATE TABLE feedback.surveys (
    case_id      uuid        PRIMARY KEY,
    affiliate    text        NOT NULL,
    team         text        NOT NULL,
    channel      text        NOT NULL,
    delivery     text        NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE TABLE feedback.responses (
    case_id      uuid        PRIMARY KEY REFERENCES feedback.surveys (case_id),
    csat         smallint    CHECK (csat BETWEEN 1 AND 5),
    nps          smallint    CHECK (nps BETWEEN 0 AND 10),
    ces          smallint    CHECK (ces BETWEEN 1 AND 7),
    comment      text,                       -- PII-masked
    submitted_at timestamptz NOT NULL
);
