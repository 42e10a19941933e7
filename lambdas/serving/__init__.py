"""Serving recommendations: the read model the daily run publishes and the API reads (docs/serving.md)."""
