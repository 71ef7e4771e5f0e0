"""The commands about packs: list, describe, validate, generate, export."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tinyqa import api
from tinyqa.cli.base import ApiBase, app, ModelOpt, NoCache, PrefectOpt, Verbose
from tinyqa.cli import render
from tinyqa.cli.render import out


@app.command("packs")
def packs_cmd() -> None:
    """List the shipped packs: id, languages, items, size and sha256 of data.jsonl."""
    import hashlib

    from tinyqa.pack import DATA_FILE, load_pack, shipped_dir, shipped_ids

    table = Table("pack", "langs", "items", "size", "sha256")
    for pid in shipped_ids():
        pack = load_pack(shipped_dir() / pid)
        data = (pack.path / DATA_FILE).read_bytes()
        table.add_row(pid, ",".join(pack.langs), str(len(pack.items)), f"{len(data) / 1024:.1f} kB",
                      hashlib.sha256(data).hexdigest()[:16])
    out.print(table)


@app.command()
def describe(pack_dir: Annotated[Path, typer.Argument(help="A pack folder, or a folder of packs.")]) -> None:
    """Fill in each item's id and sha256 and (re)write the pack's croissant.json; for a folder
    of packs, every pack and an index croissant.json for the folder."""
    from tinyqa.pack import DATA_FILE
    from tinyqa.validators.croissant import describe_pack
    from tinyqa.validators import croissant
    from tinyqa.validators.validate import pack_dirs

    packs = [describe_pack(d) for d in pack_dirs([pack_dir])]
    for pack in packs:
        out.print(f"{pack.path}: {len(pack.items)} items described; croissant.json written", markup=False)
    if not (pack_dir / DATA_FILE).is_file():
        out.print(f"{croissant.write_index(pack_dir, packs)}: index of {len(packs)} packs", markup=False)


@app.command()
def validate(paths: Annotated[list[Path], typer.Argument(help="Pack folders or folders of packs.")]) -> None:
    """Check packs: the pack model with ids and hashes recomputed, the Great Expectations suite
    and the Croissant records. Exit 1 when anything fails; the packs are never written to."""
    failed = 0
    for d, problems in api.validate(paths).items():
        for p in problems:
            out.print(f"{d.name}: {p}", markup=False)
        out.print(f"{d.name}: {'FAIL' if problems else 'ok'}", markup=False)
        failed += bool(problems)
    raise typer.Exit(1 if failed else 0)


@app.command()
def generate(
    languages: Annotated[str, typer.Option(help="Language codes (BCP-47), comma-separated: fr,de.")],
    categories: Annotated[str, typer.Option(help="Categories, comma-separated: science,history.")],
    n: Annotated[int, typer.Option("--n", help="Items in the pack, shared evenly across languages, then categories.")],
    model: ModelOpt,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="The pack folder to write; its name is the pack id.")] = None,
    difficulty: Annotated[str, typer.Option(help="easy, medium or hard.")] = "medium",
    api_base: ApiBase = None,
    context: Annotated[Optional[str], typer.Option(help="Domain notes the items should be about.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed sent to the model; also picks the exemplars.")] = 0,
    avoid: Annotated[Optional[str], typer.Option(help="Packs (ids or folders, comma-separated) whose questions must not be repeated.")] = None,
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="Write the valid items obtained even when some are missing (exit 0).")] = False,
    str_output: Annotated[bool, typer.Option("--str-output", help="Print the items as JSONL to stdout (the summary goes to stderr).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing non-empty --out folder.")] = False,
    batch_size: Annotated[Optional[int], typer.Option(help="Items asked for per request (default 8; 4 for `local`).")] = None,
    max_calls: Annotated[Optional[int], typer.Option(help="Request budget (default: 3 × the requests a run without rejections needs, + 2 a language).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Token budget, prompt and completion, over all requests.")] = None,
    max_cost: Annotated[Optional[float], typer.Option(help="Cost budget in USD (counted where LiteLLM knows the price).")] = None,
    published: Annotated[Optional[str], typer.Option("--date", help="croissant.json's datePublished, YYYY-MM-DD (default: kept from --out, else today).")] = None,
    no_cache: NoCache = False,
    prefect: PrefectOpt = None,
    verbose: Verbose = False,
) -> None:
    """Generate a pack: exactly N valid items over the languages and categories, or exit 1
    saying what could not be obtained (nothing written unless --allow-partial)."""
    from tinyqa.generators import generate as gen

    spec = gen.make_spec(languages, categories, n, model, difficulty=difficulty, api_base=api_base, context=context,
                         seed=seed, avoid=avoid, batch_size=batch_size, max_calls=max_calls, max_tokens=max_tokens,
                         max_cost_usd=max_cost, published=published)
    result = api.generate(spec, out_dir, api_base=api_base, allow_partial=allow_partial, force=force,
                          use_cache=not no_cache, str_output=str_output, prefect=prefect, verbose=verbose)
    render.generated(result, allow_partial, str_output)


@app.command()
def export(
    pack: Annotated[str, typer.Argument(help="A pack id or pack folder.")],
    fmt: Annotated[str, typer.Option("--format", help="openai-evals, lm-eval, hf, langsmith, opik, promptfoo or csv.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
) -> None:
    """Export a pack for another tool (OpenAI Evals, lm-eval, Hugging Face datasets, ...)."""
    from tinyqa.export import export_pack
    from tinyqa.pack import resolve_packs

    (p,) = resolve_packs([pack])
    for path in export_pack(p, fmt, out_dir):
        out.print(str(path), markup=False)


