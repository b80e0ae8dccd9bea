//! Serving a kept file, wherever the job store keeps it: a local file through tower-http's
//! `ServeFile` (as always), an object of a bucket streamed from the store a chunk at a time
//! (the object is never held whole), with the same ETag, Content-Length and Range answers.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

use super::error::ApiError;
use tower::ServiceExt;

use super::routes::blocking;
use crate::handoff::ErrorCode;
use crate::store::{FileAt, Objects};

/// Bytes read from the store per chunk sent.
const CHUNK: usize = 256 * 1024;

/// Serves `at` with `sha256` as its strong ETag (If-None-Match answered 304).
pub(super) async fn serve_at(at: FileAt, sha256: &str, req: Request) -> Result<Response, ApiError> {
    let etag = format!("\"{sha256}\"");
    let mut r = if unchanged(&req, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match at {
            FileAt::Path(p) => tower_http::services::ServeFile::new(p)
                .oneshot(req)
                .await
                .map_err(|e| ApiError::new(ErrorCode::StoreUnreadable, e.to_string()))?
                .map(Body::new),
            FileAt::Object { objects, key } => {
                let range = req
                    .headers()
                    .get(header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                body_of(objects, key, range).await?
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

/// Whether the file is there (a source no longer kept is a 404).
pub(super) async fn exists(at: &FileAt) -> Result<bool, ApiError> {
    match at {
        FileAt::Path(p) => Ok(p.is_file()),
        FileAt::Object { objects, key } => {
            let (o, k) = (objects.clone(), key.clone());
            blocking(move || Ok(o.size(&k)?.is_some())).await
        }
    }
}

/// Whether the request's If-None-Match names `etag` (the client has the file).
fn unchanged(req: &Request, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

async fn body_of(
    objects: Objects,
    key: String,
    range: Option<String>,
) -> Result<Response, ApiError> {
    let (o, k) = (objects.clone(), key.clone());
    let size = blocking(move || Ok(o.size(&k)?))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("{key} is no longer kept")))?;
    let kind = content_type(&key);
    // The whole object (200), or the one range asked for (206): streamed either way.
    let part = match range {
        None => None,
        Some(spec) => match parse_range(&spec, size) {
            Some(r) => Some(r),
            None => {
                let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(r);
            }
        },
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    // Read on a blocking thread (the store blocks), sent as it is read.
    tokio::task::spawn_blocking(move || {
        let opened = match part {
            None => objects.reader(&key),
            Some((start, end)) => objects.range_reader(&key, start..end + 1),
        };
        let mut reader = match opened {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        loop {
            let mut buf = vec![0u8; CHUNK];
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return; // the client left
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let body = Body::from_stream(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match part {
        None => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        }
        Some((start, end)) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
    }
    Ok(r)
}

/// One byte range of a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) within
/// `size`, inclusive; `None` when it asks for none of the object (or for several ranges).
fn parse_range(spec: &str, size: u64) -> Option<(u64, u64)> {
    let r = spec.trim().strip_prefix("bytes=")?;
    if r.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = r.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

/// The content type a file's extension names, as `ServeFile` gives it.
fn content_type(key: &str) -> &'static str {
    let ext = key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_within_the_object() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
