"""Compute backends the pipelines and training share: today, a connection to Ray."""
