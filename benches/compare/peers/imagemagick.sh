#!/usr/bin/env bash
# The canonical job done with ImageMagick's command line, as its documentation suggests.
#
#   bash imagemagick.sh <input-dir> <output-dir>     writes <out>/<name>.jpg
#
# Debian's ImageMagick 6 is called by absolute path: /usr/local/bin/convert on this machine is
# a stand-in, not ImageMagick. Threading (measured on 2 cores, 24-file batch, see README.md):
# two convert processes at a time (xargs -P 2), one OpenMP thread each: 8.25 s, against
# 16.15 s for one at a time on two threads (PNG decode, trim and JPEG encode are single-
# threaded in IM 6). Raising Debian's resource policy (-limit memory 2GiB -limit map 4GiB)
# changed nothing (8.30 s), so its defaults stay. IM_JOBS and IM_THREADS override.
set -euo pipefail
in_dir=$1 out_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
convert=${IM_CONVERT:-/usr/bin/convert}
# -profile needs an sRGB profile file: setup.sh writes lcms' built-in sRGB there.
export SRGB_ICC=${SRGB_ICC:-$here/../../../target/compare/sRGB.icc}
export MAGICK_THREAD_LIMIT=${IM_THREADS:-1} convert out_dir
mkdir -p "$out_dir"

# -auto-orient     turn by the EXIF orientation (IM 6 reads it from JPEG/TIFF, not PNG eXIf)
# -profile         with an embedded profile: convert to sRGB; without: just tags sRGB
# -crop $box       box of the mostly opaque pixels (alpha >= 50%), found by a first convert
#                  on the thresholded alpha: plain -trim would frame faint specks as product
# -flatten first   compositing on white before the Lanczos resize equals a premultiplied
#                  resize, and resizes 3 channels instead of 4
# -resize          longest side 1700 (85% of 2000), Lanczos for a reduction
# -extent          centred on 2000x2000 white; -strip drops every profile and EXIF
find "$in_dir" -maxdepth 1 -type f -iname '*.png' -print0 | sort -z |
  xargs -0 -r -n 1 -P "${IM_JOBS:-2}" sh -c '
    name=$(basename "$1"); name=${name%.*}
    box=$("$convert" "$1" -auto-orient -alpha extract -threshold 50% -format "%@" info:)
    exec "$convert" "$1" -auto-orient -profile "$SRGB_ICC" -crop "$box" +repage \
      -background white -flatten -resize 1700x1700 -gravity center -extent 2000x2000 \
      -strip -quality 85 -sampling-factor 4:2:0 -interlace none \
      -define jpeg:optimize-coding=true "$out_dir/$name.jpg"
  ' sh
