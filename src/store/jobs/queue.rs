//! The queue of work in the `assets` table: a source is queued, then held by one worker
//! until its lease (unix seconds) runs out, then done. Each claim counts an attempt.

use super::{asset_row, ASSET_COLUMNS};
use crate::handoff::Timestamp;
use crate::store::sql::{Channel, Conn};
use crate::store::{StoreError, Work};

/// Queues a batch's sources not yet queued; returns how many are not done. Listeners on
/// the work channel are told.
pub(super) fn queue(db: &mut dyn Conn, batch: &str, now: &Timestamp) -> Result<usize, StoreError> {
    db.execute(
        "UPDATE assets SET queued_at = ?2
         WHERE batch_id = ?1 AND queued_at IS NULL AND done_at IS NULL",
        &[batch.into(), now.unix().into()],
    )?;
    let left = not_done(db, batch)?;
    if left > 0 {
        db.notify(Channel::Work, batch)?;
    }
    Ok(left)
}

pub(super) fn requeue_retryable(
    db: &mut dyn Conn,
    origin: &str,
) -> Result<Vec<String>, StoreError> {
    // Our own kebab-case codes, never input: safe to write into the statement.
    let codes: Vec<String> = crate::error::ErrorCode::RETRYABLE
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect();
    let code = db.dialect().json_text("o.handoff", &["error", "code"]);
    let failed = format!(
        "SELECT o.batch_id, o.source_key FROM outputs o JOIN batches b ON b.id = o.batch_id
         WHERE b.origin = ?1 AND b.state = 'settled' AND o.state = 'failed'
           AND {code} IN ({})
         ORDER BY b.created_at, o.batch_id, o.source_key",
        codes.join(", ")
    );
    db.transaction(|tx| {
        let rows = tx.query(&failed, &[origin.into()])?;
        let mut batches: Vec<String> = Vec::new();
        for r in rows {
            let (batch, key): (String, String) = (r.get(0)?, r.get(1)?);
            // A source put back is a new piece of work: its attempts count from nothing.
            tx.execute(
                "UPDATE assets SET queued_at = NULL, done_at = NULL, worker = NULL,
                                   lease_until = NULL, attempts = 0
                 WHERE batch_id = ?1 AND source_key = ?2",
                &[(&batch).into(), (&key).into()],
            )?;
            if !batches.contains(&batch) {
                tx.execute(
                    "UPDATE batches SET state = 'processing', settled_at = NULL WHERE id = ?1",
                    &[(&batch).into()],
                )?;
                batches.push(batch);
            }
        }
        Ok(batches)
    })
}

pub(super) fn claim(
    db: &mut dyn Conn,
    worker: &str,
    now: &Timestamp,
    lease_until: &Timestamp,
) -> Result<Option<Work>, StoreError> {
    // One statement, so two workers on one database never take the same source (on
    // PostgreSQL the inner SELECT locks the row it picks and skips rows other claims
    // hold). A worker never takes back its own running source, whatever its lease says.
    let sql = format!(
        "UPDATE assets SET worker = ?1, lease_until = ?3, attempts = attempts + 1
         WHERE (batch_id, seq) = (
             SELECT a.batch_id, a.seq FROM assets a JOIN batches b ON b.id = a.batch_id
             WHERE a.queued_at IS NOT NULL AND a.done_at IS NULL
               AND (a.worker IS NULL OR (a.lease_until < ?2 AND a.worker <> ?1))
             ORDER BY a.queued_at, b.created_at, a.batch_id, a.seq LIMIT 1 {})
         RETURNING {ASSET_COLUMNS}, batch_id, attempts",
        db.dialect().claim_lock()
    );
    let row = db.query_opt(
        &sql,
        &[worker.into(), now.unix().into(), lease_until.unix().into()],
    )?;
    row.map(|r| {
        Ok(Work {
            asset: asset_row(&r)?,
            batch: r.get(7)?,
            attempts: u32::try_from(r.get::<i64>(8)?).unwrap_or(u32::MAX),
        })
    })
    .transpose()
}

