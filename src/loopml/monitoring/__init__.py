"""Monitoring: the prediction log, feedback, drift, quality, reports and alerts of served models."""
