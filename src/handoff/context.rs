//! Listing context from file names: SKU and image position.
//!
//! Accepted patterns (case-insensitive, the last separator wins):
//! - `SKU_3.png`, `SKU-3.jpg`, `SKU.3.jpg` -> position 3
//! - `SKU_main.png`, `SKU-MAIN.jpg`, `SKU.main.jpg` -> position 1
//! - `SKU_PT02.jpg` (Amazon variant code) -> position 3 (PT01 is the second image)
//! - anything else -> the whole name is the SKU, position unknown

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the image belongs in a listing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Context {
    pub sku: Option<String>,
    /// 1 = main image.
    pub position: Option<u32>,
    pub alt_text: Option<String>,
    /// Where the context came from: `file_name`, `catalog`.
    pub from: String,
}

/// Context parsed from a file stem.
pub fn context_from_name(stem: &str) -> Context {
    let split = stem
        .rfind(['_', '-', '.'])
        .map(|i| (&stem[..i], &stem[i + 1..]));
    let position = |tail: &str| -> Option<u32> {
        let t = tail.to_ascii_lowercase();
        if t == "main" {
            return Some(1);
        }
        if let Some(n) = t.strip_prefix("pt") {
            return n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=99).contains(n))
                .map(|n| n + 1);
        }
        t.parse::<u32>().ok().filter(|n| (1..=999).contains(n))
    };
    match split {
        Some((sku, tail)) if !sku.is_empty() && position(tail).is_some() => Context {
            sku: Some(sku.to_string()),
            position: position(tail),
            alt_text: None,
            from: "file_name".into(),
        },
        _ => Context {
            sku: (!stem.is_empty()).then(|| stem.to_string()),
            position: None,
            alt_text: None,
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
        let c = context_from_name("holiday photo");
        assert_eq!(
            (c.sku.as_deref(), c.position),
            (Some("holiday photo"), None)
        );
    }
}
