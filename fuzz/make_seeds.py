"""Writes the seed corpora for the fuzz targets: small copies of tests/fixtures/ (their ICC
profiles and EXIF kept) and hand-built TIFFs in the layouts the tiff crate finds hard
(tiled, planar, strips shorter than their byte counts say).

    python3 fuzz/make_seeds.py   # needs Pillow; writes fuzz/corpus/{decode,splice,catalog,multipart}
"""

import io
import os
import struct
import zlib
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DECODE = ROOT / "fuzz" / "corpus" / "decode"
SPLICE = ROOT / "fuzz" / "corpus" / "splice"
CATALOG = ROOT / "fuzz" / "corpus" / "catalog"
MULTIPART = ROOT / "fuzz" / "corpus" / "multipart"


def put(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


# --- TIFF, built by hand so every field can lie -------------------------------------

SHORT, LONG = 3, 4


def tiff(width, height, spp=3, bps=8, planar=1, tile=None, rows_per_strip=None,
         compression=1, photometric=None, predictor=None, extra=None,
         short_by=0, sample_format=None, big_endian=False):
    """A little TIFF of a gradient. `tile` = (tw, th) makes it tiled; `short_by` cuts
    that many bytes off each chunk's data while the byte counts still claim them all."""
    e = ">" if big_endian else "<"
    if photometric is None:
        photometric = 2 if spp >= 3 else 1
    bytes_per_sample = max(bps // 8, 1)

    def plane_rows(w, h, plane):
        row_samples = w * (1 if planar == 2 else spp)
        out = bytearray()
        for y in range(h):
            for i in range(row_samples):
                v = (i * 7 + y * 13 + plane * 50) & 0xFF
                if bps == 16:
                    out += struct.pack(e + "H", v * 257)
                elif bps == 32:
                    out += struct.pack(e + "f", v / 255)
                elif bps == 1:
                    pass
                else:
                    out.append(v)
            if bps == 1:
                out += bytes([(y * 37) & 0xFF] * ((w + 7) // 8))
        return bytes(out)

    def pack(raw):
        if compression == 8:
            return zlib.compress(raw)
        return raw

    chunks = []
    planes = spp if planar == 2 else 1
    if tile:
        tw, th = tile
        across, down = -(-width // tw), -(-height // th)
        for p in range(planes):
            for _ in range(across * down):
                chunks.append(pack(plane_rows(tw, th, p)))
    else:
        rps = rows_per_strip or height
        for p in range(planes):
            for s in range(-(-height // rps)):
                h = min(rps, height - s * rps)
                chunks.append(pack(plane_rows(width, h, p)))

    header = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    entries = []

    def tag(t, typ, values):
        entries.append((t, typ, values))

    tag(256, LONG, [width])
    tag(257, LONG, [height])
    tag(258, SHORT, [bps] * spp)
    tag(259, SHORT, [compression])
    tag(262, SHORT, [photometric])
    tag(277, SHORT, [spp])
    tag(284, SHORT, [planar])
    if predictor:
        tag(317, SHORT, [predictor])
    if extra is not None:
        tag(338, SHORT, [extra])
    if sample_format:
        tag(339, SHORT, [sample_format] * spp)
    counts = [len(c) for c in chunks]
    if tile:
        tag(322, LONG, [tile[0]])
        tag(323, LONG, [tile[1]])
        off_tag, cnt_tag = 324, 325
    else:
        tag(278, LONG, [rows_per_strip or height])
        off_tag, cnt_tag = 273, 279
    tag(off_tag, LONG, [0] * len(chunks))  # filled below
    tag(cnt_tag, LONG, counts)
    entries.sort()

    n = len(entries)
    ifd_size = 2 + n * 12 + 4
    extra_at = 8 + ifd_size
    blobs = bytearray()

    def value_bytes(typ, values):
        fmt = "H" if typ == SHORT else "I"
        return struct.pack(e + fmt * len(values), *values)

    # Lay chunk data after the out-of-line values; offsets need the layout first.
    out_of_line = {}
    for t, typ, values in entries:
        b = value_bytes(typ, values)
        if len(b) > 4:
            out_of_line[t] = len(blobs)
            blobs += b
            if len(blobs) % 2:
                blobs += b"\0"
    data_at = extra_at + len(blobs)
    offsets, at = [], data_at
    for c in chunks:
        offsets.append(at)
        at += max(len(c) - short_by, 0)
    entries = [(t, typ, offsets if t == off_tag else v) for t, typ, v in entries]
    blobs = bytearray()
    out_of_line = {}
    for t, typ, values in entries:
        b = value_bytes(typ, values)
        if len(b) > 4:
            out_of_line[t] = len(blobs)
            blobs += b
            if len(blobs) % 2:
                blobs += b"\0"

    ifd = struct.pack(e + "H", n)
    for t, typ, values in entries:
        b = value_bytes(typ, values)
        if len(b) > 4:
            field = struct.pack(e + "I", extra_at + out_of_line[t])
        else:
            field = b.ljust(4, b"\0")
        ifd += struct.pack(e + "HHI", t, typ, len(values)) + field
    ifd += struct.pack(e + "I", 0)
    body = b"".join(c[: max(len(c) - short_by, 0)] for c in chunks)
    return header + ifd + bytes(blobs) + body


def tiffs():
    yield "strip_rgb", tiff(16, 12, rows_per_strip=4)
    yield "strip_rgb_be", tiff(16, 12, rows_per_strip=5, big_endian=True)
    yield "strip_grey16", tiff(9, 7, spp=1, bps=16, rows_per_strip=3)
    yield "strip_bilevel", tiff(13, 5, spp=1, bps=1, rows_per_strip=2)
    yield "strip_whiteiszero", tiff(8, 8, spp=1, photometric=0)
    yield "strip_cmyk", tiff(8, 6, spp=4, photometric=5)
    yield "strip_rgba", tiff(8, 6, spp=4, extra=2)
    yield "strip_predictor", tiff(10, 6, rows_per_strip=3, predictor=2)
    yield "strip_deflate", tiff(12, 9, rows_per_strip=4, compression=8)
    yield "strip_float", tiff(6, 4, spp=1, bps=32, sample_format=3)
    yield "strip_short", tiff(16, 12, rows_per_strip=4, short_by=20)
    yield "strip_short_one_row", tiff(16, 12, rows_per_strip=12, short_by=47)
    yield "planar_rgb", tiff(10, 6, planar=2, rows_per_strip=3)
    yield "planar_rgb16", tiff(10, 6, bps=16, planar=2, rows_per_strip=2)
    yield "planar_rgba", tiff(7, 5, spp=4, extra=2, planar=2)
    yield "planar_short", tiff(10, 6, planar=2, rows_per_strip=3, short_by=9)
    yield "planar_deflate", tiff(10, 6, planar=2, compression=8)
    yield "tiled_rgb", tiff(20, 20, tile=(16, 16))
    yield "tiled_grey", tiff(33, 17, spp=1, tile=(16, 16))
    yield "tiled_rgb16", tiff(17, 17, bps=16, tile=(16, 16))
    yield "tiled_planar", tiff(20, 18, planar=2, tile=(16, 16))
    yield "tiled_short", tiff(20, 20, tile=(16, 16), short_by=100)
    yield "tiled_deflate", tiff(24, 20, tile=(16, 16), compression=8)
    yield "tiled_predictor", tiff(20, 20, tile=(16, 16), predictor=2)


# --- Small copies of the fixtures -----------------------------------------------------

def small(path, side=40):
    im = Image.open(path)
    icc = im.info.get("icc_profile")
    exif = im.info.get("exif")
    fmt = im.format
    if im.mode not in ("1", "L", "LA", "RGB", "RGBA", "P", "CMYK"):
        im = im.convert("RGBA")
    im.thumbnail((side, side))
    out = io.BytesIO()
    kw = {}
    if icc:
        kw["icc_profile"] = icc
    if exif:
        kw["exif"] = exif
    im.save(out, fmt, **kw)
    return im, out.getvalue(), icc, exif


def main():
    for name, data in tiffs():
        put(DECODE, name + ".tif", data)

    iccs, exifs, jpegs = [], [], []
    for path in sorted((ROOT / "tests" / "fixtures").iterdir()):
        if path.suffix.lower() not in (".jpg", ".png"):
            continue
        try:
            im, data, icc, exif = small(path)
        except OSError:
            # A broken fixture: its first bytes stand for it (header, then cut off).
            put(DECODE, path.stem + path.suffix.lower(), path.read_bytes()[:2048])
            continue
        put(DECODE, path.stem + path.suffix.lower(), data)
        if icc:
            iccs.append((path.stem, icc))
        if exif:
            exifs.append((path.stem, exif))
        if path.suffix.lower() == ".jpg":
            jpegs.append((path.stem, data, icc))
        if path.stem == "MUG01_1":
            rgb = im.convert("RGBA")
            for fmt, ext, kw in [
                ("WEBP", "webp", {"lossless": True}),
                ("WEBP", "lossy.webp", {"quality": 60}),
                ("GIF", "gif", {}),
                ("BMP", "bmp", {}),
                ("TIFF", "pil.tif", {"compression": "tiff_lzw"}),
                ("TIFF", "pil_deflate.tif", {"compression": "tiff_adobe_deflate"}),
                ("TIFF", "pil_packbits.tif", {"compression": "packbits"}),
                ("TIFF", "pil_jpeg.tif", {"compression": "jpeg"}),
                ("TIFF", "pil_group4.tif", {"compression": "group4"}),
            ]:
                out = io.BytesIO()
                src = rgb if fmt != "BMP" else rgb.convert("RGB")
                if ext == "pil_jpeg.tif":
                    src = rgb.convert("RGB")
                if ext == "pil_group4.tif":
                    src = rgb.convert("1")
                src.save(out, fmt, **kw)
                put(DECODE, "mug_small." + ext, out.getvalue())

    # splice: selector byte, then three little-endian bytes saying where part one ends.
    def sel(op, a, b=b"", prefix=b""):
        return bytes([op]) + prefix + struct.pack("<I", len(a))[:3] + a + b

    px = bytes(range(0, 256, 3))[:64]
    for stem, icc in iccs:
        put(SPLICE, f"icc_{stem}", sel(0, icc, px))
        put(SPLICE, f"cmyk_{stem}", sel(1, icc, px))
    for stem, exif in exifs:
        body = exif[6:] if exif.startswith(b"Exif\0\0") else exif
        put(SPLICE, f"exif_{stem}", bytes([3]) + body)
    for stem, jpeg, icc in jpegs:
        put(SPLICE, f"jpeg_{stem}", sel(2, jpeg, icc or b""))
        put(SPLICE, f"jpegicc_{stem}", sel(4, jpeg, (iccs[0][1] if iccs else b"")[:600]))
    webp = (DECODE / "mug_small.webp").read_bytes()
    put(SPLICE, "webpicc", sel(5, webp, iccs[0][1][:600], prefix=struct.pack("<HH", 40, 30)))
    webp = (DECODE / "mug_small.lossy.webp").read_bytes()
    put(SPLICE, "webpicc_lossy", sel(5, webp, b"ICC", prefix=struct.pack("<HH", 40, 30)))


# --- Catalogs as suppliers write them, and upload bodies --------------------------

CATALOGS = {
    "comma.csv": b"file,sku,position,alt_text,title,identifier\nmug.png,MUG-01,main,White mug,\"Mug, white\",0123456789012\nshots/side.jpg,,PT01,,,\n",
    "bom_crlf.csv": b"\xef\xbb\xbfImage File;Item Number;Position;Product Name;EAN\r\nmug.png;M-1;1;\"Becher \"\"wei\xc3\x9f\"\"\";4006381333931\r\n",
    "tab.tsv": b"filename\tSKU\tpos\nmug.png\tM-1\t2\nC:\\shots\\cup.jpg\tC-2\tPT03\n",
    "quoted_newline.csv": b"file,title\n\"mug.png\",\"line one\nline two\"\n\"=HYPERLINK(1)\",+1\n",
    "ragged.csv": b"file,sku\na.png\nb.png,B,extra,cells\n,,\n",
    "array.json": b'[{"file": "mug.png", "sku": "M-1", "position": 1, "gtin": 4006381333931}, {"file": "b.jpg", "position": "PT01", "gtin": null}]',
    "object.json": b'{"images": [{"Image URL": "https://cdn.example.com/a/mug.png", "SKU": "M-1", "position": 1}]}',
    "nested.json": b'[{"file": {"deep": [1, 2, {"x": null}]}, "sku": [true, false]}]',
}


def hostile():
    # Pillow's hostile files (tests/data/hostile/) seed the decoder too.
    for path in sorted((ROOT / "tests" / "data" / "hostile").iterdir()):
        if path.suffix.lower() in (".tif", ".tiff", ".png", ".jpg", ".gif", ".bmp"):
            put(DECODE, "hostile_" + path.name, path.read_bytes())


def catalogs():
    for name, data in CATALOGS.items():
        put(CATALOG, name, data)
    put(CATALOG, "products.csv", (ROOT / "tests" / "fixtures" / "products.csv").read_bytes())
    put(CATALOG, "supplier.xlsx", (ROOT / "tests" / "data" / "supplier-catalog.xlsx").read_bytes())


def part(name, body, file_name=None, ctype=None, boundary=b"B"):
    disp = b'form-data; name="' + name + b'"'
    if file_name is not None:
        disp += b'; filename="' + file_name + b'"'
    head = b"--" + boundary + b"\r\nContent-Disposition: " + disp + b"\r\n"
    if ctype:
        head += b"Content-Type: " + ctype + b"\r\n"
    return head + b"\r\n" + body + b"\r\n"


def uploads():
    """Bodies for the `multipart` target: a selector byte (boundary in its low two bits,
    chunk size in the rest), then the body as a client sends it."""
    png = (DECODE / "MUG01_1.png").read_bytes()[:300] if (DECODE / "MUG01_1.png").exists() else b"\x89PNG\r\n\x1a\n"
    bounds = [b"B", b"----WebKitFormBoundary7MA4YWxkTrZu0gW",
              b"------------------------d74496d66958873e", b"a-b_c"]
    for i, b in enumerate(bounds):
        end = b"--" + b + b"--\r\n"
        body = (part(b"specs", b"amazon-main,shopify", boundary=b)
                + part(b"photo", png, b"shots/../mug.png", b"image/png", boundary=b)
                + part(b"catalog", CATALOGS["comma.csv"], b"catalog.csv", b"text/csv", boundary=b)
                + part(b"webhook", b"https://hooks.example.com/x", boundary=b) + end)
        for chunk in (0, 7, 63):
            put(MULTIPART, f"upload_{i}_{chunk}", bytes([i | chunk << 2]) + body)
    # Preamble and epilogue, a quoted boundary-like name, a UTF-8 file name, no final CRLF.
    body = (b"preamble\r\n" + part(b"f", b"x", "caf\u00e9 \u2603.png".encode(), boundary=b"B")
            + part(b"specs", b" amazon-main , ,amazon-main", boundary=b"B") + b"--B--epilogue")
    put(MULTIPART, "preamble", bytes([0]) + body)
    # Two part headers on one part, an empty part, a part with no name.
    body = (b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nv\r\n"
            + b"--B\r\n\r\n\r\n" + b"--B\r\nContent-Type: text/plain\r\n\r\nq\r\n--B--\r\n")
    put(MULTIPART, "odd_headers", bytes([8]) + body)


if __name__ == "__main__":
    main()
    hostile()
    catalogs()
    uploads()
