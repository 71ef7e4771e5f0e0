"""A picture of the gate's pull-request comment: its Markdown rendered to HTML (markdown-it-py,
CommonMark with tables and inline HTML, as GitHub renders a comment) in a GitHub-like comment
box, photographed by headless Chromium; the empty space below is cut off.

    python ci/comment_screenshot.py gate.md docs/gate-comment.png [--open-first] [--html page.html]

`--open-first` shows the first folded <details> open, as after a click. The README's picture
(docs/gate-comment.png) is made this way from a real failing gate's comment.
"""
from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

CSS = """
body { margin: 0; padding: 16px; background: #fff; font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans",
       Helvetica, Arial, sans-serif, "Noto Color Emoji"; color: #1f2328; }
.box { border: 1px solid #d1d9e0; border-radius: 6px; max-width: 1100px; }
.head { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; color: #59636e;
        border-radius: 6px 6px 0 0; }
.head b { color: #1f2328; }
.body { padding: 8px 16px 16px; }
h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; margin: 16px 0; }
table { border-collapse: collapse; margin: 0 0 16px; display: block; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
th { font-weight: 600; background: #f6f8fa; }
tr:nth-child(2n) td { background: #f6f8fa; }
code { background: rgba(129,139,152,.12); border-radius: 6px; padding: .2em .4em; font-size: 85%;
       font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
details { margin: 0 0 12px; } summary { cursor: pointer; }
ul { padding-left: 2em; } a { color: #0969da; text-decoration: none; }
"""


def page(markdown: str, open_first: bool = False, who: str = "github-actions") -> str:
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    if open_first:
        body = body.replace("<details>", "<details open>", 1)
    return (f"<!doctype html><meta charset=utf-8><style>{CSS}</style><div class=box>"
            f"<div class=head><b>{html.escape(who)}</b> <span>bot</span> commented</div>"
            f"<div class=body>{body}</div></div>")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html_file: Path, png: Path, width: int = 1180, height: int = 4000) -> Path:
    """A PNG of the page, cut below its last non-white row."""
    from PIL import Image, ImageChops

    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--disable-background-networking", "--disable-component-update", "--no-first-run",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={png}", html_file.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    img = Image.open(png).convert("RGB")
    box = ImageChops.difference(img, Image.new("RGB", img.size, (255, 255, 255))).getbbox()
    if box:
        img = img.crop((0, 0, img.width, min(img.height, box[3] + 16)))
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(png, optimize=True)   # a small file for the docs
    return png


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("markdown", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--open-first", action="store_true", help="Show the first <details> open.")
    ap.add_argument("--html", type=Path, help="Keep the page here.")
    args = ap.parse_args(argv)
    html_file = args.html or args.png.with_suffix(".html")
    html_file.write_text(page(args.markdown.read_text(encoding="utf-8"), args.open_first), encoding="utf-8")
    try:
        print(screenshot(html_file, args.png))
    finally:
        if args.html is None:
            html_file.unlink()


if __name__ == "__main__":
    main()
