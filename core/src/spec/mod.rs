//! Target specs: what a finished image must look like for one destination.
//!
//! A spec is data (TOML), never code. Built-ins live in `assets/specs/` and are compiled in;
//! a user file may `extends = "<built-in id>"` and override any field.

mod bounds;
mod builtin;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use bounds::{size_words, sizes_words, Bounds};
pub use builtin::{builtin, builtin_ids};

/// Errors loading or validating a spec. Each names the spec and, where it can, the field.
#[derive(Debug, Error)]
pub enum SpecError {
    #[error("unknown spec '{name}'{}: run `shelfready specs` to list the built-in ones, or pass a path to a .toml file", suggest_words(.suggestions))]
    Unknown {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("spec {spec}: extends = \"{base}\" is not a built-in spec{}; `shelfready specs` lists them", suggest_words(.suggestions))]
    UnknownBase {
        spec: String,
        base: String,
        suggestions: Vec<String>,
    },
    #[error("spec {spec}: id '{id}'{} is the built-in {id} spec's; give this spec its own `id` (for example \"{id}-custom\"), so that its outputs and manifests are never taken for {id}'s", if *.from_file_name { " (taken from the file's name, as the file gives none)" } else { "" })]
    TakesBuiltinId {
        spec: String,
        id: String,
        from_file_name: bool,
    },
    // Not named `source`: the text already carries the OS error, and a `source` would
    // print it twice.
    #[error("cannot read spec file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("spec {spec}: {message}")]
    Parse { spec: String, message: String },
    #[error("spec {spec}: field `{field}` {reason}")]
    Invalid {
        spec: String,
        field: &'static str,
        reason: String,
    },
    #[error("spec {spec} breaks {marketplace}'s rules: {rule} (docs/rules.md); set `leaves_marketplace_rules = true` to make a spec that does not follow {marketplace}'s rules")]
    Bounds {
        spec: String,
        marketplace: String,
        rule: String,
    },
}

impl SpecError {
    /// Stable kebab-case code for manifests, logs and HTTP bodies.
    pub fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            SpecError::Unknown { .. } | SpecError::UnknownBase { .. } => ErrorCode::SpecUnknown,
            SpecError::TakesBuiltinId { .. } => ErrorCode::SpecInvalidValue,
            SpecError::Read { .. } => ErrorCode::SpecUnreadable,
            SpecError::Parse { .. } => ErrorCode::SpecBadField,
            SpecError::Invalid { .. } => ErrorCode::SpecInvalidValue,
            SpecError::Bounds { .. } => ErrorCode::SpecBreaksMarketplaceRules,
        }
    }
}

/// ", did you mean a or b?" for an unknown name, or nothing.
fn suggest_words(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean {one}?)"),
        [rest @ .., last] => format!(" (did you mean {} or {last}?)", rest.join(", ")),
    }
}

/// Built-in ids close to `name`: the same but for case, ones it begins or ends, or a
/// near spelling (`amazon` -> amazon-main, amazon-additional; `Amazon-Main`, `amazn-main`
/// -> amazon-main).
pub fn suggestions(name: &str) -> Vec<String> {
    let n = name.trim().to_lowercase().replace(['_', ' '], "-");
    let n = n.trim_end_matches(".toml");
    if n.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = builtin_ids()
        .filter(|id| {
            *id == n
                || id.starts_with(n)
                || n.starts_with(id)
                || id.split('-').any(|part| part == n)
                || strsim::jaro_winkler(id, n) >= 0.9
                || strsim::levenshtein(id, n) <= 2
        })
        .map(str::to_owned)
        .collect();
    out.truncate(3);
    out
}

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    /// The name used in specs and manifests: `jpeg`, `png`, `webp`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }
}

/// Where the product sits vertically inside its fill box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Center,
    Bottom,
}

/// JPEG chroma subsampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Subsampling {
    #[serde(rename = "4:4:4")]
    S444,
    #[default]
    #[serde(rename = "4:2:0")]
    S420,
}

/// Background of the canvas: an opaque colour or transparency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    Color([u8; 3]),
    Transparent,
}

impl Background {
    pub fn parse(s: &str) -> Option<Background> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("transparent") {
            return Some(Background::Transparent);
        }
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Background::Color([byte(0)?, byte(2)?, byte(4)?]))
    }
}

impl std::fmt::Display for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Background::Transparent => write!(f, "transparent"),
            Background::Color([r, g, b]) => write!(f, "#{r:02X}{g:02X}{b:02X}"),
        }
    }
}

impl Serialize for Background {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Background {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Background::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{s}' is not a background: use \"#RRGGBB\" or \"transparent\""
            ))
        })
    }
}

