"""``python -m diffusion lecture ...``: list the shipped lecture sequences, export one.

python -m diffusion lecture list
python -m diffusion lecture export --sequence accelerated-sampling --out slides/
"""

from __future__ import annotations

import sys


def cmd_list(args) -> int:
    from .sequence import available, load

    for name in available():
        seq = load(name)
        print(f"{name}\t{len(seq.slides)} slides\t{seq.minutes} min\t{seq.title}")
    return 0


def cmd_export(args) -> int:
    import torch

    from .export import export

    torch.set_num_threads(1)  # slides are small; many threads only add overhead

    def progress(i: int, n: int, headline: str) -> None:
        print(f"[{i + 1}/{n}] {headline}", file=sys.stderr)

    files = export(
        args.sequence,
        args.out,
        formats=tuple(args.format or ("png", "svg")),
        progress=None if args.quiet else progress,
    )
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def register(subparsers) -> None:
    """Add ``lecture`` and its subcommands to the package CLI."""
    p = subparsers.add_parser("lecture", help="lecture sequences: list them, export slides")
    sub = p.add_subparsers(dest="lecture_command", required=True)
    ls = sub.add_parser("list", help="the shipped sequences (assets/lectures)")
    ls.set_defaults(func=cmd_list)
    ex = sub.add_parser("export", help="every slide as PNG and SVG, talking points as Markdown")
    ex.add_argument(
        "--sequence",
        required=True,
        help="a shipped sequence's name (see: lecture list) or a .json path",
    )
    ex.add_argument("--out", required=True, help="output folder (created or replaced)")
    ex.add_argument(
        "--format",
        action="append",
        choices=("png", "svg"),
        help="png or svg; repeatable (default: both)",
    )
    ex.add_argument("--quiet", action="store_true", help="no progress lines")
    ex.set_defaults(func=cmd_export)
