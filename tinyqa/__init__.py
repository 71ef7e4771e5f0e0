"""tinyqa: tiny multilingual QA packs, tokenizer drift and lm-eval suites as a model gate.

Importing it changes nothing in the process: the offline defaults (tinyqa/offline.py) are
applied by the front ends, for the work they start."""

__version__ = "0.1.0"
