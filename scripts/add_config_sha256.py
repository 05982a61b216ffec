"""Record each shipped checkpoint's ``config_sha256`` in its manifest entry.

The manifest's ``sha256`` covers the weights; ``config_sha256``
(``diffusion.config_check.config_sha256``) covers the JSON config, which itself names
the weights' sha256, so a shipped model whose config was edited is refused on load.
Run once after assets are (re)written outside ``checkpoints.add_to_manifest``:

    python scripts/add_config_sha256.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffusion.checkpoints import _atomic_write_bytes, assets_dir
from diffusion.config_check import check_manifest_entry, config_sha256


def main() -> int:
    for manifest in sorted(assets_dir().glob("*/manifest.json")):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        changed = 0
        for entry in data.get("models", []):
            entry.pop("config_sha256", None)
            check_manifest_entry(entry, manifest)  # confined path
            stem = manifest.parent / entry["path"]
            cfg = json.loads(stem.with_name(stem.name + ".json").read_text(encoding="utf-8"))
            entry["config_sha256"] = config_sha256(cfg)
            changed += 1
        _atomic_write_bytes(manifest, (json.dumps(data, indent=2) + "\n").encode())
        print(f"{manifest}: {changed} entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
