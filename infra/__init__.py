"""Real Kafka and Elasticsearch on localhost without Docker."""
