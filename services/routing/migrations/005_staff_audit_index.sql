-- `moksori audit --staff`: one employee's steps, found without reading the whole case log.
CREATE INDEX case_log_by_staff ON routing.case_log (staff_id, at) WHERE staff_id IS NOT NULL;
