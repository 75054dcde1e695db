-- Accountability (seed 003: staff who misuse or leak customer data must be traceable).
-- Every step a team takes on a case names the employee (사번) who took it; NULL for the services' own
-- steps (a reopen after a poor rating) and for steps logged before this.
ALTER TABLE routing.case_log ADD COLUMN staff_id text;

-- Every time a team's employee opens a case through the API, kept for the access audit.
CREATE TABLE routing.case_reads (
    id        bigserial   PRIMARY KEY,
    case_id   uuid        NOT NULL REFERENCES routing.cases (case_id),
    affiliate text        NOT NULL,  -- whose key read it (group: the consumer-protection office)
    staff_id  text        NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_reads_by_case ON routing.case_reads (case_id, id);
CREATE INDEX case_reads_by_staff ON routing.case_reads (staff_id, at);
