"""Offline stand-ins for tests, CI and the demo: a tiny random Qwen2.5-VL and a real CPU judge server."""
