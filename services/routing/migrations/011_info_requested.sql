-- The documents a case waiting for them was last asked for (RequestInfo's `what`), NULL when it is not
-- waiting. A team that asks again while the case waits is asking for something more: the customer is
-- told of it (a new notice; the clock stays paused from the first request). Only the same request again,
-- a retry, is answered "unchanged"; before, every second request was, and the customer never heard of it.
ALTER TABLE routing.cases ADD COLUMN info_requested text;
-- cases waiting at upgrade time: the request that paused them, from their log
UPDATE routing.cases c SET info_requested = l.data->>'what'
FROM (SELECT DISTINCT ON (case_id) case_id, data FROM routing.case_log
      WHERE event = 'CaseInfoRequested' ORDER BY case_id, id DESC) l
WHERE c.case_id = l.case_id AND c.status = 'waiting_info';
