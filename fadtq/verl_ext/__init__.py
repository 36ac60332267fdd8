"""Adapters that plug fadtq into verl through its own seams (registries, reward function, trainer modes)."""
