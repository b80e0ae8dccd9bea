//! Listing context from file names: SKU and image position.
//!
//! Accepted patterns (case-insensitive, the last separator wins):
//! - `SKU_3.png`, `SKU-3.jpg`, `SKU.3.jpg` -> position 3
//! - `SKU_main.png`, `SKU-MAIN.jpg`, `SKU.main.jpg` -> position 1
//! - `SKU_PT02.jpg` (Amazon variant code) -> position 3 (PT01 is the second image)
//! - `SKU_swatch.jpg`, `SKU_SWCH.jpg` -> position 0, the product's swatch
//! - anything else -> the whole name is the SKU, position unknown
//!
//! A file in a sub-folder of the input is one product's photo: when its name does not
//! have the `SKU_position` form, the folder it is in names the product. `red-mug/main.png`,
//! `red-mug/2.jpg` and `red-mug/front.png` all get SKU `red-mug` (positions 1, 2 and
//! unknown); `red-mug/MUG01_3.png` keeps SKU `MUG01`. A file whose name is a position
//! alone (`main.png`) takes its folder's name even at the top of the input (`process
//! red-mug/`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the image belongs in a listing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Context {
    pub sku: Option<String>,
    /// 1 = main image; 0 = the swatch.
    pub position: Option<u32>,
    pub alt_text: Option<String>,
    /// The product's title, from a catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The product's identifier (GTIN, UPC, EAN, ASIN...), from a catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// The product's handle in a shop (Shopify's URL name), from a catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Where the context came from: `file_name`, `folder`, `catalog`.
    pub from: String,
}

/// Context from a file's folders under its input root and its stem (see the module
/// comment for the rule).
/// The product a photo belongs to: its SKU (from a catalog, its folder or its name), else
/// the photo alone, by its file's stem. Intake's duplicate check and the exports' grouping
/// both say so, and must agree.
pub fn product_of(sku: Option<&str>, file_name: &str) -> String {
    sku.map(str::to_string).unwrap_or_else(|| {
        let last = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        last.rsplit_once('.').map_or(last, |(s, _)| s).to_string()
    })
}

pub fn context_from_path(folders: &[String], stem: &str) -> Context {
    let by_name = context_from_name(stem);
    let Some(folder) = folders.last().filter(|f| !f.is_empty()) else {
        return by_name;
    };
    if by_name.position.is_some() && !position_only(stem) {
        return by_name;
    }
    Context {
        sku: Some(folder.clone()),
        position: position(stem),
        alt_text: None,
        title: None,
        identifier: None,
        handle: None,
        from: "folder".into(),
    }
}

/// The position a name part stands for: `main` is 1, `PT01` (Amazon's variant codes) is
/// 2, `swatch` (or `SWCH`) is 0, a number is itself.
pub fn position(tail: &str) -> Option<u32> {
    let t = tail.to_ascii_lowercase();
    if t == "main" {
        return Some(1);
    }
    if t == "swatch" || t == "swch" {
        return Some(0);
    }
    if let Some(n) = t.strip_prefix("pt") {
        return n
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=99).contains(n))
            .map(|n| n + 1);
    }
    t.parse::<u32>().ok().filter(|n| (1..=999).contains(n))
}

/// A stem that is a position and nothing else (`main`, `2`, `PT01`): the product is
/// named by the folder the file is in.
pub fn position_only(stem: &str) -> bool {
    position(stem).is_some()
}

/// Context parsed from a file stem.
pub fn context_from_name(stem: &str) -> Context {
    let split = stem
        .rfind(['_', '-', '.'])
        .map(|i| (&stem[..i], &stem[i + 1..]));
    match split {
        Some((sku, tail)) if !sku.is_empty() && position(tail).is_some() => Context {
            sku: Some(sku.to_string()),
            position: position(tail),
            alt_text: None,
            title: None,
            identifier: None,
            handle: None,
            from: "file_name".into(),
        },
        _ => Context {
            sku: (!stem.is_empty()).then(|| stem.to_string()),
            position: None,
            alt_text: None,
            title: None,
            identifier: None,
            handle: None,
            from: "file_name".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let c = context_from_name("MUG01_1");
        assert_eq!((c.sku.as_deref(), c.position), (Some("MUG01"), Some(1)));
        let c = context_from_name("SUPPLIER03-main");
        assert_eq!(
            (c.sku.as_deref(), c.position),
            (Some("SUPPLIER03"), Some(1))
        );
        let c = context_from_name("ab-12_PT02");
        assert_eq!((c.sku.as_deref(), c.position), (Some("ab-12"), Some(3)));
        let c = context_from_name("B07XJ8C8F5_SWCH");
        assert_eq!(
            (c.sku.as_deref(), c.position),
            (Some("B07XJ8C8F5"), Some(0))
        );
        let c = context_from_name("holiday photo");
        assert_eq!(
            (c.sku.as_deref(), c.position),
            (Some("holiday photo"), None)
        );
    }

    #[test]
    fn the_folder_names_the_product_when_the_file_does_not() {
        let f = |folders: &[&str], stem: &str| {
            let folders: Vec<String> = folders.iter().map(|s| s.to_string()).collect();
            let c = context_from_path(&folders, stem);
            (c.sku, c.position, c.from)
        };
        let sku = |s: &str| Some(s.to_string());
        assert_eq!(
            f(&["red-mug"], "main"),
            (sku("red-mug"), Some(1), "folder".into())
        );
        assert_eq!(
            f(&["red-mug"], "2"),
            (sku("red-mug"), Some(2), "folder".into())
        );
        assert_eq!(
            f(&["red-mug"], "front"),
            (sku("red-mug"), None, "folder".into())
        );
        assert_eq!(
            f(&["a", "red-mug"], "PT01"),
            (sku("red-mug"), Some(2), "folder".into())
        );
        assert_eq!(
            f(&["red-mug"], "MUG01_3"),
            (sku("MUG01"), Some(3), "file_name".into())
        );
        assert_eq!(f(&[], "main"), (sku("main"), None, "file_name".into()));
    }
}
