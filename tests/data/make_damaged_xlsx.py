"""Writes supplier-catalog-de.xlsx as a German supplier's spreadsheet tool would (openpyxl
3.1): German headers, a column nobody asked for, UPCs typed as numbers (one lost its
leading zero, as Excel drops it), and one barcode given to two products (a copy-paste).
Run: python3 tests/data/make_damaged_xlsx.py
"""
from pathlib import Path

from openpyxl import Workbook

wb = Workbook()
ws = wb.active
ws.title = "Bilder"
ws.append(["Bilddatei", "Artikelnummer", "Bild Nr.", "EAN", "Farbe"])
ws.append(["Kaffeetasse ros\u00e9.png", "TASSE-1", 1, 4006381333931, "ros\u00e9"])
ws.append(["tasse-seite.png", "TASSE-1", 2, 4006381333931, "ros\u00e9"])
ws.append(["teller.png", "TELLER-2", 1, 36000291452, "wei\u00df"])
ws.append(["becher.png", "BECHER-3", 1, 4006381333931, "blau"])
wb.save(Path(__file__).with_name("supplier-catalog-de.xlsx"))
