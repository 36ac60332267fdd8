"""Async OpenAI-compatible LLM-judge client (adapter layer)."""
