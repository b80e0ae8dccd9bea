"""Makes docs/before-after.jpg, the README's picture: two fixtures as supplied and as
shelfready writes them for amazon-main.

    cargo run -- process tests/fixtures/ --spec amazon-main --out /tmp/ba
    python3 docs/make_before_after.py /tmp/ba
"""
import sys
from pathlib import Path

from PIL import Image, ImageDraw

TILE = 360
PAD = 16
LABEL = 22
ROOT = Path(__file__).resolve().parent.parent
out_dir = Path(sys.argv[1])

ROWS = [
    ("SUPPLIER03-main.jpg", "supplier photo on a grey sweep, 1600x1600"),
    ("ROCKET02_1.png", "background-remover cut-out, transparent, 1200x1800"),
]


def checkerboard(size, cell=12):
    im = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(im)
    for y in range(0, size[1], cell):
        for x in range(0, size[0], cell):
            if (x // cell + y // cell) % 2:
                d.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(214, 214, 214))
    return im


def tile(path):
    im = Image.open(path)
    im.thumbnail((TILE, TILE), Image.LANCZOS)
    bg = checkerboard((TILE, TILE))
    im = im.convert("RGBA")
    bg.paste(im, ((TILE - im.width) // 2, (TILE - im.height) // 2), im)
    return bg


width = 2 * TILE + 3 * PAD
height = len(ROWS) * (TILE + LABEL + PAD) + PAD
sheet = Image.new("RGB", (width, height), (246, 246, 246))
draw = ImageDraw.Draw(sheet)
for i, (name, what) in enumerate(ROWS):
    y = PAD + i * (TILE + LABEL + PAD)
    before = tile(ROOT / "tests" / "fixtures" / name)
    after = tile(out_dir / "amazon-main" / (Path(name).stem + ".jpg"))
    sheet.paste(before, (PAD, y + LABEL))
    sheet.paste(after, (2 * PAD + TILE, y + LABEL))
    draw.text((PAD, y + 4), "before: " + what, fill=(40, 40, 40))
    draw.text((2 * PAD + TILE, y + 4), "after: amazon-main, 2000x2000 JPEG, white 255, 85%", fill=(40, 40, 40))
sheet.save(ROOT / "docs" / "before-after.jpg", quality=85, optimize=True)
