#!/usr/bin/env bash
# Installs the peers of the comparison benchmark, from package registries only:
#   sharp (npm, pinned by package-lock.json)  -> target/compare/node
#   pyvips + its bundled libvips, Pillow, psutil (PyPI) -> the python3 on PATH
#   ImageMagick 6 (Debian's imagemagick)      -> /usr/bin/convert
# and writes lcms' built-in sRGB profile to target/compare/sRGB.icc for ImageMagick's -profile.
# Idempotent: each step is skipped when what it installs is already there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=$root/target/compare
mkdir -p "$dest/node"
python=${PYTHON:-python3}

# ImageMagick: Debian's, called by absolute path (/usr/local/bin/convert may be a stand-in).
if ! /usr/bin/convert -version 2>/dev/null | grep -q ImageMagick; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq imagemagick >/dev/null
fi

# Python peers and the driver's own needs (numpy: make_realistic.py). pyvips[binary] brings pyvips-binary, a current
# libvips built for pyvips, rather than Debian's older libvips.
pins=("pyvips[binary]==3.2.0" "pyvips-binary==8.18.7" "pillow==13.0.0" "psutil==7.2.2" "numpy==2.4.6")
if ! "$python" - "${pins[@]}" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    if version(name.split("[")[0]) != want:
        sys.exit(1)
EOF
  "$python" -m pip install -q "${pins[@]}"
fi

# sharp: the committed lock file pins it and its prebuilt libvips (@img/sharp-*).
if ! cmp -s "$here/package-lock.json" "$dest/node/package-lock.json" ||
   [ ! -d "$dest/node/node_modules/sharp" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$dest/node/"
  (cd "$dest/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ ! -s "$dest/sRGB.icc" ]; then
  "$python" -c "from PIL import ImageCms; import sys; open(sys.argv[1], 'wb').write(
ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes())" "$dest/sRGB.icc"
fi

echo "sharp $(node -e "const s=require('module').createRequire('$dest/node/package.json')('sharp'); console.log(s.versions.sharp, '(libvips', s.versions.vips + ')')")"
echo "pyvips $("$python" -c "import pyvips; print(pyvips.__version__, '(libvips %d.%d.%d)' % tuple(pyvips.version(i) for i in range(3)))")"
echo "pillow $("$python" -c "import PIL; print(PIL.__version__)"), psutil $("$python" -c "import psutil; print(psutil.__version__)")"
echo "imagemagick $(/usr/bin/convert -version | head -1 | cut -d' ' -f3-4)"
