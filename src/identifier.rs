//! Product identifiers as Amazon names image files by them: an ASIN (10 characters; a
//! book's ASIN is its ISBN-10) or a GTIN of 12 or 13 digits (UPC, EAN, JAN, ISBN-13), dashes
//! and spaces stripped, check digits checked (GS1 mod 10; ISBN-10 mod 11). Never the seller
//! SKU: a SKU is taken only when it is itself a valid identifier. A spreadsheet's damage
//! (scientific notation, a decimal part, a lost leading zero) is told apart from a typo,
//! with its fix: the catalog's intake report and the exports both say it.

/// What kind of identifier a valid one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Asin,
    Isbn10,
    Upc,
    Ean,
    Jan,
    Isbn13,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Asin => "ASIN",
            Kind::Isbn10 => "ISBN-10",
            Kind::Upc => "UPC",
            Kind::Ean => "EAN",
            Kind::Jan => "JAN",
            Kind::Isbn13 => "ISBN-13",
        }
    }
}

/// Why a text is not a product identifier. The words never quote the text: they go into
/// intake reports and logs, where a supplier's cells are not echoed (an export adds the
/// value itself, see [`identify`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("it is empty")]
    Empty,
    /// `4.00638E+12`: a spreadsheet showed a long number in scientific notation, and the
    /// digits past the fifth or so are gone from the file.
    #[error("it is a number in scientific notation (like 4.00638E+12): the spreadsheet read the column as numbers and the last digits are lost; format the column as text and type the identifiers again")]
    Scientific,
    /// `4006381333931.0`: a number with a decimal part.
    #[error("it has a decimal part (like .0): the column was read as numbers; format it as text")]
    Decimal,
    /// 11 digits that are a valid UPC once the leading zero is back.
    #[error("it has {digits} digits: a {kind} that lost its leading zero when the column was read as numbers; format the column as text and add the 0")]
    LostZero { digits: usize, kind: &'static str },
    #[error("it holds characters other than letters, digits, spaces and dashes")]
    Characters,
    #[error("it reads as {what} whose check digit should be {want}")]
    CheckDigit { what: String, want: char },
    #[error("it has {0} characters: Amazon names images by a 10-character ASIN or a 12- or 13-digit UPC, EAN, JAN or ISBN")]
    Length(usize),
}

/// `raw` as Amazon wants it in a file name (dashes and spaces stripped, upper case), and its
/// kind; or why it is not an identifier, in words that quote it (for an export's report,
/// which the seller reads next to their own product list).
pub fn identify(raw: &str) -> Result<(String, Kind), String> {
    check(raw).map_err(|p| format!("'{raw}': {p}"))
}

/// `raw` as Amazon wants it in a file name, and its kind; or why it is not an identifier.
pub fn check(raw: &str) -> Result<(String, Kind), Problem> {
    let trimmed = raw.trim();
    if is_scientific(trimmed) {
        return Err(Problem::Scientific);
    }
    if let Some((whole, fraction)) = trimmed.split_once('.') {
        if !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b == b'0')
        {
            return Err(Problem::Decimal);
        }
    }
    let id: String = trimmed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    if id.is_empty() {
        return Err(Problem::Empty);
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Problem::Characters);
    }
    let digits = id.chars().all(|c| c.is_ascii_digit());
    match id.len() {
        10 if digits || (id[..9].chars().all(|c| c.is_ascii_digit()) && id.ends_with('X')) => {
            let want = isbn10_check(&id[..9]);
            if id.ends_with(want) {
                Ok((id, Kind::Isbn10))
            } else {
                Err(Problem::CheckDigit {
                    what: "an ISBN-10".into(),
                    want,
                })
            }
        }
        10 => Ok((id, Kind::Asin)),
        12 | 13 if digits => {
            let want = gtin_check(&id[..id.len() - 1]);
            if !id.ends_with(want) {
                // (An EAN-13 that lost its leading zero is a valid UPC: nothing to tell.)
                return Err(Problem::CheckDigit {
                    what: format!("a {}-digit GTIN", id.len()),
                    want,
                });
            }
            let kind = if id.len() == 12 {
                Kind::Upc
            } else if id.starts_with("978") || id.starts_with("979") {
                Kind::Isbn13
            } else if id.starts_with("45") || id.starts_with("49") {
                Kind::Jan
            } else {
                Kind::Ean
            };
            Ok((id, kind))
        }
        11 if digits && gtin_valid(&format!("0{id}")) => Err(Problem::LostZero {
            digits: 11,
            kind: "12-digit UPC",
        }),
        n => Err(Problem::Length(n)),
    }
}

