"""Evaluation: pure metrics, inference runners, reports."""
