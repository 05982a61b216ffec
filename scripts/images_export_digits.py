"""Export scikit-learn's bundled 8x8 handwritten digits once into assets/images/digits.npz.

The offline image track reads that file, so scikit-learn is needed only to run this
script, never at run time. The images are the UCI "Optical Recognition of
Handwritten Digits" test set (Alpaydin & Kaynak 1998; CC BY 4.0), as shipped in
scikit-learn (BSD-3-Clause): 1797 images of 8x8 pixels with 17 grey levels (0-16).

Usage: python scripts/images_export_digits.py [--out assets/images/digits.npz]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assets/images/digits.npz")
    args = parser.parse_args()
    from sklearn.datasets import load_digits  # only here: a one-off export

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # (1797, 8, 8), values 0..16
    labels = digits.target.astype(np.uint8)
    folder = os.path.dirname(os.path.abspath(args.out))
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    os.close(fd)
    try:
        np.savez_compressed(
            tmp,
            images=images,
            labels=labels,
            source=np.array("UCI Optical Recognition of Handwritten Digits via scikit-learn"),
            license=np.array("CC BY 4.0 (data), BSD-3-Clause (scikit-learn)"),
        )
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {args.out}: {images.shape[0]} images, labels {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    main()