/// A resolved spec. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Short id used in file names and manifests (`amazon-main`).
    pub id: String,
    /// One line saying what the spec is for.
    #[serde(default)]
    pub description: String,
    /// Canvas width in pixels.
    pub width: u32,
    /// Canvas height in pixels.
    pub height: u32,
    /// The product's bounding box is scaled so it fills this share of the canvas on its
    /// constraining side (0.85 = the longest side spans 85% of a square canvas).
    pub fill_ratio: f64,
    /// Smallest fill the verifier accepts; defaults to `fill_ratio - 0.01`.
    #[serde(default)]
    pub min_fill_ratio: Option<f64>,
    #[serde(default)]
    pub align: Align,
    /// `"#RRGGBB"` or `"transparent"`.
    pub background: Background,
    pub format: Format,
    /// Encoder quality 1-100 (JPEG, lossy WebP; 100 means lossless WebP). Ignored for PNG.
    #[serde(default = "default_quality")]
    pub quality: u8,
    #[serde(default)]
    pub progressive: bool,
    #[serde(default)]
    pub chroma_subsampling: Subsampling,
    /// Embed an sRGB ICC profile in the output (otherwise untagged, which readers take as sRGB).
    #[serde(default)]
    pub embed_icc: bool,
    /// The lowest quality the size step-down may go to; below it the file is left over its
    /// size target and sent to review. Defaults to the smaller of 80 and `quality`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_quality: Option<u8>,
    /// This spec's own hard cap on the file size, in bytes (the marketplace's is in `bounds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// A recommended file size: quality steps down toward it (never below `min_quality`);
    /// a file over it goes to review, not to failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_bytes: Option<u64>,
    /// Largest scale factor applied to the source; beyond it the image is rendered at this
    /// factor (product smaller than asked) and sent to review.
    #[serde(default = "default_max_upscale")]
    pub max_upscale: f64,
    /// Largest allowed difference (0-255, per channel) from the background of any pixel
    /// outside the product and its margin (for transparency: largest alpha there).
    #[serde(default, alias = "border_tolerance")]
    pub background_tolerance: u8,
    /// Smallest variance of the Laplacian over the product region; below it the image is
    /// sent to review as possibly blurry.
    #[serde(default = "default_sharpness_floor")]
    pub sharpness_floor: f64,
    /// Largest mean CIEDE2000 between the product's colours in the output and in the source
    /// (each read through its own profile); above it, or above `max_delta_e_p95` at the 95th
    /// percentile, the output is sent to review.
    #[serde(default = "default_max_delta_e_mean")]
    pub max_delta_e_mean: f64,
    #[serde(default = "default_max_delta_e_p95")]
    pub max_delta_e_p95: f64,
    /// Who acts on a ready image: `export:amazon`, `mockup`, ...
    pub next_actor: String,
    /// A spec extending a built-in that breaks the marketplace's bounds on purpose says so
    /// here; it then carries no bounds and is no longer held to that marketplace's rules.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaves_marketplace_rules: bool,
    /// The marketplace's hard rules (docs/rules.md); `None` for specs with no marketplace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
    /// Take every source as a cut-out or as a scene instead of telling from its pixels
    /// (a reviewer's retry sets it for one photo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_as: Option<TreatAs>,
    /// What the areas a sweep photo's product encloses in the backdrop's colour are (a
    /// reviewer's retry sets it for one photo): without it, they are kept and asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclosed: Option<Enclosed>,
}

/// What the areas a product encloses in the backdrop's colour are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enclosed {
    /// The backdrop showing through (a handle, the gap between legs): cleared to the
    /// background like the rest of it.
    Clear,
    /// A part of the product in the backdrop's colour: kept.
    Keep,
}

impl Enclosed {
    pub fn as_str(self) -> &'static str {
        match self {
            Enclosed::Clear => "clear",
            Enclosed::Keep => "keep",
        }
    }
}

/// How to take a source whatever its pixels suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TreatAs {
    /// The product on a background to remove: its transparency, or its plain backdrop.
    Cutout,
    /// The whole frame is the picture: placed as it is, never trimmed.
    Scene,
}

impl TreatAs {
    pub fn as_str(self) -> &'static str {
        match self {
            TreatAs::Cutout => "cutout",
            TreatAs::Scene => "scene",
        }
    }
}

fn default_quality() -> u8 {
    90
}
fn default_max_upscale() -> f64 {
    1.5
}
fn default_sharpness_floor() -> f64 {
    4.5
}
fn default_max_delta_e_mean() -> f64 {
    1.0
}
fn default_max_delta_e_p95() -> f64 {
    2.5
}

