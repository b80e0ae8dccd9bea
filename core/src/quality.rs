//! What the core reports about its work, as data: the quality checks of an output, the
//! operations applied, the facts of the source. The handoff model records them; the
//! pipeline makes them. A leaf: it imports nothing of the crate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a failed check means for the asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The file cannot go out as it is.
    Fail,
    /// A person should look and decide.
    Review,
}

/// The checks verification runs, as named in manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Decodes,
    Format,
    Dimensions,
    ColorSpace,
    MetadataStripped,
    Alpha,
    BorderPurity,
    FillRatio,
    Centering,
    Upscale,
    FileSize,
    Sharpness,
    PlainBackground,
    CutoutSource,
    /// The marketplace's hard rules on size, shape and format.
    MarketplaceBounds,
    /// Everything outside the product and a margin, not just the outermost ring.
    BackgroundPurity,
    ShadowToEdge,
    /// Over the spec's recommended size (a target, not a limit).
    FileSizeTarget,
    /// Read from the written JPEG's quantisation tables.
    JpegQuality,
    ChromaSubsampling,
    Progressive,
    /// Areas a sweep photo's product encloses in the backdrop's colour.
    EnclosedBackdrop,
    /// A frame, border or rule line drawn around the picture.
    FrameLine,
    /// The product runs into the source photo's own edge.
    CutOff,
    /// Several product-sized items in one picture.
    SeveralItems,
    /// The product's colours in the file against the source's, each through its profile.
    ColorFidelity,
    /// Text, a logo or a badge beside the product.
    TextOrLogo,
}

impl CheckName {
    /// What a reviewer decides when this check did not pass, as a question.
    pub fn decision(self) -> &'static str {
        use CheckName::*;
        match self {
            BackgroundPurity => "Approve the background as it is, or reject it for a cleaner cut-out?",
            BorderPurity => "Approve the edge as it is, or reject it for a new crop?",
            ShadowToEdge => "Approve the shadow or crop, or reject it for a cut-out without it?",
            FillRatio => "Approve the product at this size, or reject it to re-frame?",
            Centering => "Approve it off-centre, or reject it?",
            Upscale => "Use this image anyway, or supply a larger source?",
            FileSizeTarget => "Approve the larger file, or make it smaller?",
            Sharpness => "Is it sharp enough to list?",
            PlainBackground => "Is it a lifestyle shot to use as an additional image, or does it need background removal first?",
            CutoutSource => "Are the edges and shadow acceptable for a mockup?",
            TextOrLogo => "Is it part of the product (printed on it, or sold with it: approve it) or text, a logo or a badge added to the picture (have it removed, and make it again)? Marketplaces suppress main images with text, logos, badges or watermarks beside the product.",
            SeveralItems => "Is it one product (a pair, a set sold together, one item in parts) or several products or views in one image? A main image shows the product for sale, once.",
            CutOff => "Is the whole product in the picture? If part of it is missing, supply a photo with all of it in the frame.",
            FrameLine => "Is it a frame or line drawn around the picture (remove it from the source and make it again) or a part of the product (approve it)?",
            EnclosedBackdrop => "Is that area the backdrop showing through (a handle, a gap: make it again with the enclosed backdrop cleared) or a part of the product (make it again keeping it)?",
            JpegQuality | ColorSpace => "Approve it as it is, or export it again from the original?",
            ColorFidelity => "Do the product's colours look as they do in the source? Approve it if they do; if not, reject it and have the source saved again in sRGB (or with its colour profile embedded), and report the file.",
            Decodes | Format | Dimensions | MetadataStripped | Alpha | MarketplaceBounds
            | FileSize | ChromaSubsampling | Progressive => {
                "Fix the spec or the source, and make it again?"
            }
        }
    }

    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One quality check: what was measured against what was required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    pub name: CheckName,
    pub measured: Value,
    pub threshold: Value,
    pub passed: bool,
    pub severity: Severity,
    /// What the check means, in a sentence a reviewer can act on.
    pub message: String,
}

impl Check {
    /// The question a reviewer answers for this check: what was found, then the decision.
    pub fn question(&self) -> String {
        format!("{} {}", self.message, self.name.decision())
    }

    pub(crate) fn new(
        name: CheckName,
        measured: Value,
        threshold: Value,
        passed: bool,
        severity: Severity,
        message: String,
    ) -> Check {
        Check {
            name,
            measured,
            threshold,
            passed,
            severity,
            message,
        }
    }
}

/// One operation applied to an image, recorded in the manifest's provenance.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Operation {
    /// What was done: `orient`, `icc_to_srgb`, `trim`, `resize`, ...
    pub name: String,
    /// Its parameters, as measured or chosen.
    pub params: serde_json::Value,
}

impl Operation {
    pub fn new(name: &str, params: serde_json::Value) -> Operation {
        Operation {
            name: name.to_string(),
            params,
        }
    }
}

/// What the source was, before normalizing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SourceInfo {
    /// Format sniffed from the bytes: `png`, `jpeg`, ...
    pub format: String,
    /// Stored width and height, before orientation.
    pub width: u32,
    pub height: u32,
    /// `rgb`, `rgba`, `grey`, `grey_alpha`, with bit depth: `rgba16`, ...
    pub color_type: String,
    pub has_alpha: bool,
    /// Description of the embedded ICC profile, if any.
    pub icc_profile: Option<String>,
    /// EXIF orientation value 1-8 (1 = as stored).
    pub exif_orientation: u8,
}

/// The sentence with its first letter in upper case.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
