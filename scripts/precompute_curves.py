"""Compute every curve and table the pages show by default into assets/curves/.

    .venv/bin/python scripts/precompute_curves.py [--only NAME ...] [--check]

Writes one JSON file per curve and assets/curves/manifest.json (command, seed, code
version, sha256); see diffusion/precomputed.py. ``--check`` only lists the stale curves
and exits 1 if there are any. Single-threaded like the app's server, so the numbers are
those a page's "recompute live" gives.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from diffusion import precomputed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=sorted(precomputed.CURVES), default=None)
    p.add_argument("--check", action="store_true", help="list stale curves; exit 1 if any")
    args = p.parse_args(argv)
    if args.check:
        bad = precomputed.stale()
        for name, why in bad.items():
            print(f"{name}: {why}")
        return 1 if bad else 0
    torch.set_num_threads(1)
    for name in args.only or precomputed.CURVES:
        t0 = time.perf_counter()
        result = precomputed.CURVES[name]()
        cmd = "python scripts/precompute_curves.py --only " + name
        path = precomputed.write(name, result, command=cmd, seed=precomputed.SEED)
        print(
            f"{name}: {path.relative_to(precomputed.ROOT)} in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