/// `4.00638E+12`, `4,00638E+12` (a comma where it is the decimal mark), `4E+12`.
fn is_scientific(s: &str) -> bool {
    let upper = s.to_ascii_uppercase();
    let Some((mantissa, exponent)) = upper.split_once("E+") else {
        return false;
    };
    let mut parts = mantissa.splitn(2, ['.', ',']);
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or("0");
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

fn gtin_valid(id: &str) -> bool {
    id.len() >= 2
        && id.bytes().all(|b| b.is_ascii_digit())
        && id.ends_with(gtin_check(&id[..id.len() - 1]))
}

/// A SKU taken as the identifier only when it plainly is one: a GTIN with a right check
/// digit, a valid ISBN-10, or an ASIN as Amazon issues them (`B0` and 8 more). A 10-letter
/// SKU such as `SHIRTRED01` is not an ASIN.
pub fn sku_as_identifier(sku: &str) -> Option<(String, Kind)> {
    match check(sku) {
        Ok((id, Kind::Asin)) if !id.starts_with("B0") => None,
        Ok(found) => Some(found),
        Err(_) => None,
    }
}

/// The GS1 check digit of a GTIN's data digits: weights 3 and 1 from the right.
fn gtin_check(data: &str) -> char {
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// The ISBN-10 check character of its first nine digits: sum of k x d_k, mod 11; 10 is X.
fn isbn10_check(data: &str) -> char {
    let sum: u32 = data
        .bytes()
        .enumerate()
        .map(|(i, b)| (i as u32 + 1) * u32::from(b - b'0'))
        .sum();
    match sum % 11 {
        10 => 'X',
        d => char::from(b'0' + d as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtins_pass_with_their_check_digit_and_fail_without_it() {
        // GS1's own example, a UPC-A, a JAN and an ISBN-13.
        assert_eq!(identify("6291041500213").unwrap().1, Kind::Ean);
        assert_eq!(identify("036000291452").unwrap().1, Kind::Upc);
        assert_eq!(identify("4901234567894").unwrap().1, Kind::Jan);
        assert_eq!(
            identify("978-0-306-40615-7").unwrap(),
            ("9780306406157".into(), Kind::Isbn13)
        );
        let e = identify("6291041500214").unwrap_err();
        assert!(e.contains("check digit should be 3"), "{e}");
    }

    #[test]
    fn spreadsheet_damage_is_named_with_its_fix() {
        assert_eq!(check("4.00638E+12"), Err(Problem::Scientific));
        assert_eq!(check("4,00638e+12"), Err(Problem::Scientific));
        assert_eq!(check("4006381333931.0"), Err(Problem::Decimal));
        // 036000291452 without its zero.
        assert_eq!(
            check("36000291452"),
            Err(Problem::LostZero {
                digits: 11,
                kind: "12-digit UPC"
            })
        );
        assert_eq!(check("36000291453"), Err(Problem::Length(11)));
        assert_eq!(check("12345678"), Err(Problem::Length(8)));
        // The words never quote the value.
        let said = check("9.87654E+12").unwrap_err().to_string();
        assert!(said.contains("format the column as text") && !said.contains("9.87654"));
        assert!(identify("36000291452")
            .unwrap_err()
            .starts_with("'36000291452': it has 11 digits"));
    }

    #[test]
    fn ten_characters_are_an_isbn_10_when_numeric_else_an_asin() {
        assert_eq!(identify("0306406152").unwrap().1, Kind::Isbn10);
        assert_eq!(identify("155404295x").unwrap().0, "155404295X");
        assert!(identify("0306406153").unwrap_err().contains("should be 2"));
        assert_eq!(
            identify("b000 123 456").unwrap(),
            ("B000123456".into(), Kind::Asin)
        );
        assert!(identify("ROCKET02").unwrap_err().contains("8 characters"));
        assert!(identify("B0_0123456").is_err());
    }

    #[test]
    fn a_sku_is_an_identifier_only_when_it_plainly_is_one() {
        assert!(sku_as_identifier("SHIRTRED01").is_none());
        assert!(sku_as_identifier("ROCKET02").is_none());
        assert_eq!(sku_as_identifier("B07XJ8C8F5").unwrap().1, Kind::Asin);
        assert_eq!(sku_as_identifier("036000291452").unwrap().1, Kind::Upc);
        assert!(sku_as_identifier("036000291453").is_none());
    }
}
