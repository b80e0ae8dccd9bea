//! Questions about outputs across batches: their state changes, what waits for review,
//! counts by state, and whether a source was made before for the same spec.

use crate::handoff::{Context, Handoff, State, PIPELINE_VERSION};
use crate::spec::Spec;
use crate::store::sql::Conn;
use crate::store::{RecordedTransition, StoreError};

pub(super) fn transitions(
    db: &mut dyn Conn,
    batch: &str,
    key: &str,
    spec: &str,
) -> Result<Vec<RecordedTransition>, StoreError> {
    db.query(
        "SELECT from_state, to_state, at, actor FROM transitions
         WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3 ORDER BY seq",
        &[batch.into(), key.into(), spec.into()],
    )?
    .iter()
    .map(|r| {
        Ok(RecordedTransition {
            from: r.get(0)?,
            to: r.get(1)?,
            at: r.get(2)?,
            actor: r.get(3)?,
        })
    })
    .collect()
}

/// Every output waiting for a reviewer, by batch and upload order.
pub(super) fn waiting(db: &mut dyn Conn) -> Result<Vec<(String, i64, Handoff)>, StoreError> {
    let rows = db.query(
        "SELECT o.batch_id, a.seq, o.handoff FROM outputs o
         JOIN assets a ON a.batch_id = o.batch_id AND a.source_key = o.source_key
         WHERE o.state = 'needs_review'
         ORDER BY o.batch_id, a.seq, o.spec_id",
        &[],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let handoff: String = r.get(2)?;
        if let Ok(h) = serde_json::from_str(&handoff) {
            out.push((r.get(0)?, r.get(1)?, h));
        }
    }
    Ok(out)
}

pub(super) fn by_state(db: &mut dyn Conn) -> Result<Vec<(String, u64)>, StoreError> {
    db.query(
        "SELECT state, COUNT(*) FROM outputs GROUP BY state ORDER BY state",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, u64::try_from(r.get::<i64>(1)?).unwrap_or(0))))
    .collect()
}

/// The batch and path of an output made from the same bytes, spec and pipeline in
/// another batch, for the same product (its context: SKU, position, title, identifier,
/// alt text, handle; not where the context came from). A photo that comes back under a
/// new SKU, or with a corrected catalog row, is made again.
pub(super) fn made_before(
    db: &mut dyn Conn,
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
    let spec_hash = spec.content_hash();
    let rows = db.query(
        &format!(
            "SELECT batch_id, path, handoff FROM outputs
             WHERE source_sha256 = ?1 AND spec_id = ?2 AND spec_hash = ?3
               AND pipeline = ?4 AND batch_id <> ?5 AND path IS NOT NULL
               AND state IN ({made})
             ORDER BY batch_id"
        ),
        &[
            source_sha256.into(),
            (&spec.id).into(),
            (&spec_hash).into(),
            PIPELINE_VERSION.into(),
            not_in.into(),
        ],
    )?;
    let same = |c: &Context| Context {
        from: String::new(),
        ..c.clone()
    };
    for r in rows {
        let handoff: String = r.get(2)?;
        let Ok(h) = serde_json::from_str::<Handoff>(&handoff) else {
            continue;
        };
        if same(&h.context) == same(context) {
            return Ok(Some((r.get(0)?, r.get(1)?)));
        }
    }
    Ok(None)
}
