//! Questions about outputs across batches: their state changes, what waits for review,
//! counts by state, and whether a source was made before for the same spec.

use crate::handoff::Context;
use rusqlite::{params, Connection};

use super::db_err;
use crate::handoff::{Handoff, State, PIPELINE_VERSION};
use crate::spec::Spec;
use crate::store::{RecordedTransition, StoreError};

pub(super) fn transitions(
    db: &Connection,
    batch: &str,
    key: &str,
    spec: &str,
) -> Result<Vec<RecordedTransition>, StoreError> {
    let mut q = db
        .prepare(
            "SELECT from_state, to_state, at, actor FROM transitions
             WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3 ORDER BY seq",
        )
        .map_err(db_err)?;
    let rows = q
        .query_map(params![batch, key, spec], |r| {
            Ok(RecordedTransition {
                from: r.get(0)?,
                to: r.get(1)?,
                at: r.get(2)?,
                actor: r.get(3)?,
            })
        })
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(rows)
}

/// Every output waiting for a reviewer, by batch and upload order.
pub(super) fn waiting(db: &Connection) -> Result<Vec<(String, i64, Handoff)>, StoreError> {
    let mut q = db
        .prepare(
            "SELECT o.batch_id, a.seq, o.handoff FROM outputs o
             JOIN assets a ON a.batch_id = o.batch_id AND a.source_key = o.source_key
             WHERE o.state = 'needs_review'
             ORDER BY o.batch_id, a.seq, o.spec_id",
        )
        .map_err(db_err)?;
    let rows = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))
        .map_err(db_err)?
        .collect::<Result<Vec<(String, i64, String)>, _>>()
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .filter_map(|(b, seq, h)| Some((b, seq, serde_json::from_str(&h).ok()?)))
        .collect())
}

pub(super) fn by_state(db: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut q = db
        .prepare("SELECT state, COUNT(*) FROM outputs GROUP BY state ORDER BY state")
        .map_err(db_err)?;
    let rows = q
        .query_map([], |r| {
            Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
        })
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(rows)
}

/// The batch and path of an output made from the same bytes, spec and pipeline in
/// another batch, for the same product (its context: SKU, position, title, identifier,
/// alt text, handle; not where the context came from). A photo that comes back under a
/// new SKU, or with a corrected catalog row, is made again.
pub(super) fn made_before(
    db: &Connection,
    source_sha256: &str,
    spec: &Spec,
    context: &Context,
    not_in: &str,
) -> Result<Option<(String, String)>, StoreError> {
    // The states are the lifecycle's own names, not input.
    let made = State::ALL
        .iter()
        .filter(|s| s.is_made())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = db
        .prepare(&format!(
            "SELECT batch_id, path, handoff FROM outputs
             WHERE source_sha256 = ?1 AND spec_id = ?2 AND spec_hash = ?3
               AND pipeline = ?4 AND batch_id <> ?5 AND path IS NOT NULL
               AND state IN ({made})
             ORDER BY batch_id"
        ))
        .map_err(db_err)?;
    let rows = q
        .query_map(
            params![
                source_sha256,
                spec.id,
                spec.content_hash(),
                PIPELINE_VERSION,
                not_in
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(db_err)?;
    let same = |c: &Context| Context {
        from: String::new(),
        ..c.clone()
    };
    for row in rows {
        let (batch, path, handoff) = row.map_err(db_err)?;
        let Ok(h) = serde_json::from_str::<crate::handoff::Handoff>(&handoff) else {
            continue;
        };
        if same(&h.context) == same(context) {
            return Ok(Some((batch, path)));
        }
    }
    Ok(None)
}