/// Largest canvas side a spec may ask for.
const MAX_CANVAS_SIDE: u32 = 10_000;

impl Spec {
    /// Parses one spec from TOML text. `extends` pulls a built-in in first, so a user file
    /// can change a few fields of `amazon-main` without repeating the rest. Built-ins are
    /// read by [`builtin`]; this reads a user's spec, named `name` (its file) in messages:
    /// its id is its own (given, or derived from `name`'s file stem) and never a built-in's,
    /// and an extending spec without a description gets one that says what it changed.
    pub fn from_toml(name: &str, text: &str) -> Result<Spec, SpecError> {
        Spec::parse(name, text, false)
    }

    fn parse(name: &str, text: &str, builtin: bool) -> Result<Spec, SpecError> {
        let parse_err = |e: toml::de::Error| SpecError::Parse {
            spec: name.to_string(),
            message: e.message().to_string(),
        };
        let mut table: toml::Table = toml::from_str(text).map_err(parse_err)?;
        // The field's old name, so that it overrides a built-in's new one when merged.
        if let Some(v) = table.remove("border_tolerance") {
            table.entry("background_tolerance").or_insert(v);
        }
        if !builtin {
            Spec::own_id(name, &mut table)?;
        }
        let leaves = table
            .get("leaves_marketplace_rules")
            .and_then(toml::Value::as_bool)
            .unwrap_or(false);
        if let Some(base) = table.remove("extends") {
            let base_id = base.as_str().ok_or_else(|| SpecError::Invalid {
                spec: name.to_string(),
                field: "extends",
                reason: "must be the id of a built-in spec, as a string".into(),
            })?;
            let base_text = builtin::text(base_id).ok_or_else(|| SpecError::UnknownBase {
                spec: name.to_string(),
                base: base_id.to_string(),
                suggestions: suggestions(base_id),
            })?;
            let mut merged: toml::Table = toml::from_str(base_text).map_err(parse_err)?;
            // A marketplace's rules are not the user's to rewrite: leaving them is explicit.
            if table.contains_key("bounds") && !leaves {
                return Err(SpecError::Invalid {
                    spec: name.to_string(),
                    field: "bounds",
                    reason: format!(
                        "are {base_id}'s marketplace rules and cannot be changed; set `leaves_marketplace_rules = true` to make a spec that does not follow them"
                    ),
                });
            }
            if !table.contains_key("description") {
                let changed: Vec<String> = table
                    .iter()
                    .filter(|(k, _)| *k != "id")
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                let file = Path::new(name)
                    .file_name()
                    .map_or(name.to_string(), |f| f.to_string_lossy().to_string());
                let what = if changed.is_empty() {
                    "nothing changed".to_string()
                } else {
                    changed.join(", ")
                };
                table.insert(
                    "description".into(),
                    format!("{base_id} with {what} (from {file})").into(),
                );
            }
            merged.extend(table);
            table = merged;
        }
        let mut spec: Spec = table.try_into().map_err(parse_err)?;
        if spec.leaves_marketplace_rules {
            spec.bounds = None;
        }
        spec.validate()?;
        Ok(spec)
    }

    /// A user spec's id: the one it gives, or one made from its file's name; never a
    /// built-in's, whose outputs and manifests it would otherwise overwrite.
    fn own_id(name: &str, table: &mut toml::Table) -> Result<(), SpecError> {
        let given = table.get("id").and_then(toml::Value::as_str);
        let from_file_name = given.is_none();
        let id = match given {
            Some(id) => id.to_string(),
            None => {
                let stem = Path::new(name)
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                let id = crate::naming::part(&stem)
                    .to_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
                let id = id.trim_matches('-').to_string();
                table.insert("id".into(), id.clone().into());
                id
            }
        };
        if builtin::text(&id).is_some() {
            return Err(SpecError::TakesBuiltinId {
                spec: name.to_string(),
                id,
                from_file_name,
            });
        }
        Ok(())
    }

    /// Reads a spec from a `.toml` file.
    pub fn from_file(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|error| SpecError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Spec::from_toml(&path.display().to_string(), &text)
    }

    /// Resolves a CLI/API spec name: a built-in id, or a path to a TOML file.
    pub fn resolve(name: &str) -> Result<Spec, SpecError> {
        if let Some(spec) = builtin(name) {
            return spec;
        }
        let path = Path::new(name);
        if name.ends_with(".toml") || path.exists() {
            return Spec::from_file(path);
        }
        Err(SpecError::Unknown {
            name: name.to_string(),
            suggestions: suggestions(name),
        })
    }

