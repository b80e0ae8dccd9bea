//! The built-in specs, compiled in from `assets/specs/`.

use super::{Spec, SpecError};

const BUILTINS: &[(&str, &str)] = &[
    (
        "amazon-main",
        include_str!("../../../assets/specs/amazon-main.toml"),
    ),
    (
        "amazon-additional",
        include_str!("../../../assets/specs/amazon-additional.toml"),
    ),
    (
        "shopify",
        include_str!("../../../assets/specs/shopify.toml"),
    ),
    ("etsy", include_str!("../../../assets/specs/etsy.toml")),
    ("ebay", include_str!("../../../assets/specs/ebay.toml")),
    (
        "walmart",
        include_str!("../../../assets/specs/walmart.toml"),
    ),
    (
        "google-merchant",
        include_str!("../../../assets/specs/google-merchant.toml"),
    ),
    (
        "mockup-input",
        include_str!("../../../assets/specs/mockup-input.toml"),
    ),
];

/// Ids of the built-in specs, in display order.
pub fn builtin_ids() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(id, _)| *id)
}

/// The TOML text of a built-in spec.
pub fn text(id: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
}

/// A built-in spec, parsed; `None` when no built-in has that id.
pub fn builtin(id: &str) -> Option<Result<Spec, SpecError>> {
    text(id).map(|t| Spec::parse(id, t, true))
}
