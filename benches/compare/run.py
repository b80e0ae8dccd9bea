#!/usr/bin/env python3
"""Peer comparison driver: shelfready against sharp, pyvips, ImageMagick and Pillow on the
canonical job (see README.md), plus the decode+encode floor and the three-spec job.

    python3 benches/compare/run.py [--batch DIR] [--runs N] [--only name,...]

Each job gets one warm-up run and N timed runs of the whole command (wall clock, output folder
wiped before each run), while the summed RSS of its process tree is sampled every ~10 ms.
Each run starts on an idle machine; one that other processes disturbed is repeated.
After the last run the outputs are checked (JPEG, 2000x2000, white corners, no metadata, one
per input, turned like shelfready's). Writes target/compare/results.{json,md} and
target/compare/crops/.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "target" / "compare"
SHELFREADY = ROOT / "target" / "release" / "shelfready"
FLOOR = ROOT / "target" / "release" / "examples" / "floor"
NODE_DIR = OUT / "node"
LAST = OUT / "last"  # each job's outputs from its last run, for the floor and the crops
FLOOR_JPEGS = LAST / "shelfready"
CONVERT = "/usr/bin/convert"  # /usr/local/bin/convert is a stand-in, not ImageMagick
PY = sys.executable
THREE = ["amazon-main", "shopify", "mockup-input"]


def job(name, cmd, outputs=".", ok=(0,), three=False):
    """cmd(in_dir, out_dir) -> argv; outputs: where the canonical JPEGs land under out_dir."""
    return {"name": name, "cmd": cmd, "outputs": outputs, "ok": ok, "three": three}


JOBS = [
    job("shelfready", lambda i, o: [str(SHELFREADY), "process", str(i), "--spec",
                                     str(HERE / "canonical.toml"), "--out", str(o), "--force"],
        outputs="canonical", ok=(0, 2)),
    job("sharp", lambda i, o: ["node", str(HERE / "peers" / "sharp.js"), str(i), str(o)]),
    job("pyvips", lambda i, o: [PY, str(HERE / "peers" / "pyvips_peer.py"), str(i), str(o)]),
    job("imagemagick", lambda i, o: ["bash", str(HERE / "peers" / "imagemagick.sh"), str(i), str(o)]),
    job("pillow", lambda i, o: [PY, str(HERE / "peers" / "pillow_peer.py"), str(i), str(o)]),
    # The floor decodes the inputs and encodes the JPEGs of a finished run (kept in LAST).
    job("floor", lambda i, o: [str(FLOOR), str(i), str(FLOOR_JPEGS), str(o)]),
    job("shelfready-3spec", lambda i, o: [str(SHELFREADY), "process", str(i), "--spec",
                                           ",".join(THREE), "--out", str(o), "--force"],
        ok=(0, 2), three=True),
    job("sharp-3spec", lambda i, o: ["node", str(HERE / "peers" / "sharp.js"), "--three", str(i), str(o)],
        three=True),
    job("pyvips-3spec", lambda i, o: [PY, str(HERE / "peers" / "pyvips_peer.py"), "--three", str(i), str(o)],
        three=True),
]


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def versions():
    sharp = sh(["node", "-e", "const s=require('module').createRequire(process.argv[1])('sharp');"
                "console.log(s.versions.sharp + ' (libvips ' + s.versions.vips + ')')",
                str(NODE_DIR / "package.json")])
    pyvips = sh([PY, "-c", "import pyvips; print(pyvips.__version__, '(libvips %d.%d.%d)' % "
                 "tuple(pyvips.version(i) for i in range(3)))"])
    im = sh([CONVERT, "-version"]).splitlines()
    import PIL
    return {
        "shelfready": sh([str(SHELFREADY), "--version"]).replace("shelfready ", ""),
        "sharp": sharp,
        "pyvips": pyvips,
        "imagemagick": " ".join(im[0].split()[2:4]) if im else "",
        "pillow": PIL.__version__,
        "node": sh(["node", "--version"]),
        "python": platform.python_version(),
    }


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    # The vector extensions the codecs and resizers pick their kernels by.
    simd = [f for f in ("avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni") if f in flags]
    return {"cpu": cpu, "simd": simd, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "loadavg_at_start": os.getloadavg()}


def busy_cpu_s():
    """CPU seconds the whole machine has spent busy since boot."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0)