    fn invalid(&self, field: &'static str, reason: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            spec: self.id.clone(),
            field,
            reason: reason.into(),
        }
    }

    /// Checks every value is in range; the error names the field.
    pub fn validate(&self) -> Result<(), SpecError> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if self.id == "manifests" {
            return Err(self.invalid(
                "id",
                "'manifests' is the name of the manifest folder; choose another",
            ));
        }
        if !id_ok {
            return Err(self.invalid(
                "id",
                "must be 1-64 characters of a-z, 0-9 and '-' (it is used in file names)",
            ));
        }
        for (field, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > MAX_CANVAS_SIDE {
                return Err(self.invalid(
                    field,
                    format!("is {v}; it must be between 1 and {MAX_CANVAS_SIDE} pixels"),
                ));
            }
        }
        if !(self.fill_ratio > 0.0 && self.fill_ratio <= 1.0) {
            return Err(self.invalid(
                "fill_ratio",
                format!(
                    "is {}; it must be above 0 and at most 1 (0.85 = 85% of the canvas)",
                    self.fill_ratio
                ),
            ));
        }
        if let Some(min) = self.min_fill_ratio {
            if !(min > 0.0 && min <= self.fill_ratio) {
                return Err(self.invalid(
                    "min_fill_ratio",
                    format!("is {min}; it must be above 0 and at most fill_ratio"),
                ));
            }
        }
        if !(1..=100).contains(&self.quality) {
            return Err(self.invalid("quality", format!("is {}; it must be 1-100", self.quality)));
        }
        if !(self.max_upscale >= 1.0 && self.max_upscale.is_finite()) {
            return Err(self.invalid(
                "max_upscale",
                format!("is {}; it must be 1 or more", self.max_upscale),
            ));
        }
        if !(self.sharpness_floor >= 0.0 && self.sharpness_floor.is_finite()) {
            return Err(self.invalid("sharpness_floor", "must be 0 or more"));
        }
        for (field, v) in [
            ("max_delta_e_mean", self.max_delta_e_mean),
            ("max_delta_e_p95", self.max_delta_e_p95),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(self.invalid(field, "must be 0 or more (a CIEDE2000 difference)"));
            }
        }
        if self.background == Background::Transparent && self.format == Format::Jpeg {
            return Err(self.invalid(
                "background",
                "is transparent but format is jpeg, which has no alpha: use png or webp",
            ));
        }
        if let Some(q) = self.min_quality {
            if !(1..=self.quality).contains(&q) {
                return Err(self.invalid(
                    "min_quality",
                    format!("is {q}; it must be 1 to quality ({})", self.quality),
                ));
            }
        }
        for (field, v) in [
            ("max_bytes", self.max_bytes),
            ("target_bytes", self.target_bytes),
        ] {
            if v == Some(0) {
                return Err(self.invalid(field, "must be more than 0 bytes"));
            }
        }
        if let Some(b) = &self.bounds {
            let broken = b.broken(self.width, self.height, self.format.name(), None);
            let broken = broken.into_iter().next().or_else(|| {
                // A size target above the marketplace's cap would never be reached.
                let cap = b.max_bytes?;
                let t = self.target_bytes?;
                (t > cap).then(|| {
                    format!(
                        "a size target of {} is over {}'s limit of {}",
                        size_words(t),
                        b.marketplace,
                        size_words(cap)
                    )
                })
            });
            if let Some(why) = broken {
                return Err(SpecError::Bounds {
                    spec: self.id.clone(),
                    rule: why,
                    marketplace: b.marketplace.clone(),
                });
            }
        }
        if self.next_actor.trim().is_empty() {
            return Err(self.invalid("next_actor", "must name who acts on a ready image"));
        }
        Ok(())
    }

    /// The fill the verifier accepts.
    pub fn min_fill(&self) -> f64 {
        self.min_fill_ratio.unwrap_or(self.fill_ratio - 0.01)
    }

    /// The lowest quality the size step-down may use.
    pub fn min_quality(&self) -> u8 {
        self.min_quality.unwrap_or(80).min(self.quality)
    }

    /// The hard cap on the file size: this spec's own, or the marketplace's, whichever is
    /// smaller.
    pub fn hard_max_bytes(&self) -> Option<u64> {
        let market = self.bounds.as_ref().and_then(|b| b.max_bytes);
        match (self.max_bytes, market) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hash of the resolved content, so a changed spec is visible in manifests and re-runs.
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex(&Sha256::digest(&json))
    }

    /// Canonical TOML for `shelfready specs <id>`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
