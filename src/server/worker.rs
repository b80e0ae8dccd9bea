//! The queue's workers: each takes the next source from the job store's queue, runs it on
//! the engine through the one runner, and completes it; the one that completes a batch's
//! last source settles the batch. `serve` runs them beside its routes (`--workers`, by
//! default one per engine thread; 0 for an API-only node), `shelfready worker` runs only
//! them, against the same database and files. A claim is a lease, renewed while the
//! source runs: a worker that dies leaves its source to be claimed again when the lease
//! runs out, and a source that has killed its worker `max_attempts` times fails with the
//! reason instead of taking down one worker after another.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::app::{item_of, App};
use crate::error::{ErrorCode, Failure};
use crate::handoff::{Clock, SystemClock, Timestamp};
use crate::job::{Outcome, Plain};
use crate::store::{StoreError, Work};

/// How long an idle worker waits before it looks at the queue again when nothing woke it
/// (another process queued work: the database tells only PostgreSQL's listeners).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Wakes idle workers when this process queues work.
#[derive(Default)]
pub(super) struct Wake {
    generation: Mutex<u64>,
    bell: Condvar,
}

impl Wake {
    pub(super) fn ring(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        *g = g.wrapping_add(1);
        self.bell.notify_all();
    }

    /// Waits until rung or `timeout`.
    fn wait(&self, seen: u64, timeout: Duration) {
        let g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        if *g != seen {
            return;
        }
        let _ = self.bell.wait_timeout(g, timeout);
    }

