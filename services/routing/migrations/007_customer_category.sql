-- Suggestions: the category the customer chose in the 고객 제안 menu (VocSubmission.suggestion_category),
-- which a review without a category of its own keeps.
ALTER TABLE routing.cases ADD COLUMN customer_category text;
