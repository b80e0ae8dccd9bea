//! Webhook deliveries: what is sent where, each attempt's answer, and when to try again.

use crate::handoff::Timestamp;
use crate::store::sql::{Conn, Row};
use crate::store::{Delivery, StoreError};

pub(super) fn add(
    db: &mut dyn Conn,
    batch: &str,
    asset: &str,
    event: &str,
    url: &str,
    body: &str,
    now: &Timestamp,
) -> Result<(), StoreError> {
    let now = now.to_string();
    db.execute(
        "INSERT INTO deliveries (batch_id, asset_id, event, url, body, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        &[
            batch.into(),
            asset.into(),
            event.into(),
            url.into(),
            body.into(),
            (&now).into(),
        ],
    )?;
    Ok(())
}

pub(super) fn has(db: &mut dyn Conn, asset: &str, event: &str) -> Result<bool, StoreError> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM deliveries WHERE asset_id = ?1 AND event = ?2",
            &[asset.into(), event.into()],
        )?
        .is_some())
}

/// A batch's deliveries, oldest first.
pub(super) fn of_batch(db: &mut dyn Conn, batch: &str) -> Result<Vec<Delivery>, StoreError> {
    list(db, "batch_id = ?1", batch)
}

/// Deliveries neither delivered nor given up whose next attempt is due at `now`.
pub(super) fn due(db: &mut dyn Conn, now: &Timestamp) -> Result<Vec<Delivery>, StoreError> {
    list(
        db,
        "delivered_at IS NULL AND given_up = 0 AND next_at <= ?1",
        &now.to_string(),
    )
}

/// Records one attempt: delivered, due again at `next_at`, or (neither) given up.
pub(super) fn record_attempt(
    db: &mut dyn Conn,
    id: i64,
    status: Option<i64>,
    error: Option<&str>,
    delivered: Option<&Timestamp>,
    next_at: Option<&Timestamp>,
) -> Result<(), StoreError> {
    let delivered = delivered.map(ToString::to_string);
    let next_at = next_at.map(ToString::to_string);
    // Given up is decided here, not in SQL: PostgreSQL cannot tell the type of a
    // parameter only ever compared with NULL.
    let given_up = i64::from(delivered.is_none() && next_at.is_none());
    db.execute(
        "UPDATE deliveries SET attempts = attempts + 1, status = ?2, error = ?3,
             delivered_at = ?4, next_at = COALESCE(?5, next_at), given_up = ?6
         WHERE id = ?1",
        &[
            id.into(),
            status.into(),
            error.into(),
            (&delivered).into(),
            (&next_at).into(),
            given_up.into(),
        ],
    )?;
    Ok(())
}

fn delivery(r: &Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: r.get(0)?,
        batch: r.get(1)?,
        asset: r.get(2)?,
        event: r.get(3)?,
        url: r.get(4)?,
        body: r.get(5)?,
        created_at: r.get(6)?,
        next_at: r.get(7)?,
        attempts: r.get(8)?,
        status: r.get(9)?,
        error: r.get(10)?,
        delivered_at: r.get(11)?,
        given_up: r.get::<i64>(12)? != 0,
    })
}

/// `filter` is one of this module's own conditions, never input.
fn list(db: &mut dyn Conn, filter: &str, arg: &str) -> Result<Vec<Delivery>, StoreError> {
    db.query(
        &format!(
            "SELECT id, batch_id, asset_id, event, url, body, created_at, next_at, attempts,
                    status, error, delivered_at, given_up
             FROM deliveries WHERE {filter} ORDER BY id"
        ),
        &[arg.into()],
    )?
    .iter()
    .map(delivery)
    .collect()
}
