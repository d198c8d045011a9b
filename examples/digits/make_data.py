"""Write scikit-learn's bundled 8x8 digits (1,797 images, no download) as an image folder: data/<digit>/<index>.png.

The layout is the one Keras' image_dataset_from_directory reads (one folder per
class), so the pipeline beside this script is the one any image folder gets.
Pixel values 0..16 are scaled to 0..255 (uint8 grayscale PNG). Running it again
rewrites nothing that is already there.

    python examples/digits/make_data.py [target folder, default: examples/digits/data] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def write_digits(target: Path, limit: int | None = None) -> int:
    """Write the digits (the first ``limit`` only, if given) below ``target``; returns how many files were written."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    written = 0
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        if limit is not None and index >= limit:
            break
        path = target / str(int(label)) / f"{index:04d}.png"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        scaled = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)
        partial = path.with_suffix(".png.tmp")
        Image.fromarray(scaled, mode="L").save(partial, format="PNG")
        partial.replace(path)  # a run stopped half-way leaves no truncated PNG behind
        written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", type=Path, default=HERE / "data")
    parser.add_argument("--limit", type=int, default=None, help="write only the first N digits")
    args = parser.parse_args()
    written = write_digits(args.target, args.limit)
    print(f"{args.target}: wrote {written} PNG file(s)")


if __name__ == "__main__":
    main()
