"""A picture of what a gate can detect: the pull-request comment (its per-pack line "core_en,
n = 52: detects drops of 15 points or more (80% power)") above the dashboard's status table
(its "detects (80% power)" and "cost" columns), both photographed by headless Chromium.

    python ci/power_screenshot.py gate.md site/index.html docs/gate-power.png

The README's docs/gate-power.png is made this way from a real gate's comment and dashboard.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comment_screenshot import page, screenshot  # noqa: E402

# The dashboard with its status table alone (no chart, no other section).
ONLY_STATUS = ("<style>section:not(#status), #chart-latest, nav, footer { display: none !important; }"
               " body { padding-top: 0 !important; }</style>")


def _cut_below(img):
    """The image cut 16 pixels below its last row that is not the page's background (the
    colour of its bottom-left pixel)."""
    from PIL import Image, ImageChops

    bg = Image.new("RGB", img.size, img.getpixel((0, img.height - 1)))
    box = ImageChops.difference(img, bg).getbbox()
    return img.crop((0, 0, img.width, min(img.height, box[3] + 16))) if box else img


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("markdown", type=Path)
    ap.add_argument("dashboard", type=Path)
    ap.add_argument("png", type=Path)
    args = ap.parse_args(argv)
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        comment_html, dash_html = Path(tmp) / "comment.html", Path(tmp) / "dash.html"
        comment_html.write_text(page(args.markdown.read_text(encoding="utf-8")), encoding="utf-8")
        dash_html.write_text(args.dashboard.read_text(encoding="utf-8").replace("</head>", ONLY_STATUS + "</head>", 1),
                             encoding="utf-8")
        top = Image.open(screenshot(comment_html, Path(tmp) / "comment.png", width=1400)).convert("RGB")
        bottom = Image.open(screenshot(dash_html, Path(tmp) / "dash.png", width=1400, height=1600)).convert("RGB")
    bottom = _cut_below(bottom)
    out = Image.new("RGB", (max(top.width, bottom.width), top.height + bottom.height + 24), (255, 255, 255))
    out.paste(top, (0, 0))
    out.paste(bottom, (0, top.height + 24))
    out.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(args.png, optimize=True)
    print(f"{args.png}: {out.width}x{out.height}")


if __name__ == "__main__":
    main()
