//! Who follows a batch: the server's event stream and webhooks, the command line's progress
//! line, the watch log. Every door's batch tells the same events to an [`Observer`], so a
//! batch taken by any door is followed the same way.

use crate::handoff::Handoff;

/// One source of a batch, done: every spec's handoff settled.
pub struct SourceDone<'a> {
    pub batch: &'a str,
    /// The source's number in its batch, from 1 (upload or input order).
    pub seq: i64,
    pub key: &'a str,
    /// The path or upload name, as the person gave it.
    pub origin: &'a str,
    /// The name its outputs carry.
    pub name: &'a str,
    /// What became of it (where a watched source was moved, ...), for a log line.
    pub note: Option<&'a str>,
    /// How long it took, from reading its bytes to its last handoff.
    pub seconds: f64,
    pub handoffs: &'a [Handoff],
}

impl SourceDone<'_> {
    /// The log line: where the source came from, each spec's state, and the note.
    pub fn line(&self) -> String {
        let states: Vec<String> = self
            .handoffs
            .iter()
            .map(|h| format!("{} {}", h.goal.spec_id, h.state.as_str()))
            .collect();
        let line = match self.note {
            Some(n) => format!("{}: {} -> {n}", self.origin, states.join(", ")),
            None => format!("{}: {}", self.origin, states.join(", ")),
        };
        // Names in it are a supplier's or a client's: printed on one line, whatever they hold.
        crate::naming::printable(&line).into_owned()
    }
}

/// Follows batches. Called from the engine's threads.
pub trait Observer: Sync + Send {
    /// The batch's names are claimed and its `sources` are about to run.
    fn batch_started(&self, _batch: &str, _sources: usize) {}
    /// A source's outputs have settled.
    fn source_done(&self, _done: &SourceDone) {}
    /// Every output of the batch has settled and its manifest is written.
    fn batch_settled(&self, _batch: &str) {}
    /// A line about the batch's intake (a catalog row naming no file, a file not taken, a
    /// fetched image), for people reading a log.
    fn note(&self, _line: &str) {}
}