    fn seen(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A watched inbox on a shared database queues its drops here.
impl crate::job::Enqueue for App {
    fn enqueue(&self, batch: &str) -> Result<(), StoreError> {
        App::enqueue(self, batch)
    }
}

/// The sources this process holds, whose leases its heartbeat renews.
#[derive(Default)]
pub(super) struct Held(Mutex<HashSet<(String, String)>>);

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl App {
    /// Puts a batch's sources on the job store's queue of work and wakes the workers (of
    /// this process; others find it on their next look). A batch with nothing left to do
    /// is settled at once.
    pub fn enqueue(&self, batch: &str) -> Result<(), StoreError> {
        let waiting = self.store.queue_work(batch, &SystemClock.now())?;
        if waiting == 0 {
            self.settle(batch);
            return Ok(());
        }
        self.wake.ring();
        Ok(())
    }

    /// Starts `n` workers and the heartbeat that renews their leases; they stop when the
    /// server does.
    pub fn start_workers(self: &Arc<Self>, n: usize) -> std::io::Result<()> {
        for k in 0..n {
            let app = self.clone();
            std::thread::Builder::new()
                .name(format!("shelfready-worker-{k}"))
                .spawn(move || app.work_until_stopped())?;
        }
        if n > 0 {
            let app = self.clone();
            std::thread::Builder::new()
                .name("shelfready-heartbeat".into())
                .spawn(move || app.heartbeat())?;
            if self.config.shared_database() {
                let app = self.clone();
                std::thread::Builder::new()
                    .name("shelfready-listen".into())
                    .spawn(move || app.listen_for_work())?;
            }
        }
        Ok(())
    }

    /// Wakes this process's idle workers when another process queues work (PostgreSQL
    /// tells its listeners; the workers' own polling is the fallback).
    fn listen_for_work(self: Arc<Self>) {
        while !self.stopping.load(Ordering::SeqCst) {
            match self.store.wait_for_work(Duration::from_secs(1)) {
                Ok(true) => self.wake.ring(),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(
                        "not told of new work (the workers look every {IDLE_POLL:?}): {e}"
                    );
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
        }
    }

    /// One worker: takes a source, runs it on the engine and waits for it, again and
    /// again; waits when the queue is empty.
    fn work_until_stopped(self: Arc<Self>) {
        while !self.stopping.load(Ordering::SeqCst) {
            let seen = self.wake.seen();
            match self.claim() {
                Ok(Some(work)) => self.run_on_engine(work),
                Ok(None) => self.wake.wait(seen, IDLE_POLL),
                Err(e) => {
                    tracing::error!("cannot take work from the queue: {e}");
                    self.wake.wait(seen, IDLE_POLL * 4);
                }
            }
        }
    }

    fn lease_until(&self) -> Timestamp {
        let now = SystemClock.now();
        let secs = i64::try_from(self.config.lease_secs).unwrap_or(i64::MAX);
        Timestamp::from_unix(now.unix().saturating_add(secs)).unwrap_or(now)
    }

    fn claim(&self) -> Result<Option<Work>, StoreError> {
        let claimed =
            self.store
                .claim_work(&self.worker, &SystemClock.now(), &self.lease_until())?;
        if let Some(w) = &claimed {
            self.held
                .lock()
                .insert((w.batch.clone(), w.asset.source_key.clone()));
        }
        Ok(claimed)
    }

    /// Runs a claimed source on one of the engine's lanes (within its bound on work in
    /// flight) and waits for it.
    fn run_on_engine(self: &Arc<Self>, work: Work) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let app = self.clone();
        self.engine.spawn(move || {
            app.work(&work);
            let _ = tx.send(());
        });
        // A panic in the job drops the sender: the worker goes on either way.
        let _ = rx.recv();
    }

    /// One claimed source, start to end: run, then completed (or given back when a stop
    /// came first); the batch settled when it was the last.
    fn work(&self, work: &Work) {
        self.running.fetch_add(1, Ordering::SeqCst);
        let (batch, key) = (&work.batch, &work.asset.source_key);
        let outcome = self.run_work(work).unwrap_or_else(|e| {
            tracing::error!(batch = %batch, "{e}");
            Outcome::Done(Vec::new())
        });
        let finished = if matches!(outcome, Outcome::Stopped) {
            self.store
                .release_work(batch, key, &self.worker)
                .map(|()| None)
        } else {
            self.store
                .complete_work(batch, key, &self.worker, &SystemClock.now())
        };
        self.held.lock().remove(&(batch.clone(), key.clone()));
        self.running.fetch_sub(1, Ordering::SeqCst);
        match finished {
            Ok(Some(0)) => self.settle(batch),
            Ok(_) => {}
            Err(e) => tracing::error!(batch = %batch, "{e}"),
        }
    }

    /// One claimed source, through the one runner. A source taken up more often than
    /// `max_attempts` (each earlier worker died holding it) fails with that reason.
    fn run_work(&self, work: &Work) -> Result<Outcome, String> {
        let Some(row) = self
            .store
            .batch_row(&work.batch)
            .map_err(|e| e.to_string())?
        else {
            return Ok(Outcome::Done(Vec::new())); // the batch was deleted meanwhile
        };
        let specs = self.specs_of(&row.specs).map_err(|e| e.message)?;
        let mut item = item_of(self.store.as_ref(), &work.batch, work.asset.clone());
        if work.attempts > self.config.max_attempts {
            item.bytes_at = Err(Failure::new(
                ErrorCode::WorkerLost,
                format!(
                    "processing this photo stopped unfinished {} times (the worker running it \
                     died each time: out of memory, or killed), so it was not tried again; \
                     try it on its own, and report it if it fails again",
                    work.attempts - 1
                ),
            ));
        }
        // Its writes take effect only while this worker holds the source: one whose lease
        // ran out and was taken over cannot overwrite what the new holder made.
        let store = self.store.batch_for_worker(&work.batch, &self.worker);
        let routing = self.config.routing();
        let run = self.runner(&work.batch, store.as_ref(), &specs, &routing);
        let claims = run
            .claim(std::slice::from_ref(&item))
            .map_err(|e| e.to_string())?;
        match claims.first() {
            Some(claim) => run.run_one(&item, claim, &Plain).map_err(|e| e.to_string()),
            None => Ok(Outcome::Done(Vec::new())),
        }
    }

    /// Renews the lease of every source this process holds, a few times per lease, until
    /// the server stops.
    fn heartbeat(self: Arc<Self>) {
        let every = Duration::from_secs(self.config.lease_secs.max(3) / 3);
        let tick = Duration::from_millis(100);
        let mut since = Duration::ZERO;
        while !self.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            since += tick;
            if since < every {
                continue;
            }
            since = Duration::ZERO;
            let held: Vec<(String, String)> = self.held.lock().iter().cloned().collect();
            let until = self.lease_until();
            for (batch, key) in held {
                match self.store.renew_lease(&batch, &key, &self.worker, &until) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(batch = %batch, "a source's lease ran out before its work ended: another worker may take it")
                    }
                    Err(e) => tracing::error!(batch = %batch, "cannot renew a lease: {e}"),
                }
            }
        }
    }
}