/// Moves a held source's lease to `until`; false when `worker` no longer holds it.
pub(super) fn renew(
    db: &mut dyn Conn,
    batch: &str,
    key: &str,
    worker: &str,
    until: &Timestamp,
) -> Result<bool, StoreError> {
    let changed = db.execute(
        "UPDATE assets SET lease_until = ?4
         WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3 AND done_at IS NULL",
        &[batch.into(), key.into(), worker.into(), until.unix().into()],
    )?;
    Ok(changed > 0)
}

/// Whether `worker` holds the source, locking its row until the transaction ends (on
/// PostgreSQL): a claim cannot take the source over between this check and the write
/// it guards (claims skip locked rows). SQLite writes one at a time, so its check is as
/// good.
pub(super) fn hold(
    db: &mut dyn Conn,
    batch: &str,
    key: &str,
    worker: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT 1 FROM assets
         WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3 AND done_at IS NULL {}",
        db.dialect().row_lock()
    );
    Ok(db
        .query_opt(&sql, &[batch.into(), key.into(), worker.into()])?
        .is_some())
}

/// Marks a held source done; `None` when the worker no longer holds it. Listeners on the
/// events channel are told.
pub(super) fn complete(
    db: &mut dyn Conn,
    batch: &str,
    key: &str,
    worker: &str,
    now: &Timestamp,
) -> Result<Option<usize>, StoreError> {
    let changed = db.execute(
        "UPDATE assets SET done_at = ?4, worker = NULL, lease_until = NULL
         WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3 AND done_at IS NULL",
        &[batch.into(), key.into(), worker.into(), now.unix().into()],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    let left = not_done(db, batch)?;
    db.notify(Channel::Events, batch)?;
    Ok(Some(left))
}

/// Gives a held source back to the queue. The claim given back does not count as an
/// attempt: a stop, not the source, ended it.
pub(super) fn release(
    db: &mut dyn Conn,
    batch: &str,
    key: &str,
    worker: &str,
) -> Result<(), StoreError> {
    let changed = db.execute(
        "UPDATE assets SET worker = NULL, lease_until = NULL,
                           attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
         WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3",
        &[batch.into(), key.into(), worker.into()],
    )?;
    if changed > 0 {
        db.notify(Channel::Work, batch)?;
    }
    Ok(())
}

/// Gives back what any worker holds: at open, the SQLite data folder's lock makes this
/// process its only worker. The claims given back count as attempts: the process that
/// held them stopped without finishing them.
pub(super) fn release_all(db: &mut dyn Conn) -> Result<(), StoreError> {
    db.execute(
        "UPDATE assets SET worker = NULL, lease_until = NULL WHERE worker IS NOT NULL",
        &[],
    )?;
    Ok(())
}

/// Outputs waiting or in flight, in all batches: each source not done, times its specs.
pub(super) fn queued_outputs(db: &mut dyn Conn) -> Result<usize, StoreError> {
    // A batch's specs are kept comma-joined: their count is one more than its commas.
    // (In PostgreSQL LENGTH is an int4 and SUM of int4 a bigint: one integer type.)
    let n: i64 = db.query_value(
        "SELECT COALESCE(SUM(LENGTH(b.specs) - LENGTH(REPLACE(b.specs, ',', '')) + 1), 0)
         FROM assets a JOIN batches b ON b.id = a.batch_id
         WHERE a.queued_at IS NOT NULL AND a.done_at IS NULL",
        &[],
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}

fn not_done(db: &mut dyn Conn, batch: &str) -> Result<usize, StoreError> {
    let n: i64 = db.query_value(
        "SELECT count(*) FROM assets WHERE batch_id = ?1 AND done_at IS NULL",
        &[batch.into()],
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}
