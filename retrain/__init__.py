"""The scheduler service and the retrain job."""