def self_cpu_s():
    """CPU seconds of this driver alone (its RSS sampling competes with the tool measured)."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    return s.ru_utime + s.ru_stime


def own_cpu_s():
    """CPU seconds of this driver and of its finished (waited-for) children."""
    c, s = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    return c.ru_utime + c.ru_stime + s.ru_utime + s.ru_stime


def wait_idle(limit_s=60):
    """Wait (up to limit_s) for a second in which the machine uses under a tenth of a core."""
    end = time.time() + limit_s
    while time.time() < end:
        if psutil.cpu_percent(interval=1) * psutil.cpu_count() / 100 < 0.1:
            return True
    return False


def run_once(argv, log):
    """Wall time, exit code, peak summed RSS of the whole process tree, and the cores that
    other processes kept busy meanwhile (to tell a clean run from a disturbed one)."""
    with open(log, "w") as out:
        busy0, own0, self0 = busy_cpu_s(), own_cpu_s(), self_cpu_s()
        t0 = time.perf_counter()
        p = psutil.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        peak, tree, rescan = 0, [p], 0.0
        while p.poll() is None:
            # Reading a process's RSS is cheap; finding the tree reads every /proc/*/stat,
            # so the tree is looked up every 100 ms and its RSS summed every 10 ms.
            if time.perf_counter() >= rescan:
                try:
                    tree = [p] + p.children(recursive=True)
                except psutil.Error:
                    pass
                rescan = time.perf_counter() + 0.1
            rss = 0
            for q in tree:
                try:
                    rss += q.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, rss)
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        other = max(0.0, (busy_cpu_s() - busy0) - (own_cpu_s() - own0)) / wall
        sampler = (self_cpu_s() - self0) / wall
    return wall, p.returncode, peak, other, sampler


def corners_white(im, n=8):
    w, h = im.size
    for x, y in [(0, 0), (w - n, 0), (0, h - n), (w - n, h - n)]:
        lo = min(lo for lo, _ in im.crop((x, y, x + n, y + n)).getextrema())
        if lo < 250:
            return False
    return True


def product_box(im):
    """Box of the product on white, to within 1%: on a 100x100 average, cells darker than 235
    whose 3x3 neighbourhood is dark too (a stray speck is a lone cell), grown back by a cell."""
    small = im.convert("L").resize((100, 100), Image.Resampling.BOX).filter(ImageFilter.MaxFilter(3))
    box = small.point(lambda v: 255 if v < 235 else 0).getbbox()
    if not box:
        return None
    box = (max(0, box[0] - 1), max(0, box[1] - 1), min(100, box[2] + 1), min(100, box[3] + 1))
    return [v * im.width // 100 for v in box]


def signature(im, box):
    """The product alone, squeezed to 24x24 grey: compared with shelfready's to catch a turn."""
    return im.crop(box).convert("L").resize((24, 24), Image.Resampling.BOX)


def turned(sig, ref):
    """True when a quarter or half turn of `sig` matches `ref` far better than `sig` itself."""
    def err(a):
        return sum(abs(x - y) for x, y in zip(a.tobytes(), ref.tobytes()))
    as_is = err(sig)
    return min(err(sig.transpose(t)) for t in (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
                                               Image.Transpose.ROTATE_270)) < 0.6 * as_is


def check(out_dir, names, reference):
    """Problems with a finished canonical run, plus the product's share of the canvas."""
    files = sorted(out_dir.glob("*.jpg"))
    problems, fills, sigs = [], [], {}
    if len(files) != len(names):
        problems.append(f"{len(files)} outputs for {len(names)} inputs")
    bad = {"not JPEG": 0, "not 2000x2000": 0, "corner not white": 0, "metadata kept": 0,
           "turned unlike shelfready": 0}
    for f in files:
        if f.read_bytes()[:3] != b"\xff\xd8\xff":
            bad["not JPEG"] += 1
            continue
        with Image.open(f) as im:
            if im.size != (2000, 2000):
                bad["not 2000x2000"] += 1
            if {"exif", "icc_profile", "xmp"} & set(im.info):
                bad["metadata kept"] += 1
            im = im.convert("RGB")
        if not corners_white(im):
            bad["corner not white"] += 1
        box = product_box(im)
        if box:
            fills.append(max(box[2] - box[0], box[3] - box[1]) / im.width)
            sigs[f.stem] = signature(im, box)
            ref = (reference or {}).get(f.stem)
            if ref and turned(sigs[f.stem], ref):
                bad["turned unlike shelfready"] += 1
    problems += [f"{n} {what}" for what, n in bad.items() if n]
    return problems, (statistics.median(fills) if fills else None), sigs, files


