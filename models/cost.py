"""What a run will cost, before the first request: LiteLLM's price table (offline: tinyqa sets
LITELLM_LOCAL_MODEL_COST_MAP) times the tokens a run asks for.

The estimate is items × repeats requests, each of its prompt's tokens (estimated from its
characters: CHARS_PER_TOKEN, plus MESSAGE_OVERHEAD tokens a message; no tokenizer is loaded)
and the whole completion budget (`max_tokens`: an upper bound, most answers are shorter). A
model LiteLLM has no price for has no estimate (`usd` None), and says so; the embedded model
costs nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4


@dataclass(frozen=True)
class Estimate:
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    usd: float | None          # None: LiteLLM knows no price for the model

    @property
    def sentence(self) -> str:
        tokens = f"{self.requests} requests, about {self.prompt_tokens} prompt and at most {self.completion_tokens} completion tokens"
        if self.usd is None:
            return f"expected cost: unknown (LiteLLM has no price for {self.model}); {tokens}"
        return f"expected cost: at most ${self.usd:.4f} ({tokens})"


def prompt_tokens(messages: list[dict]) -> int:
    """A tokenizer-free estimate of a chat prompt's tokens."""
    return sum(math.ceil(len(m.get("content") or "") / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD for m in messages)


def price(model: str, prompt: int, completion: int) -> float | None:
    """The price in USD of `prompt` and `completion` tokens of `model` per LiteLLM's table, or
    None when it has none."""
    import litellm

    try:
        cost_in, cost_out = litellm.cost_per_token(model=model, prompt_tokens=prompt, completion_tokens=completion)
    except Exception:   # LiteLLM raises for a model it has no price for
        return None
    return float(cost_in + cost_out)


def estimate(model: str, packs, template, repeats: int = 1, max_tokens: int | None = None) -> Estimate:
    """The expected cost of asking every item of `packs` (Pack objects) `repeats` times with
    `template`, each answer up to `max_tokens` (default: the model's budget, llm.params_for)."""
    from tinyqa.models import llm

    requests = sum(len(p.items) for p in packs) * repeats
    prompt = repeats * sum(prompt_tokens(template.messages(i.text, i.lang)) for p in packs for i in p.items)
    if model == llm.LOCAL:
        return Estimate(model, requests, prompt, requests * (max_tokens or llm.PARAMS["max_tokens"]), 0.0)
    budget = llm.params_for(llm.Target(model, max_tokens=max_tokens))["max_tokens"]
    completion = requests * budget
    return Estimate(model, requests, prompt, completion, price(model, prompt, completion))
