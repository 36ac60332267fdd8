"""Execution backends for verl beyond its GPU defaults."""
