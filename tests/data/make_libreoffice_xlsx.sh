#!/bin/sh
# Writes supplier-catalog-fr.xlsx as LibreOffice Calc writes it: a French supplier's
# semicolon-separated UTF-8 CSV opened with Calc's default import (so barcodes become
# numbers and a UPC loses its leading zero) and saved as a workbook. French headers, a
# column nobody asked for, and one EAN given to two products.
# Needs LibreOffice (Debian: apt-get install libreoffice-calc-nogui; 7.4 wrote the
# committed file). Run: sh tests/data/make_libreoffice_xlsx.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s\n' \
  'Fichier;Référence;Position;Code EAN;Titre;Couleur' \
  'tasse-rouge.png;TASSE-R;1;4006381333931;Tasse à café rouge;rouge' \
  'tasse-rouge_2.png;TASSE-R;2;4006381333931;Tasse à café rouge;rouge' \
  'assiette.png;ASSIETTE-B;1;036000291452;Assiette blanche;blanc' \
  'bol.png;BOL-V;1;4006381333931;Bol vert;vert' >"$work/supplier-catalog-fr.csv"
# 59 is ';', 34 is '"', 76 is UTF-8, 1 is the first line: Calc's import dialog defaults.
soffice --headless --convert-to xlsx --infilter="CSV:59,34,76,1" \
  --outdir "$here" "$work/supplier-catalog-fr.csv"
