//! Webhooks: a batch may name a URL; each state a person or the next stage cares about
//! (`ready`, `needs_review`, `approved`, `rejected`) is POSTed there as the handoff JSON,
//! signed with HMAC-SHA256 of the body under the server's `webhook_secret`
//! (`X-Shelfready-Signature: sha256=<hex>`). Deliveries are rows in the store, so none is
//! lost to a restart; a failed one is tried again later each time (doubling from
//! `webhook_retry_secs`) until it is delivered or `MAX_ATTEMPTS` have failed. Each attempt
//! is recorded (`GET /v1/batches/{id}/deliveries`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::app::App;
use crate::handoff::{Clock, Handoff, State, SystemClock, Timestamp};
use crate::store::Delivery;

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 6;

/// Deliveries sent at once: a receiver that never answers holds one sender, not all.
const SENDERS: usize = 4;

/// How long one attempt may take, connecting included; a receiver slower than this is
/// tried again later.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// The body POSTed: which event, for which asset, and its handoff as it now stands.
#[derive(Serialize)]
struct Body<'a> {
    event: &'a str,
    batch: &'a str,
    asset: &'a str,
    handoff: &'a Handoff,
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Queues the event of an output's new state, if its batch names a webhook and the state
/// is one the next stage cares about.
pub fn notify(app: &App, batch: &str, asset: &str, h: &Handoff) {
    let event = match h.state {
        State::Ready | State::NeedsReview | State::Approved | State::Rejected => h.state.as_str(),
        _ => return,
    };
    queue(app, batch, asset, h, event);
}

fn queue(app: &App, batch: &str, asset: &str, h: &Handoff, event: &str) {
    let queued = app.store.batch_webhook(batch).and_then(|url| {
        let Some(url) = url else { return Ok(()) };
        let body = serde_json::to_string(&Body {
            event,
            batch,
            asset,
            handoff: h,
        })
        .unwrap_or_default();
        app.store
            .add_delivery(batch, asset, event, &url, &body, &SystemClock.now())
    });
    if let Err(e) = queued {
        tracing::error!(batch, asset, "webhook not queued: {e}");
    }
}

/// Sends due deliveries until the server stops.
pub fn start(app: Arc<App>) {
    let spawned = std::thread::Builder::new()
        .name("shelfready-webhooks".into())
        .spawn(move || {
            let mut ticks = 0u64;
            while !app.stopping.load(Ordering::SeqCst) {
                // Every 2 s: outputs newly past their due time get one `overdue` event.
                if ticks.is_multiple_of(10) {
                    overdue_notices(&app);
                }
                ticks += 1;
                match app.store.due_deliveries(&SystemClock.now()) {
                    Ok(due) => send_all(&app, &due),
                    Err(e) => tracing::error!("webhooks: {e}"),
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    if let Err(e) = spawned {
        tracing::error!("webhooks will not be sent: {e}");
    }
}

/// Sends `due` on up to [`SENDERS`] threads and waits for them all.
fn send_all(app: &App, due: &[Delivery]) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let send = || {
        while let Some(d) = due.get(next.fetch_add(1, Ordering::SeqCst)) {
            attempt(app, d);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..SENDERS.min(due.len()) {
            let spawned = std::thread::Builder::new()
                .name("shelfready-webhook".into())
                .spawn_scoped(s, send);
            if spawned.is_err() {
                break;
            }
        }
        // This thread sends too (and alone, if no other could start).
        send();
    });
}

fn overdue_notices(app: &App) {
    let now = SystemClock.now();
    let waiting = match app.store.waiting() {
        Ok(w) => w,
        Err(e) => return tracing::error!("overdue check: {e}"),
    };
    for (batch, seq, h) in waiting
        .iter()
        .filter(|(_, _, h)| crate::review::overdue(h, now))
    {
        let asset = super::app::asset_id(batch, *seq, &h.goal.spec_id);
        if matches!(app.store.has_delivery(&asset, "overdue"), Ok(false)) {
            queue(app, batch, &asset, h, "overdue");
        }
    }
}

fn attempt(app: &App, d: &Delivery) {
    let Some(secret) = app.config.webhook_secret.as_deref() else {
        return;
    };
    let (agent, refused) =
        crate::intake::net::agent(ATTEMPT_TIMEOUT, 0, app.config.allow_private_urls);
    let sent = agent
        .post(&d.url)
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/json")
        .header("x-shelfready-event", &d.event)
        .header("x-shelfready-delivery", d.id.to_string())
        .header("x-shelfready-signature", sign(secret, d.body.as_bytes()))
        .send(d.body.as_bytes());
    let now = SystemClock.now();
    let (status, error) = match sent {
        Ok(r) if r.status().is_success() => {
            let code = i64::from(r.status().as_u16());
            record(app, d, Some(code), None, Some(&now), None);
            tracing::info!(batch = %d.batch, asset = %d.asset, event = %d.event, "webhook delivered");
            return;
        }
        Ok(r) => (
            Some(i64::from(r.status().as_u16())),
            format!("the receiver answered {}", r.status()),
        ),
        Err(e) => match refused.lock().ok().and_then(|r| *r) {
            Some(ip) => (None, format!("{ip} is a private, loopback or link-local address; sending to it is off (allow_private_urls)")),
            None => (None, e.to_string()),
        },
    };
    let next = (d.attempts + 1 < MAX_ATTEMPTS).then(|| {
        let wait = app.config.webhook_retry_secs.max(1) << d.attempts.clamp(0, 12);
        Timestamp::from_unix(now.unix() + wait.min(3600) as i64).unwrap_or(now)
    });
    tracing::warn!(batch = %d.batch, asset = %d.asset, attempt = d.attempts + 1, "webhook not delivered: {error}");
    record(app, d, status, Some(&error), None, next.as_ref());
}

fn record(
    app: &App,
    d: &Delivery,
    status: Option<i64>,
    error: Option<&str>,
    delivered: Option<&Timestamp>,
    next: Option<&Timestamp>,
) {
    if let Err(e) = app
        .store
        .record_attempt(d.id, status, error, delivered, next)
    {
        tracing::error!("webhook attempt not recorded: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
