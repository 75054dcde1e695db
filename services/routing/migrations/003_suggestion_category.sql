-- Suggestions: what the review sorted each one as (product, process or new_business).
ALTER TABLE routing.cases ADD COLUMN review_category text;
