-- What a team needs to take a case over after a transfer or a reopen: a transfer used to send only
-- CaseTransferred (voc.case.transferred, which no team reads), so the new team's queue never got
-- the case, and routing kept no text to send it with. Kept as routing received them (VocClassified:
-- masked text and customer reference); the customer's reference goes to a new affiliate under the
-- same rule as the first routing (came_via, cross_affiliate: shared.pii.shares_customer).
-- NULL text: a case routed before this migration (its handoff carries no text).
ALTER TABLE routing.cases
    ADD COLUMN text text,
    ADD COLUMN customer_ref text,
    ADD COLUMN came_via text,
    ADD COLUMN cross_affiliate boolean NOT NULL DEFAULT false,
    ADD COLUMN repeated boolean NOT NULL DEFAULT false,
    ADD COLUMN duplicate boolean;
