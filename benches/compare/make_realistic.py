#!/usr/bin/env python3
"""Writes the realistic benchmark batch: cut-outs as Python background removers hand them over.

rembg and most Python removers save with Pillow: PNG, zlib level 6, Pillow's filters. Their
cut-outs come from camera photos, so the product keeps its grain; fully transparent pixels
are stored as RGB 0; the edge is feathered over 2-6 px; a few faint specks of low alpha sit
away from the product. Some inputs are tagged Adobe RGB or Display P3 (pixels converted into
that space, so they look the same), some carry an EXIF orientation. That costs 1.6-2.3 bytes
per opaque pixel, far more than a smooth synthetic image, and decoding it is what users pay.

The product shapes and colours come from the real photographic cut-outs in tests/fixtures/ (see
tests/fixtures/README.md), enlarged to 2400-4000 px; the grain is added, seeded, so every machine
writes the same batch with the same Pillow and numpy.

    python3 benches/compare/make_realistic.py [count] [out-dir]
    (defaults: 24 files into target/bench-realistic)
"""
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SOURCES = ["MUG01_1.png", "ROCKET02_1.png", "DEEP09_1.png"]
# ICC profiles taken from the tagged fixtures (an Adobe RGB JPEG, a Display P3 PNG).
PROFILES = {3: ("display-p3", "P3TAG05_1.png"), 5: ("adobe-rgb", "ADOBE04_1.jpg")}


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "target" / "bench-realistic"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0x5EED1234)
    sources = [Image.open(FIXTURES / s).convert("RGBA") for s in SOURCES]
    srgb = ImageCms.createProfile("sRGB")
    total_px = total_bytes = 0
    for i in range(count):
        src = sources[i % len(sources)]
        long = int(rng.integers(2400, 4001))
        s = long / max(src.size)
        w, h = int(src.width * s), int(src.height * s)
        img = src.resize((w, h), Image.LANCZOS)
        if rng.integers(0, 2):
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(img, dtype=np.float32).copy()
        # Feathered edge: the matte blurred over 2-6 px, as removers' soft masks are.
        radius = float(rng.uniform(1.0, 3.0))
        alpha = Image.fromarray(a[..., 3].astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
        a[..., 3] = np.asarray(alpha, dtype=np.float32)
        # Camera grain in the product: luminance and a little colour noise.
        sigma = float(rng.uniform(2.5, 4.5))
        lum = rng.normal(0.0, sigma, (h, w, 1)).astype(np.float32)
        col = rng.normal(0.0, sigma * 0.5, (h, w, 3)).astype(np.float32)
        a[..., :3] += lum + col
        rgba = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        # Faint specks of low alpha away from the product.
        for _ in range(int(rng.integers(3, 7))):
            x, y, r = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20)), int(rng.integers(2, 9))
            patch = rgba[y:y + r, x:x + r]
            empty = patch[..., 3] == 0
            patch[empty] = [90, 90, 90, int(rng.integers(20, 121))]
        # Fully transparent pixels hold RGB 0, as rembg writes them.
        rgba[rgba[..., 3] == 0] = 0
        img = Image.fromarray(rgba, "RGBA")
        save = {}
        note = ""
        if i % 8 in PROFILES:
            name, fixture = PROFILES[i % 8]
            icc = Image.open(FIXTURES / fixture).info["icc_profile"]
            to = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(img.convert("RGB"), srgb, to, outputMode="RGB")
            img = Image.merge("RGBA", (*rgb.split(), img.getchannel("A")))
            save["icc_profile"] = icc
            note = f" {name}"
        if i % 8 == 6:
            # Orientation 6 means "turn a quarter right to show": store it turned left.
            img = img.transpose(Image.ROTATE_90)
            exif = Image.Exif()
            exif[0x0112] = 6
            save["exif"] = exif.tobytes()
            note = " exif-orientation-6"
        path = out / f"REAL{i:03d}_1.png"
        img.save(path, "PNG", **save)  # Pillow's defaults: zlib level 6
        size = path.stat().st_size
        opaque = int((rgba[..., 3] > 0).sum())
        total_px += img.width * img.height
        total_bytes += size
        print(f"{path} {img.width}x{img.height} {size / 1e6:.1f} MB, "
              f"{size / opaque:.2f} bytes per visible pixel{note}", flush=True)
    print(f"{count} files, {total_px / 1e6:.0f} MP, {total_bytes / 1e6:.0f} MB, "
          f"{total_bytes / total_px:.2f} bytes per pixel")


if __name__ == "__main__":
    main()
