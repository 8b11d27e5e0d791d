"""Where every reported number comes from: provenance records and MLflow runs."""
