"""Reaching models: LiteLLM calls and the embedded local model server."""
