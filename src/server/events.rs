//! `GET /v1/batches/{id}/events`: a batch's output changes as server-sent events, those
//! already settled first; a batch worked by other processes is read from the database.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};

use super::app::{asset_id, App, AssetEvent, Event};
use super::error::ApiError;
use super::routes::{batch_row, blocking};
use crate::store::BatchState;

#[utoipa::path(get, path = "/v1/batches/{id}/events", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "server-sent events: `asset` per settled output, then `settled`", content_type = "text/event-stream", body = ref("#/components/schemas/Event")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
/// Sends a batch's output changes as they happen, after those already settled; ends
/// with a `settled` event.
pub async fn batch_events(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // Subscribed before the snapshot is read: nothing falls between the two.
    let rx = app.events.subscribe();
    let (settled, snapshot) = {
        let (app, id) = (app.clone(), id.clone());
        blocking(move || events_of(&app, &id)).await?
    };
    // An output that settled between the subscription and the snapshot is in both: it is
    // sent once.
    let mut follow = Follow {
        rx,
        sent: Default::default(),
        queue: Default::default(),
        done: false,
        // Work done by other processes on a shared database reaches this node only
        // through the database: it is read again every second. So is a batch whose
        // events this follower fell behind on.
        poll: tokio::time::interval(std::time::Duration::from_secs(1)),
        polling: app.store_is_shared(),
    };
    follow.take(snapshot, settled, &id);
    let live = stream::unfold(follow, move |mut f| {
        let (app, id) = (app.clone(), id.clone());
        async move {
            loop {
                if let Some(e) = f.queue.pop_front() {
                    return Some((e, f));
                }
                if f.done {
                    return None;
                }
                tokio::select! {
                    got = f.rx.recv() => match got {
                        Ok(e) if e.batch == id => {
                            let end = e.kind == "settled";
                            f.take(e.asset.is_some().then_some(e).into_iter().collect(), end, &id);
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => f.polling = true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = f.poll.tick(), if f.polling => {
                        let (app, id2) = (app.clone(), id.clone());
                        match blocking(move || events_of(&app, &id2)).await {
                            Ok((settled, events)) => f.take(events, settled, &id),
                            Err(e) => tracing::warn!(batch = %id, "following a batch: {}", e.message),
                        }
                    }
                }
            }
        }
    });
    let events = live.map(|e| {
        Ok(SseEvent::default()
            .event(e.kind.clone())
            .json_data(&e)
            .unwrap_or_else(|_| SseEvent::default().event(e.kind)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One client following a batch: what it was sent, what it is to be sent next.
struct Follow {
    rx: tokio::sync::broadcast::Receiver<Event>,
    sent: std::collections::HashSet<(String, &'static str)>,
    queue: std::collections::VecDeque<Event>,
    done: bool,
    poll: tokio::time::Interval,
    polling: bool,
}

impl Follow {
    /// Queues the asset events not sent yet, then, once the batch has settled, its
    /// `settled` event (always the last).
    fn take(&mut self, events: Vec<Event>, settled: bool, batch: &str) {
        if self.done {
            return;
        }
        for e in events {
            let new = e
                .asset
                .as_ref()
                .is_some_and(|a| self.sent.insert((a.id.clone(), a.state.as_str())));
            if new {
                self.queue.push_back(e);
            }
        }
        if settled {
            self.done = true;
            self.queue.push_back(Event {
                batch: batch.to_string(),
                kind: "settled".into(),
                asset: None,
            });
        }
    }
}

/// A batch's outputs as they stand, as events, and whether it has settled.
fn events_of(app: &App, id: &str) -> Result<(bool, Vec<Event>), ApiError> {
    let row = batch_row(app, id)?;
    let assets = app.store.assets(id)?;
    let store = app.store.batch(id);
    let names = assets
        .iter()
        .map(|a| (a.source_key.clone(), (a.seq, a.upload_name.clone())))
        .collect::<BTreeMap<_, _>>();
    let mut events = Vec::new();
    for h in crate::store::Store::handoffs(&store) {
        let Some((seq, source)) = names.get(&h.provenance.source_key) else {
            continue;
        };
        events.push(Event {
            batch: id.to_string(),
            kind: "asset".into(),
            asset: Some(AssetEvent {
                id: asset_id(id, *seq, &h.goal.spec_id),
                source: source.clone(),
                name: h
                    .id
                    .strip_suffix(&format!(".{}", h.goal.spec_id))
                    .unwrap_or(&h.id)
                    .to_string(),
                spec_id: h.goal.spec_id.clone(),
                state: h.state,
            }),
        });
    }
    Ok((row.state == BatchState::Settled, events))
}
