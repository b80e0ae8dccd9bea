//! `GET /metrics`: Prometheus text. Counters live here; outputs by state and the queue
//! depth are read when scraped.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::handoff::Handoff;

pub struct Metrics {
    registry: Registry,
    batches: Counter,
    seconds: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
    outputs: Family<Vec<(String, String)>, Gauge<i64, std::sync::atomic::AtomicI64>>,
    queue: Gauge<i64, std::sync::atomic::AtomicI64>,
    overdue: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let batches = Counter::default();
        // Seconds per source photo, all its specs: from a small PNG to a 100 MP TIFF.
        let seconds = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]);
        let (bytes_in, bytes_out) = (Counter::<u64, AtomicU64>::default(), Counter::default());
        let outputs = Family::default();
        let queue = Gauge::default();
        let overdue = Gauge::default();
        let mut registry = Registry::with_prefix("shelfready");
        registry.register("batches", "Batches accepted", batches.clone());
        registry.register(
            "processing_seconds",
            "Seconds to process one source photo for all its specs",
            seconds.clone(),
        );
        registry.register("bytes_in", "Bytes uploaded", bytes_in.clone());
        registry.register(
            "bytes_out",
            "Bytes of output images written",
            bytes_out.clone(),
        );
        registry.register("outputs", "Outputs by handoff state", outputs.clone());
        registry.register(
            "queue_depth",
            "Outputs (photos x specs) waiting or in flight, in every process on the job database",
            queue.clone(),
        );
        registry.register(
            "outputs_overdue",
            "Outputs waiting for a person past their due time",
            overdue.clone(),
        );
        Metrics {
            registry,
            batches,
            seconds,
            bytes_in,
            bytes_out,
            outputs,
            queue,
            overdue,
        }
    }
}

impl Metrics {
    pub fn batch_created(&self) {
        self.batches.inc();
    }

    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.inc_by(n);
    }

    pub fn source_done(&self, seconds: f64, handoffs: &[Handoff]) {
        self.seconds.observe(seconds);
        let out: u64 = handoffs
            .iter()
            .filter(|h| !h.up_to_date)
            .filter_map(|h| h.asset.as_ref())
            .map(|a| a.bytes)
            .sum();
        self.bytes_out.inc_by(out);
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, by_state: &[(String, u64)], queue_depth: usize, overdue: usize) -> String {
        self.overdue.set(i64::try_from(overdue).unwrap_or(i64::MAX));
        self.outputs.clear();
        for (state, n) in by_state {
            self.outputs
                .get_or_create(&vec![("state".to_string(), state.clone())])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.queue
            .set(i64::try_from(queue_depth).unwrap_or(i64::MAX));
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
