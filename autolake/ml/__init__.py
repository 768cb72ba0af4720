"""Days on lot: the feature frame, XGBoost training and metrics, scoring, and the MLflow registry gate."""
