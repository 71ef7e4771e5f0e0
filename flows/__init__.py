"""Prefect flows: the pipeline's spine, wiring tasks from the other subpackages."""
