//! Webhook deliveries: what is sent where, each attempt's answer, and when to try again.

use rusqlite::{params, Connection, OptionalExtension};

use super::db_err;
use crate::handoff::Timestamp;
use crate::store::{Delivery, StoreError};

pub(super) fn add(
    db: &Connection,
    batch: &str,
    asset: &str,
    event: &str,
    url: &str,
    body: &str,
    now: &Timestamp,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO deliveries (batch_id, asset_id, event, url, body, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![batch, asset, event, url, body, now.to_string()],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(super) fn has(db: &Connection, asset: &str, event: &str) -> Result<bool, StoreError> {
    Ok(db
        .query_row(
            "SELECT 1 FROM deliveries WHERE asset_id = ?1 AND event = ?2",
            params![asset, event],
            |_| Ok(()),
        )
        .optional()
        .map_err(db_err)?
        .is_some())
}

/// A batch's deliveries, oldest first.
pub(super) fn of_batch(db: &Connection, batch: &str) -> Result<Vec<Delivery>, StoreError> {
    list(db, "batch_id = ?1", batch)
}

/// Deliveries neither delivered nor given up whose next attempt is due at `now`.
pub(super) fn due(db: &Connection, now: &Timestamp) -> Result<Vec<Delivery>, StoreError> {
    list(
        db,
        "delivered_at IS NULL AND given_up = 0 AND next_at <= ?1",
        &now.to_string(),
    )
}

/// Records one attempt: delivered, due again at `next_at`, or (neither) given up.
pub(super) fn record_attempt(
    db: &Connection,
    id: i64,
    status: Option<i64>,
    error: Option<&str>,
    delivered: Option<&Timestamp>,
    next_at: Option<&Timestamp>,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE deliveries SET attempts = attempts + 1, status = ?2, error = ?3,
             delivered_at = ?4, next_at = COALESCE(?5, next_at),
             given_up = CASE WHEN ?4 IS NULL AND ?5 IS NULL THEN 1 ELSE 0 END
         WHERE id = ?1",
        params![
            id,
            status,
            error,
            delivered.map(ToString::to_string),
            next_at.map(ToString::to_string)
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

/// `filter` is one of this module's own conditions, never input.
fn list(db: &Connection, filter: &str, arg: &str) -> Result<Vec<Delivery>, StoreError> {
    let mut q = db
        .prepare(&format!(
            "SELECT id, batch_id, asset_id, event, url, body, created_at, next_at, attempts,
                    status, error, delivered_at, given_up
             FROM deliveries WHERE {filter} ORDER BY id"
        ))
        .map_err(db_err)?;
    let rows = q
        .query_map([arg], |r| {
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
                given_up: r.get::<_, i64>(12)? != 0,
            })
        })
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(rows)
}
