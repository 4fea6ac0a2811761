"""HTTP routes and Kafka subscribers: thin translators into handlers."""
