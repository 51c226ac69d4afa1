"""Looking at results: annotated videos."""
