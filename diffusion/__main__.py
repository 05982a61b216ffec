"""``python -m diffusion ...``: see diffusion/cli.py and docs/cli.md."""

from .cli import main

raise SystemExit(main())
