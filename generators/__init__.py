"""Minting packs through LiteLLM."""
