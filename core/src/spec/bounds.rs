//! A marketplace's hard limits on a file, and sizes and ratios in the words a seller reads.

use serde::{Deserialize, Serialize};

/// A marketplace's hard limits on a file: what it rejects or suppresses, not what it
/// recommends. Every built-in for a marketplace carries them; verify checks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// The marketplace's name, as messages show it.
    pub marketplace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_long_side: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_short_side: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_long_side: Option<u32>,
    /// Width plus height, where the marketplace bounds the two together (eBay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_side_sum: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// Width / height, where the marketplace requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect: Option<f64>,
    /// Formats the marketplace accepts (`jpeg`, `png`, `webp`, `tiff`, `gif`, `bmp`, ...);
    /// empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formats: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

impl Bounds {
    /// The rules a `width` x `height` file of `format` and `bytes` breaks, in words; empty
    /// when it keeps them all. `bytes` is `None` before a file exists.
    pub fn broken(&self, width: u32, height: u32, format: &str, bytes: Option<u64>) -> Vec<String> {
        let mut out = Vec::new();
        let (long, short) = (width.max(height), width.min(height));
        let m = &self.marketplace;
        if let Some(min) = self.min_long_side.filter(|&min| long < min) {
            out.push(format!(
                "{long} px on the longest side is under {m}'s minimum of {min} px"
            ));
        }
        if let Some(min) = self.min_short_side.filter(|&min| short < min) {
            out.push(format!(
                "{short} px on the shortest side is under {m}'s minimum of {min} px"
            ));
        }
        if let Some(max) = self.max_long_side.filter(|&max| long > max) {
            out.push(format!(
                "{long} px on the longest side is over {m}'s maximum of {max} px"
            ));
        }
        let sum = u64::from(width) + u64::from(height);
        if let Some(max) = self.max_side_sum.filter(|&max| sum > u64::from(max)) {
            out.push(format!(
                "width plus height is {sum} px, over {m}'s maximum of {max} px"
            ));
        }
        let pixels = u64::from(width) * u64::from(height);
        if let Some(max) = self.max_pixels.filter(|&max| pixels > max) {
            out.push(format!(
                "{:.1} megapixels is over {m}'s maximum of {:.1}",
                pixels as f64 / 1e6,
                max as f64 / 1e6
            ));
        }
        if let Some(aspect) = self.aspect {
            // One pixel of rounding either way.
            let want_w = (f64::from(height) * aspect).round();
            if (f64::from(width) - want_w).abs() > 1.0 {
                out.push(format!(
                    "the shape {width}x{height} is not the {} width:height {m} requires",
                    aspect_words(aspect)
                ));
            }
        }
        if !self.formats.is_empty() && !self.formats.iter().any(|f| f == format) {
            out.push(format!(
                "{format} is not a format {m} accepts ({})",
                self.formats.join(", ")
            ));
        }
        if let (Some(max), Some(n)) = (self.max_bytes, bytes) {
            if n > max {
                out.push(format!(
                    "{} is over {m}'s limit of {}",
                    size_words(n),
                    size_words(max)
                ));
            }
        }
        out
    }

    /// The bounds in one line, for manifests and messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.min_long_side, self.max_long_side) {
            (Some(a), Some(b)) => parts.push(format!("longest side {a}-{b} px")),
            (Some(a), None) => parts.push(format!("longest side at least {a} px")),
            (None, Some(b)) => parts.push(format!("longest side at most {b} px")),
            (None, None) => {}
        }
        if let Some(s) = self.min_short_side {
            parts.push(format!("shortest side at least {s} px"));
        }
        if let Some(s) = self.max_side_sum {
            parts.push(format!("width + height at most {s} px"));
        }
        if let Some(p) = self.max_pixels {
            parts.push(format!("at most {:.1} MP", p as f64 / 1e6));
        }
        if let Some(a) = self.aspect {
            parts.push(format!("{} width:height", aspect_words(a)));
        }
        if !self.formats.is_empty() {
            parts.push(self.formats.join("/"));
        }
        if let Some(b) = self.max_bytes {
            parts.push(format!("at most {}", size_words(b)));
        }
        format!("{}: {}", self.marketplace, parts.join(", "))
    }
}

fn aspect_words(a: f64) -> String {
    if (a - 1.0).abs() < 1e-9 {
        "1:1".into()
    } else {
        format!("{a:.3}:1")
    }
}

/// Bytes in the unit a seller reads: `412 KB`, `9.5 MB`.
pub fn size_words(n: u64) -> String {
    if n >= 999_500 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        format!("{} KB", n.div_ceil(1000))
    }
}

/// Two sizes in words, exact where rounding would make them read the same.
pub fn sizes_words(a: u64, b: u64) -> (String, String) {
    let (x, y) = (size_words(a), size_words(b));
    if x == y && a != b {
        (format!("{a} bytes"), format!("{b} bytes"))
    } else {
        (x, y)
    }
}
