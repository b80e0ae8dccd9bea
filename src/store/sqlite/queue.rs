//! The queue of work in the `assets` table: a source is queued, then held by one worker
//! until its lease (unix seconds) runs out, then done.

use rusqlite::{params, Connection, OptionalExtension};

use super::{asset_row, db_err, ASSET_COLUMNS};
use crate::handoff::Timestamp;
use crate::store::{StoreError, Work};

/// Queues a batch's sources not yet queued; returns how many are not done.
pub(super) fn queue(db: &Connection, batch: &str, now: &Timestamp) -> Result<usize, StoreError> {
    db.execute(
        "UPDATE assets SET queued_at = ?2
         WHERE batch_id = ?1 AND queued_at IS NULL AND done_at IS NULL",
        params![batch, now.unix()],
    )
    .map_err(db_err)?;
    not_done(db, batch)
}

pub(super) fn requeue_retryable(
    db: &mut Connection,
    origin: &str,
) -> Result<Vec<String>, StoreError> {
    // Our own kebab-case codes, never input: safe to write into the statement.
    let codes: Vec<String> = crate::error::ErrorCode::RETRYABLE
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect();
    let tx = db.transaction().map_err(db_err)?;
    let failed = format!(
        "SELECT o.batch_id, o.source_key FROM outputs o JOIN batches b ON b.id = o.batch_id
         WHERE b.origin = ?1 AND b.state = 'settled' AND o.state = 'failed'
           AND json_extract(o.handoff, '$.error.code') IN ({})",
        codes.join(", ")
    );
    let rows = {
        let mut q = tx.prepare(&failed).map_err(db_err)?;
        let rows = q
            .query_map([origin], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        rows
    };
    let mut batches: Vec<String> = Vec::new();
    for (batch, key) in rows {
        tx.execute(
            "UPDATE assets SET queued_at = NULL, done_at = NULL, worker = NULL,
                               lease_until = NULL
             WHERE batch_id = ?1 AND source_key = ?2",
            params![batch, key],
        )
        .map_err(db_err)?;
        if !batches.contains(&batch) {
            tx.execute(
                "UPDATE batches SET state = 'processing', settled_at = NULL WHERE id = ?1",
                [&batch],
            )
            .map_err(db_err)?;
            batches.push(batch);
        }
    }
    tx.commit().map_err(db_err)?;
    Ok(batches)
}

pub(super) fn claim(
    db: &Connection,
    worker: &str,
    now: &Timestamp,
    lease_until: &Timestamp,
) -> Result<Option<Work>, StoreError> {
    // One statement, so two workers on one database never take the same source. A
    // worker never takes back its own running source, whatever its lease says.
    let sql = format!(
        "UPDATE assets SET worker = ?1, lease_until = ?3
         WHERE (batch_id, seq) = (
             SELECT a.batch_id, a.seq FROM assets a JOIN batches b ON b.id = a.batch_id
             WHERE a.queued_at IS NOT NULL AND a.done_at IS NULL
               AND (a.worker IS NULL OR (a.lease_until < ?2 AND a.worker <> ?1))
             ORDER BY a.queued_at, b.created_at, a.batch_id, a.seq LIMIT 1)
         RETURNING {ASSET_COLUMNS}, batch_id"
    );
    db.query_row(&sql, params![worker, now.unix(), lease_until.unix()], |r| {
        Ok(Work {
            asset: asset_row(r)?,
            batch: r.get(7)?,
            attempts: 1,
        })
    })
    .optional()
    .map_err(db_err)
}

/// Marks a held source done; `None` when the worker no longer holds it.
pub(super) fn complete(
    db: &Connection,
    batch: &str,
    key: &str,
    worker: &str,
    now: &Timestamp,
) -> Result<Option<usize>, StoreError> {
    let changed = db
        .execute(
            "UPDATE assets SET done_at = ?4, worker = NULL, lease_until = NULL
             WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3 AND done_at IS NULL",
            params![batch, key, worker, now.unix()],
        )
        .map_err(db_err)?;
    if changed == 0 {
        return Ok(None);
    }
    not_done(db, batch).map(Some)
}

pub(super) fn release(
    db: &Connection,
    batch: &str,
    key: &str,
    worker: &str,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE assets SET worker = NULL, lease_until = NULL
         WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3",
        params![batch, key, worker],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Gives back what any worker holds: at open, the lock makes this process the folder's
/// only worker.
pub(super) fn release_all(db: &Connection) -> Result<(), StoreError> {
    db.execute(
        "UPDATE assets SET worker = NULL, lease_until = NULL WHERE worker IS NOT NULL",
        [],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Outputs waiting or in flight, in all batches: each source not done, times its specs.
pub(super) fn queued_outputs(db: &Connection) -> Result<usize, StoreError> {
    // A batch's specs are kept comma-joined: their count is one more than its commas.
    let n: i64 = db
        .query_row(
            "SELECT COALESCE(SUM(LENGTH(b.specs) - LENGTH(REPLACE(b.specs, ',', '')) + 1), 0)
             FROM assets a JOIN batches b ON b.id = a.batch_id
             WHERE a.queued_at IS NOT NULL AND a.done_at IS NULL",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

fn not_done(db: &Connection, batch: &str) -> Result<usize, StoreError> {
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM assets WHERE batch_id = ?1 AND done_at IS NULL",
            [batch],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    Ok(usize::try_from(n).unwrap_or(0))
}
