"""The suites run against a model: tiny QA, tokenizer drift, lm-eval."""
