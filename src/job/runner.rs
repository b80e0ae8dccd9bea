//! The one batch runner every door calls. A door hands it the batch's sources (a walked
//! folder, an upload, a watched drop); the runner claims their names in order, runs each
//! through [`run_source`] on the engine, tells the [`Observer`] as each settles, and
//! settles the batch: its manifest written once, from what the sources came to.
//!
//! What differs between doors is kept out of the loop: how the work is scheduled (the
//! command line and the watcher wait for [`Batch::run`]; the server's workers take each
//! source from the job store's queue, run it with [`Batch::run_one`], and the one that
//! completes the last settles the batch), and what
//! a door does around a source (the watcher's moves to the archive), through [`Handling`].

use crate::store::FileAt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{
    batch_manifest, read_source, run_source, BatchSource, Intake, JobOptions, Observer, SourceDone,
    SourceJob,
};
use crate::engine::Engine;
use crate::error::Failure;
use crate::handoff::{BatchManifest, Context, Handoff};
use crate::store::{BatchState, Claim, JobStore, SourceName, Store, StoreError};

/// One source of a batch, as a door hands it over.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its number in the batch, from 1 (input or upload order).
    pub seq: i64,
    pub key: String,
    /// The name it asks for (see [`crate::naming`]); the store may give another.
    pub wanted_name: String,
    /// The path or upload name, as the person gave it.
    pub origin: String,
    pub context: Context,
    /// Where its bytes are, or why the door could not take them (an upload over a limit).
    pub bytes_at: Result<FileAt, Failure>,
}

/// What became of one source.
#[derive(Debug)]
pub enum Outcome {
    /// Every spec's output settled.
    Done(Vec<Handoff>),
    /// A stop came first: nothing about it was written; the next run takes it.
    Stopped,
}

/// What a door does around each source, beyond the runner's work. Every step may end the
/// source with an outcome of the door's own; an error stops the batch unsettled, to be
/// finished at the next start.
pub trait Handling: Sync {
    type Error: From<StoreError> + Send;

    /// Before the source is read (the watcher: a source already moved out stands as
    /// recorded).
    fn before(&self, _item: &Item) -> Result<Option<Outcome>, Self::Error> {
        Ok(None)
    }

    /// After its outputs settled; returns what became of the source, for the log (the
    /// watcher: where it was moved).
    fn after(&self, _item: &Item, _handoffs: &[Handoff]) -> Result<Option<String>, Self::Error> {
        Ok(None)
    }
}

/// Puts a recorded batch's sources on the job store's queue and wakes the workers, for a
/// door that leaves the work to them (a watched inbox on a shared database). The server's
/// `App` is one: a batch with nothing left to do is settled at once.
pub trait Enqueue: Sync {
    fn enqueue(&self, batch: &str) -> Result<(), StoreError>;
}

/// No door-specific steps (the command line, the server).
pub struct Plain;

impl Handling for Plain {
    type Error = StoreError;
}

/// One batch being run: where it is stored, how each source is made, who follows it.
pub struct Batch<'a> {
    /// The batch's id (the output folder's path for a command-line run), for the observer.
    pub id: &'a str,
    /// Where its outputs and handoffs go.
    pub store: &'a dyn Store,
    /// The job store that keeps the batch's state, if any (not for a plain output folder).
    pub jobs: Option<&'a dyn JobStore>,
    pub options: JobOptions<'a>,
    pub observer: &'a dyn Observer,
    /// Write the manifest of a run a stop cut short (the command line, which exits 130
    /// with it); otherwise an unfinished batch is left unsettled for the next start.
    pub settle_stopped: bool,
}

/// A batch run to its end (or its stop): the names claimed and what became of each source,
/// in item order, and the manifest, when the batch settled.
pub struct Ran {
    pub outcomes: Vec<Outcome>,
    pub manifest: Option<BatchManifest>,
}

