"""Evaluators: pure functions from an embedder and a dataset to a Measurement."""
