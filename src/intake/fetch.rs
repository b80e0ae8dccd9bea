//! Fetching the images a catalog names by URL, within limits: a byte cap, a time limit for
//! the whole exchange, a few redirects, and no private, loopback or link-local address unless
//! the config allows them (the policy is `net`'s).

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

pub use super::net::is_private;

/// Limits on fetching a catalog's image URLs.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// The largest image taken.
    pub max_bytes: u64,
    /// The whole exchange, redirects included.
    pub timeout: Duration,
    pub max_redirects: u32,
    /// Whether private, loopback and link-local addresses may be fetched (off by default:
    /// a catalog from outside must not reach into the network the service runs in).
    pub allow_private: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_bytes: 256 << 20,
            timeout: Duration::from_secs(30),
            max_redirects: 5,
            allow_private: false,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum FetchError {
    #[error("only http and https URLs are fetched")]
    Scheme,
    #[error(
        "{0} is a private, loopback or link-local address; fetching it is off (allow_private_urls)"
    )]
    Private(IpAddr),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("it is larger than {0} bytes")]
    TooBig(u64),
    #[error("it took longer than {0:?}")]
    Timeout(Duration),
    #[error("more than {0} redirects")]
    Redirects(u32),
    #[error("{0}")]
    Failed(String),
}

impl FetchError {
    pub fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            FetchError::TooBig(_) => ErrorCode::DecodeFileTooBig,
            _ => ErrorCode::FetchFailed,
        }
    }
}

/// Whether a catalog's file cell names a URL rather than a file.
pub fn is_url(cell: &str) -> bool {
    let c = cell.trim().to_ascii_lowercase();
    c.starts_with("http://") || c.starts_with("https://")
}

/// Fetches `url` into memory within `limits`.
pub fn fetch(url: &str, limits: &FetchLimits) -> Result<Vec<u8>, FetchError> {
    if !is_url(url) {
        return Err(FetchError::Scheme);
    }
    let (agent, refused) =
        super::net::agent(limits.timeout, limits.max_redirects, limits.allow_private);
    let named = |e: ureq::Error| -> FetchError {
        if let Some(ip) = refused.lock().ok().and_then(|r| *r) {
            return FetchError::Private(ip);
        }
        match e {
            ureq::Error::StatusCode(s) => FetchError::Status(s),
            ureq::Error::Timeout(_) => FetchError::Timeout(limits.timeout),
            ureq::Error::TooManyRedirects => FetchError::Redirects(limits.max_redirects),
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooBig(limits.max_bytes),
            other => FetchError::Failed(other.to_string()),
        }
    };
    let mut resp = agent.get(url.trim()).call().map_err(named)?;
    if let Some(len) = resp.body().content_length() {
        if len > limits.max_bytes {
            return Err(FetchError::TooBig(limits.max_bytes));
        }
    }
    resp.body_mut()
        .with_config()
        .limit(limits.max_bytes)
        .read_to_vec()
        .map_err(named)
}

/// Where a fetched image goes: the last part of the URL's path, made a safe file name, with
/// the extension its content calls for when the name has none of an image.
pub fn file_name(url: &str, bytes: &[u8], n: usize) -> String {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .splitn(4, '/')
        .nth(3)
        .unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let last = percent_encoding::percent_decode_str(last).decode_utf8_lossy();
    let p = std::path::Path::new(last.as_ref());
    let stem = p
        .file_stem()
        .map(|s| crate::naming::part(&s.to_string_lossy()))
        .filter(|s| !s.is_empty() && s != "_")
        .unwrap_or_else(|| format!("fetched-{n}"));
    let ext = image::guess_format(bytes)
        .ok()
        .and_then(|f| f.extensions_str().first().copied())
        .unwrap_or("bin");
    format!("{stem}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_refused_without_leave_and_other_schemes_always() {
        let e = fetch("http://127.0.0.1:9/a.jpg", &FetchLimits::default()).unwrap_err();
        assert_eq!(e, FetchError::Private("127.0.0.1".parse().unwrap()));
        assert!(e.to_string().contains("allow_private_urls"), "{e}");
        assert_eq!(
            fetch("file:///etc/passwd", &FetchLimits::default()),
            Err(FetchError::Scheme)
        );
    }

    #[test]
    fn fetched_files_are_named_from_the_url_and_their_content() {
        let png = b"\x89PNG\r\n\x1a\n";
        assert_eq!(
            file_name("https://cdn.example.com/p/Red%20Mug.png?v=2", png, 1),
            "Red_Mug.png"
        );
        assert_eq!(file_name("https://x.com/", png, 3), "fetched-3.png");
        assert_eq!(
            file_name("https://x.com/../../etc/passwd", b"text", 2),
            "passwd.bin"
        );
    }
}
