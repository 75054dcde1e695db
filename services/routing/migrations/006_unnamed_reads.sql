-- With REQUIRE_STAFF_ID=false (while the affiliates' systems are changed to send X-Staff-Id), a read that
-- names no employee is still kept, with its key's affiliate and no employee.
ALTER TABLE routing.case_reads ALTER COLUMN staff_id DROP NOT NULL;
