"""Writes supplier-catalog.xlsx as a supplier's spreadsheet tool would (openpyxl 3.1):
headers spelled the supplier's way, positions and EANs typed as numbers (as they are when
someone types them into Excel), and a row naming a file the drop does not hold.
Run: python3 tests/data/make_catalog_xlsx.py
"""
from pathlib import Path

from openpyxl import Workbook

wb = Workbook()
ws = wb.active
ws.title = "Images"
ws.append(["Image Name", "Item Code", "Pos.", "Product Title", "EAN Code", "Alt Tag"])
ws.append(["mug.png", "MUG-7", 1, "Stoneware mug, white", 4006381333931, "White mug, front"])
ws.append(["rocket.png", "RKT-2", "PT01", "Toy rocket", 5901234123457, None])
ws.append(["gone.jpg", "GONE-1", 2, None, None, None])
wb.save(Path(__file__).with_name("supplier-catalog.xlsx"))
