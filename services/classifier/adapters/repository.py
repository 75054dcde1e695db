INSERT_CLASSIFICATION = """
INSERT INTO classifier.classifications (case_id, kind, topic, urgency, flags, affiliate, sentiment, result, model_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (case_id) DO NOTHING
RETURNING case_id"""