impl Batch<'_> {
    /// Claims every source's name, in item order: the same batch gives the same names
    /// whatever the thread count, and a name another source owns is never taken. Claiming
    /// again reads the names back.
    pub fn claim(&self, items: &[Item]) -> Result<Vec<Claim>, StoreError> {
        items
            .iter()
            .map(|i| self.store.claim_name(&i.key, &i.wanted_name))
            .collect()
    }

    /// Runs every source on the engine and waits; then settles the batch.
    pub fn run<H: Handling>(
        &self,
        engine: &Engine,
        items: &[Item],
        intake: Intake,
        handling: &H,
    ) -> Result<Ran, H::Error> {
        let claims = self.claim(items)?;
        self.observer.batch_started(self.id, items.len());
        let work: Vec<(&Item, &Claim)> = items.iter().zip(&claims).collect();
        let outcomes = engine
            .map(&work, |(item, claim)| self.run_one(item, claim, handling))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let manifest = self.settle(items, &claims, &outcomes, intake)?;
        Ok(Ran { outcomes, manifest })
    }

    /// One source, on the calling (engine) thread: read, made for every spec, put, and
    /// told to the observer.
    pub fn run_one<H: Handling>(
        &self,
        item: &Item,
        claim: &Claim,
        handling: &H,
    ) -> Result<Outcome, H::Error> {
        if self.options.cancel.load(Ordering::SeqCst) {
            return Ok(Outcome::Stopped);
        }
        if let Some(o) = handling.before(item)? {
            return Ok(o);
        }
        let started = Instant::now();
        let bytes = match &item.bytes_at {
            Ok(path) => read_source(path, &self.options.limits),
            Err(f) => Err(f.clone()),
        };
        let job = SourceJob {
            source: SourceName {
                key: item.key.clone(),
                name: claim.name.clone(),
            },
            origin: item.origin.clone(),
            context: item.context.clone(),
            bytes,
        };
        let hs = run_source(self.store, job, &self.options);
        // A source the stop caught mid-way is not finished: the next run takes it.
        if hs.len() < self.options.specs.len() {
            return Ok(Outcome::Stopped);
        }
        let note = handling.after(item, &hs)?;
        self.observer.source_done(&SourceDone {
            batch: self.id,
            seq: item.seq,
            key: &item.key,
            origin: &item.origin,
            name: &claim.name,
            note: note.as_deref(),
            seconds: started.elapsed().as_secs_f64(),
            handoffs: &hs,
        });
        Ok(Outcome::Done(hs))
    }

    /// Writes the batch manifest from what the sources came to, marks the batch settled
    /// in its job store, and tells the observer. A batch a stop cut short is left as it is
    /// (`None`) unless `settle_stopped`.
    pub fn settle(
        &self,
        items: &[Item],
        claims: &[Claim],
        outcomes: &[Outcome],
        intake: Intake,
    ) -> Result<Option<BatchManifest>, StoreError> {
        let interrupted = outcomes.iter().any(|o| matches!(o, Outcome::Stopped));
        if interrupted && !self.settle_stopped {
            return Ok(None);
        }
        let skipped = intake.skipped;
        let mut sources = Vec::new();
        for ((item, claim), outcome) in items.iter().zip(claims).zip(outcomes) {
            let handoffs = match outcome {
                Outcome::Done(hs) => Some(hs.clone()),
                Outcome::Stopped => None,
            };
            sources.push(BatchSource {
                key: &item.key,
                origin: item.origin.clone(),
                wanted_name: &item.wanted_name,
                claim,
                handoffs,
            });
        }
        let mut m = batch_manifest(
            self.options.specs,
            self.options.clock,
            self.store,
            sources,
            skipped,
            interrupted,
        );
        m.catalog = intake.catalog;
        self.store.put_batch(&m)?;
        if let Some(jobs) = self.jobs {
            jobs.set_batch_state(self.id, BatchState::Settled, &self.options.clock.now())?;
        }
        tracing::info!(batch = self.id, "batch settled");
        self.observer.batch_settled(self.id);
        Ok(Some(m))
    }
}
