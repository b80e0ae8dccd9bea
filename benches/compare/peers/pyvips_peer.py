#!/usr/bin/env python3
"""The canonical job done with pyvips (libvips), as its documentation suggests.

    python3 pyvips_peer.py <input-dir> <output-dir>            canonical: <out>/<name>.jpg
    python3 pyvips_peer.py --three <input-dir> <output-dir>    amazon-main, shopify, mockup-input

Threading (measured on 2 cores, 24-file batch, see README.md): two Python threads, one image
each, with libvips' own pool at one thread. pyvips releases the GIL while libvips runs and PNG
decode is single-threaded, so two images side by side (2.30 s) beat one image at a time on two
libvips threads (2.90 s) and two processes with half the files each (2.86 s); two threads with
two libvips threads each gave 2.35 s. PYVIPS_WORKERS (threads) and VIPS_CONCURRENCY override.
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

WORKERS = int(os.environ.get("PYVIPS_WORKERS", "2"))
# Must be set before libvips starts; a user's explicit VIPS_CONCURRENCY wins.
os.environ.setdefault("VIPS_CONCURRENCY", "1" if WORKERS > 1 else str(os.cpu_count()))
import pyvips  # noqa: E402

WHITE = [255, 255, 255]


def prepare(path):
    """Decode, orient, convert to sRGB and trim to the product: the RGBA every output starts from."""
    # Random access (the default): the trim reads the whole image before the crop does.
    im = pyvips.Image.new_from_file(str(path)).autorot()
    if im.get_typeof("icc-profile-data"):
        im = im.icc_transform("srgb", embedded=True)  # alpha is carried through
    if not im.hasalpha():
        im = im.bandjoin(255)
    # Trim to the rows and columns holding a mostly opaque pixel (alpha >= 128): faint
    # specks and haze stay out of the box (find_trim's default threshold, 10, keeps them).
    # Summing the mask along each axis costs a fifth of find_trim on the alpha band, which
    # also runs a 3x3 median first (measured: 26 ms against 136 ms on a 12 MP input).
    cols, rows = (im[im.bands - 1] >= 128).project()
    xs, ys = bytes((cols > 0).write_to_memory()), bytes((rows > 0).write_to_memory())
    left, top = xs.find(255), ys.find(255)
    if left < 0:
        return im  # nothing opaque: keep the whole image
    return im.crop(left, top, xs.rfind(255) - left + 1, ys.rfind(255) - top + 1)


def place(im, size, fill, background):
    """Longest side at size*fill, centred on a size x size canvas of `background`."""
    scale = round(size * fill) / max(im.width, im.height)
    if background is not None:
        # Flattening before the resize gives what a premultiplied resize would, on 3 bands.
        im = im.flatten(background=background).resize(scale, kernel="lanczos3")
    else:
        # Kept transparent: resize premultiplied, or clear pixels' colour bleeds into the edge.
        im = im.premultiply().resize(scale, kernel="lanczos3").unpremultiply().cast("uchar")
        background = [0, 0, 0, 0]
    return im.gravity("centre", size, size, extend="background", background=background)


def canonical(path, out_dir):
    out = place(prepare(path), 2000, 0.85, WHITE)
    out.jpegsave(str(out_dir / f"{path.stem}.jpg"), Q=85, subsample_mode="on",
                 optimize_coding=True, keep="none")


def three(path, out_dir):
    # One decode: keep the trimmed RGBA in memory and make each output from it.
    im = prepare(path).copy_memory()
    place(im, 2000, 0.85, WHITE).jpegsave(
        str(out_dir / "amazon-main" / f"{path.stem}.jpg"), Q=90, subsample_mode="off",
        optimize_coding=True, keep="none")
    place(im, 2048, 0.85, WHITE).jpegsave(
        str(out_dir / "shopify" / f"{path.stem}.jpg"), Q=88, subsample_mode="on",
        interlace=True, optimize_coding=True, keep="none")
    place(im, 2000, 0.95, None).pngsave(
        str(out_dir / "mockup-input" / f"{path.stem}.png"), keep="none")


def main(argv):
    is_three = argv[:1] == ["--three"]
    if is_three:
        argv = argv[1:]
    if len(argv) != 2:
        sys.exit("usage: pyvips_peer.py [--three] <input-dir> <output-dir>")
    in_dir, out_dir = Path(argv[0]), Path(argv[1])
    for d in (["amazon-main", "shopify", "mockup-input"] if is_three else [""]):
        (out_dir / d).mkdir(parents=True, exist_ok=True)
    inputs = sorted(p for p in in_dir.iterdir() if p.suffix.lower() == ".png")
    job = three if is_three else canonical
    failed = 0
    with ThreadPoolExecutor(WORKERS) as pool:
        for path, fut in [(p, pool.submit(job, p, out_dir)) for p in inputs]:
            try:
                fut.result()
            except Exception as e:  # one bad file must not stop the batch
                failed += 1
                print(f"{path}: {e}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
