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
        // An `overdue` notice already queued is kept (schema: deliveries_overdue_once).
        "INSERT INTO deliveries (batch_id, asset_id, event, url, body, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT DO NOTHING",
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

/// How long a delivery handed out by [`due`] is held for its sender: no other API node on
/// the same database sends it meanwhile, and one whose sender died is due again after it.
const HOLD_SECS: i64 = 120;

/// The most [`due`] hands out at once: sent 4 at a time, 3 s each at worst, they are all
/// tried well within [`HOLD_SECS`].
const BATCH: i64 = 64;

/// Hands out deliveries neither delivered nor given up whose next attempt is due at `now`,
/// oldest first, holding each for [`HOLD_SECS`] (one statement: on PostgreSQL two API
/// nodes skip each other's rows, so a delivery goes to one sender).
pub(super) fn due(db: &mut dyn Conn, now: &Timestamp) -> Result<Vec<Delivery>, StoreError> {
    let held = Timestamp::from_unix(now.unix() + HOLD_SECS)
        .unwrap_or(*now)
        .to_string();
    let sql = format!(
        "UPDATE deliveries SET next_at = ?2
         WHERE id IN (
             SELECT a.id FROM deliveries a
             WHERE a.delivered_at IS NULL AND a.given_up = 0 AND a.next_at <= ?1
             ORDER BY a.id LIMIT {BATCH} {})
         RETURNING {COLUMNS}",
        db.dialect().claim_lock()
    );
    let mut due = db
        .query(&sql, &[(&now.to_string()).into(), (&held).into()])?
        .iter()
        .map(delivery)
        .collect::<Result<Vec<_>, _>>()?;
    due.sort_by_key(|d| d.id);
    Ok(due)
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

/// The columns [`delivery`] reads, in its order.
const COLUMNS: &str = "id, batch_id, asset_id, event, url, body, created_at, next_at, attempts,
     status, error, delivered_at, given_up";

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
        &format!("SELECT {COLUMNS} FROM deliveries WHERE {filter} ORDER BY id"),
        &[arg.into()],
    )?
    .iter()
    .map(delivery)
    .collect()
}
