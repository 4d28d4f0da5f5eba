"""Alert rules, their evaluation over Elasticsearch, episodes and notifiers."""