def edge_crop(path, size=400):
    """A size x size crop centred where the product's left edge meets the background."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        box = product_box(im) or [0, 0, im.width, im.height]
        y = (box[1] + box[3]) // 2
        row = [min(im.getpixel((x, y))) for x in range(im.width)]
        x = next((i for i, v in enumerate(row) if v < 200), im.width // 2)
        x0 = min(max(0, x - size // 2), im.width - size)
        y0 = min(max(0, y - size // 2), im.height - size)
        return im.crop((x0, y0, x0 + size, y0 + size))


def montage(crops, path):
    pad, label = 8, 20
    sheet = Image.new("RGB", (len(crops) * (400 + pad) + pad, 400 + label + 2 * pad), (128, 128, 128))
    draw = ImageDraw.Draw(sheet)
    for k, (name, crop) in enumerate(crops):
        x = pad + k * (400 + pad)
        draw.text((x, pad), name, fill=(0, 0, 0))
        sheet.paste(crop, (x, pad + label))
    sheet.save(path)


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", default="target/bench-realistic",
                    help="folder of input PNGs (default: the realistic batch, written by "
                         "make_realistic.py when missing; target/bench-batch is the older, "
                         "smoother one, written by the bench_batch example)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per tool (after a warm-up)")
    ap.add_argument("--only", default="", help="comma-separated job names (sharp also selects sharp-3spec)")
    args = ap.parse_args()

    batch = (ROOT / args.batch).resolve()
    if not batch.is_dir() and batch.name == "bench-realistic":
        print(f"generating {batch} with make_realistic.py", flush=True)
        subprocess.run([sys.executable, str(HERE / "make_realistic.py"), "24", str(batch)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    elif not batch.is_dir():
        print(f"generating {batch} with the bench_batch example", flush=True)
        subprocess.run(["cargo", "run", "--release", "--example", "bench_batch", "--", "24", str(batch)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    inputs = sorted(p for p in batch.iterdir() if p.suffix.lower() == ".png")
    names = [p.stem for p in inputs]
    megapixels = sum(Image.open(p).width * Image.open(p).height for p in inputs) / 1e6
    only = {s for s in args.only.split(",") if s}
    jobs = [j for j in JOBS if not only or j["name"] in only or j["name"].split("-3spec")[0] in only]

    ver, mach = versions(), machine()
    print(f"batch {batch} : {len(inputs)} PNGs, {megapixels:.1f} MP; {args.runs} timed runs each", flush=True)
    work = OUT / "work"
    keep = LAST
    if not (keep / "batch.txt").is_file() or (keep / "batch.txt").read_text() != str(batch):
        shutil.rmtree(keep, ignore_errors=True)  # outputs of another batch: of no use here
        keep.mkdir(parents=True)
        (keep / "batch.txt").write_text(str(batch))
    results, reference = {}, None
    if (keep / "shelfready").is_dir():  # an earlier run on this batch, if shelfready is not run now
        reference = check(keep / "shelfready", names, None)[2]
    for j in jobs:
        name = j["name"]
        if name == "floor":
            if not FLOOR.exists():
                print("floor: not built", flush=True)
                results[name] = {"skipped": "not built"}
                continue
            if not FLOOR_JPEGS.is_dir():
                results[name] = {"skipped": "needs shelfready's outputs (run shelfready too)"}
                continue
        if name.startswith("shelfready") and not SHELFREADY.exists():
            results[name] = {"skipped": f"{SHELFREADY} missing"}
            continue
        print(f"{name}: ", end="", flush=True)
        walls, peaks, codes, others, own_clock, samplers = [], [], [], [], [], []
        for k in range(args.runs + 1):
            # On a shared machine: start on an idle machine, and repeat (up to 3 times) a run
            # during which other processes kept more than a tenth of a core busy.
            for _ in range(4):
                wait_idle()
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                wall, code, peak, other, sampler = run_once(j["cmd"](batch, work), OUT / f"{name}.log")
                if other <= 0.1:
                    break
            if name == "floor" and k:
                try:  # the floor's own clock leaves out its start-up (reading the JPEGs)
                    own_clock.append(json.loads((OUT / "floor.log").read_text().strip().splitlines()[-1])["wall_s"])
                except (ValueError, KeyError, IndexError):
                    pass
            codes.append(code)
            if k:  # run 0 is the warm-up
                walls.append(wall)
                peaks.append(peak)
                others.append(other)
                samplers.append(sampler)
            print(f"{wall:.2f}s ", end="", flush=True)
        print(flush=True)
        r = {"wall_s": walls, "median_s": statistics.median(walls), "peak_rss_mb": max(peaks) / 2**20,
             "exit_codes": codes,
             "other_cores": others, "sampler_cores": samplers, "problems": []}
        bad_codes = sorted({c for c in codes if c not in j["ok"]})
        if bad_codes:
            r["problems"].append(f"exit {','.join(map(str, bad_codes))} (see {OUT / (name + '.log')})")
        if name == "floor":
            if own_clock:
                r["own_clock_s"] = own_clock
                r["own_clock_median_s"] = statistics.median(own_clock)
        elif j["three"]:
            counts = {s: len(list((work / s).glob("*.*"))) for s in THREE}
            r["outputs"] = counts
            r["problems"] += [f"{s}: {n} outputs for {len(names)} inputs" for s, n in counts.items() if n != len(names)]
        else:
            problems, fill, sigs, files = check(work / j["outputs"], names, reference)
            r["problems"] += problems
            r["fill"] = fill
            r["mean_output_bytes"] = statistics.mean(f.stat().st_size for f in files) if files else None
            if name == "shelfready":
                reference = sigs
            shutil.rmtree(keep / name, ignore_errors=True)
            shutil.copytree(work / j["outputs"], keep / name)
        results[name] = r

    # Crops at the product edge of one input, to look for halos and fringes.
    crops_dir = OUT / "crops"
    shutil.rmtree(crops_dir, ignore_errors=True)
    crops_dir.mkdir(parents=True)
    crops = []
    for name in [j["name"] for j in JOBS if not j["three"] and j["name"] != "floor"]:
        f = keep / name / f"{names[0]}.jpg"
        if f.exists():
            crop = edge_crop(f)
            crop.save(crops_dir / f"{name}.png")
            crops.append((name, crop))
    if crops:
        montage(crops, crops_dir / "montage.png")

    base = results.get("shelfready", {}).get("median_s")
    rows = ["| tool | version | median wall s | images/s | input MP/s | peak RSS MB | mean output bytes"
            " | time ÷ shelfready | product fill | checks |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in results.items():
        if "median_s" not in r or name.endswith("-3spec"):
            continue
        med = r["median_s"]
        ratio = med / base if base else None
        checks = "FAIL: " + "; ".join(r["problems"]) if r["problems"] else "-" if name == "floor" else "ok"
        rows.append(f"| {name} | {ver.get(name, '-')} | {med:.2f} | {len(names) / med:.2f} | {megapixels / med:.1f}"
                    f" | {r['peak_rss_mb']:.0f} | {fmt(r.get('mean_output_bytes'), ',.0f')} | {fmt(ratio, '.2f')}"
                    f" | {fmt(r.get('fill'), '.2f')} | {checks} |")
    notes = []
    fl = results.get("floor", {})
    if "median_s" in fl and base:
        floor_s = fl.get("own_clock_median_s", fl["median_s"])
        notes.append(f"shelfready ÷ floor: {base / floor_s:.2f} (floor: decode every input and encode every output,"
                     f" {floor_s:.2f} s by its own clock, {fl['median_s']:.2f} s as a whole command)")
    elif "skipped" in fl:
        notes.append(f"floor: {fl['skipped']}")
    for name in ("shelfready-3spec", "sharp-3spec", "pyvips-3spec"):
        r, one = results.get(name, {}), results.get(name.split("-3spec")[0], {})
        if "median_s" in r:
            line = f"three specs ({','.join(THREE)}), {name.split('-3spec')[0]}: {r['median_s']:.2f} s median"
            if "median_s" in one:
                line += f", {r['median_s'] / one['median_s']:.2f}x its one-spec time"
            if name != "shelfready-3spec" and "median_s" in results.get("shelfready-3spec", {}):
                line += f", {r['median_s'] / results['shelfready-3spec']['median_s']:.2f}x shelfready's three-spec time"
            line += f", peak RSS {r['peak_rss_mb']:.0f} MB"
            if r["problems"]:
                line += " — FAIL: " + "; ".join(r["problems"])
            notes.append(line)
    notes.append(f"machine: {mach['cpu']} ({', '.join(mach['simd']) or 'no AVX2'}), {mach['cores']} cores, {mach['memory_gib']} GiB, Linux {mach['kernel']},"
                 f" load average at start {mach['loadavg_at_start'][0]:.2f}")
    notes.append("versions: " + ", ".join(f"{k} {v}" for k, v in ver.items()))
    notes.append(f"batch: {len(names)} PNGs from {args.batch}, {megapixels:.1f} MP in all; {args.runs} timed runs"
                 " after one warm-up; peak RSS = summed RSS of the process tree, sampled every ~10 ms")
    sampling = [c for r in results.values() for c in r.get("sampler_cores", [])]
    if sampling:
        notes.append(f"the RSS sampling itself used {100 * statistics.mean(sampling):.1f}% of one core on average"
                     f" (at most {100 * max(sampling):.1f}%) during the timed runs")
    busy = [f"{n} ({max(r['other_cores']):.2f})" for n, r in results.items()
            if "other_cores" in r and max(r["other_cores"]) > 0.1]
    if busy:
        notes.append("warning: other processes kept part of a core busy during (peak share of a core): "
                     + ", ".join(busy) + "; times are not clean, run again on an idle machine")
    md = "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    print()
    print(md)
    (OUT / "results.md").write_text(md)
    (OUT / "results.json").write_text(json.dumps(
        {"batch": str(batch), "inputs": len(names), "input_megapixels": megapixels, "runs": args.runs,
         "machine": mach, "versions": ver, "results": results, "notes": notes}, indent=2))
    print(f"wrote {OUT / 'results.md'}, {OUT / 'results.json'}, {crops_dir}/")


if __name__ == "__main__":
    main()
