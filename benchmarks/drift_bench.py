"""Tokenizer drift against its physical limit: fingerprinting every shipped pack with each
tokenizer, timed against the tokenizer library's own batch encode of the same strings.

    .venv/bin/python benchmarks/drift_bench.py [--repeat 30]

For each tokenizer (the embedded SmolLM2 GGUF, Gemma 3 270M's GGUF, cl100k_base, o200k_base and
a byte-level BPE tokenizer.json trained here on the pack texts) it prints the load time, the
bare encode (the limit: the fastest of the library's own ways — llama.cpp's C `llama_tokenize`
per string or llama-cpp-python's `Llama.tokenize`; `tokenizers`' `encode_batch_fast` or
`encode_batch`; tiktoken's `encode_ordinary_batch` or an `encode_ordinary` loop), the
fingerprint (encode, hash and count every question and answer) with its ratio to the limit
(the median of per-round ratios), and the per-language metrics pass (decode for round-trip,
alignment, counts). Times are the best of `--repeat` interleaved rounds after a warm-up.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tinyqa import offline

offline.apply()   # first: LiteLLM's offline cost map, before anything imports LiteLLM
from tinyqa.pack import resolve_packs, shipped_ids
from tinyqa.suites import drift, tokenizers


def interleaved(fns: dict[str, object], repeat: int) -> dict[str, list[float]]:
    """Run each function once to warm up, then `repeat` rounds of all of them in turn (so a
    busy machine slows them alike); each one's times in seconds."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return times


def trained_bpe(texts: list[str], folder: Path) -> Path:
    """A byte-level BPE tokenizer.json trained on `texts` (offline, a fraction of a second)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2000, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path = folder / "tokenizer.json"
    tok.save(str(path))
    return path


def bare_encoders(tok: tokenizers.Tokenizer, texts: list[str]) -> dict[str, object]:
    """The tokenizer library's own ways to encode all of `texts`, without special tokens; the
    fastest of them is the limit."""
    if isinstance(tok, tokenizers.GGUFTokenizer):
        import llama_cpp

        vocab, data = tok._vocab, [t.encode() for t in texts]
        cap = max(map(len, data)) + 8
        buf = (llama_cpp.llama_token * cap)()
        model = tok._model
        return {
            "llama_tokenize (C)": lambda: [buf[:llama_cpp.llama_tokenize(vocab, b, len(b), buf, cap, False, False)]
                                           for b in data],
            "Llama.tokenize": lambda: [model.tokenize(b, False, False) for b in data],
        }
    if isinstance(tok, tokenizers.HFTokenizer):
        return {"encode_batch_fast": lambda: tok._tok.encode_batch_fast(texts, add_special_tokens=False),
                "encode_batch": lambda: tok._tok.encode_batch(texts, add_special_tokens=False)}
    return {"encode_ordinary_batch": lambda: tok._enc.encode_ordinary_batch(texts),
            "encode_ordinary loop": lambda: [tok._enc.encode_ordinary(t) for t in texts]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    packs = resolve_packs(shipped_ids())
    texts = [s for p in packs for i in p.items for s in (i.text, i.label)]
    print(f"{len(packs)} packs, {sum(len(p.items) for p in packs)} items, {len(texts)} strings "
          f"({sum(map(len, texts))} characters)")
    print(f"{'tokenizer':<22} {'load s':>7} {'limit ms':>9} {'fingerprint ms':>15} {'ratio':>6} "
          f"{'metrics ms':>11}  library encodes (best ms)")
    with tempfile.TemporaryDirectory() as tmp:
        specs = ["local", tokenizers.GEMMA3, "tiktoken:cl100k_base", "tiktoken:o200k_base",
                 str(trained_bpe(texts, Path(tmp)))]
        tokenizers.gemma3_gguf()  # assembled once, outside the timing
        for spec in specs:
            t = time.perf_counter()
            tok = tokenizers.load(spec)
            load_s = time.perf_counter() - t
            fp = drift.fingerprint(tok, packs)
            times = interleaved({**bare_encoders(tok, texts),
                                 "fingerprint": lambda: drift.fingerprint(tok, packs),
                                 "metrics": lambda: drift.measure(tok, fp, packs)}, args.repeat)
            bare = [k for k in times if k not in ("fingerprint", "metrics")]
            # The limit: the fastest of the library's own ways to encode the strings.
            limit = min(min(times[k]) for k in bare)
            fp_s, metrics_s = min(times["fingerprint"]), min(times["metrics"])
            ratio = statistics.median(f / min(times[k][r] for k in bare) for r, f in enumerate(times["fingerprint"]))
            others = ", ".join(f"{k} {min(times[k]) * 1e3:.1f}" for k in bare)
            label = "trained BPE (hf)" if tok.kind == "hf" else spec
            print(f"{label:<22} {load_s:>7.3f} {limit * 1e3:>9.1f} {fp_s * 1e3:>15.1f} {ratio:>6.2f} "
                  f"{metrics_s * 1e3:>11.1f}  {others}")


if __name__ == "__main__":
    main()
