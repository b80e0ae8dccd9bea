//! The `multipart` fuzz target's entry point (`fuzz/`, the `fuzzing` feature): an upload's
//! body read as `create_batch` reads it, through the byte meter, with the same field
//! handling. Not an API.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};

use super::meter::{self, Meter, Refusal};
use super::upload;

/// The body limit while fuzzing: small, so that inputs reach it.
const MAX_BODY: u64 = 1 << 20;

/// Boundaries as browsers, curl and hand-written clients send them.
const BOUNDARIES: [&str; 4] = [
    "B",
    "----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "------------------------d74496d66958873e",
    "a-b_c",
];

thread_local! {
    static RUNTIME: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().build().ok();
}

/// The first byte picks the boundary (its low two bits) and the size of the chunks the
/// rest arrives in (its other bits, 1 to 64 bytes), as a socket would split it.
pub fn multipart(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let boundary = BOUNDARIES[usize::from(first & 3)];
    let chunk = usize::from(first >> 2) + 1;
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let Ok(req) = Request::builder()
        .method("POST")
        .uri("/v1/batches")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
    else {
        return;
    };
    RUNTIME.with(|rt| {
        if let Some(rt) = rt {
            rt.block_on(read(req));
        }
    });
}

/// Reads every field as the upload does: names made keys, `specs` parsed, a `catalog`
/// parsed, file bytes counted.
async fn read(req: Request) {
    let meter = Arc::new(Meter::default());
    let req = meter::metered(req, meter.clone(), MAX_BODY);
    let Ok(mut mp) = Multipart::from_request(req, &()).await else {
        return;
    };
    while let Ok(Some(mut field)) = mp.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        if let Some(key) = field.file_name().and_then(upload::upload_key) {
            let _ = upload::wanted_name(&key);
        }
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    meter.field_bytes(c.len() as u64);
                    bytes.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        match name.as_str() {
            "specs" => {
                let _ = upload::spec_ids(&String::from_utf8_lossy(&bytes));
            }
            "catalog" => {
                let _ = crate::intake::Catalog::parse(&bytes);
            }
            _ => {}
        }
    }
    // The meter's promise: past its allowances the body ends.
    let held = meter.total();
    assert!(
        held <= MAX_BODY + 64 || meter.refusal() == Some(Refusal::TooLarge),
        "{held} bytes read past the limit without a refusal"
    );
}

#[cfg(test)]
mod tests {
    /// Every input the `multipart` target found crashing runs through it without a panic.
    #[test]
    fn multipart_fuzz_found_inputs_do_not_panic() {
        shelfready_core::regressions::replay("multipart", super::multipart);
    }
}
