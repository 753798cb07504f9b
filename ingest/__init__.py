"""Kafka -> ClickHouse: consume request records, frame them, store them in batches."""
