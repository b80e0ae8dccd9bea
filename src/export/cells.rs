//! Cells of the exports a person may open in a spreadsheet (the Shopify CSV, the CSV
//! records, the Merchant Center feed). Catalog text reaches them as the supplier wrote it,
//! and a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula.

use std::borrow::Cow;

/// `cell` as a spreadsheet shows it and never runs it: a cell starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'`, the mark spreadsheet tools read as
/// "text" (OWASP's advice for CSV injection). A plain number (`-5`, `+3.5`) stays as it is.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if !risky || cell.parse::<f64>().is_ok_and(f64::is_finite) {
        return Cow::Borrowed(cell);
    }
    Cow::Owned(format!("'{cell}"))
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_stay_text_and_numbers_stay_numbers() {
        for (cell, shown) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
            ("-2+3", "'-2+3"),
            ("\tx", "'\tx"),
            ("\r=1", "'\r=1"),
            ("-5", "-5"),
            ("+3.5", "+3.5"),
            ("Mug, white", "Mug, white"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell), shown, "{cell}");
        }
    }
}
