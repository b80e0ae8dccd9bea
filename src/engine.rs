//! The engine: the threads that run sources through the pipeline, and the bound on how
//! many sources are in flight. One per process, owned by the caller (the CLI, the server),
//! so that many concurrent requests share the cores instead of each making threads.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("cannot start the worker threads: {0}")]
pub struct EngineError(String);

impl EngineError {
    pub fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::InternalError
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Worker threads and the in-flight bound. Cheap to clone: clones share the threads.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    threads: usize,
    /// All threads: the stages and specs of one source run in parallel on it.
    shared: rayon::ThreadPool,
    /// One one-thread pool per worker, for batches with more sources than threads.
    lanes: Vec<rayon::ThreadPool>,
    /// Jobs waiting for a free lane, and which lanes are draining the queue.
    queue: Mutex<VecDeque<Job>>,
    busy: Vec<AtomicBool>,
}

impl Engine {
    /// An engine with `threads` workers (0: one per core); at most that many sources are
    /// in flight at once.
    pub fn new(threads: usize) -> Result<Engine, EngineError> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let build = |n: usize, name: &'static str| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(move |i| format!("{name}-{i}"))
                .build()
                .map_err(|e| EngineError(e.to_string()))
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                threads,
                shared: build(threads, "shelfready")?,
                lanes: (0..threads)
                    .map(|_| build(1, "shelfready-lane"))
                    .collect::<Result<_, _>>()?,
                queue: Mutex::new(VecDeque::new()),
                busy: (0..threads).map(|_| AtomicBool::new(false)).collect(),
            }),
        })
    }

    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// Runs `work` on every item; results in item order.
    ///
    /// With more items than threads, each item runs start to finish on one lane of its own
    /// (a one-thread pool, so the stages' parallel loops run inline). Items are not tasks of
    /// the shared pool on purpose: a rayon thread waiting inside an item's parallel stages
    /// steals queued work, and a stolen *source* is another decoded photo in memory. So at
    /// most one source per thread is in flight and peak memory does not grow with the
    /// batch. The last `threads` items, and every item when there are no more items than
    /// threads, run their stages on the whole shared pool instead: a thread whose lane has
    /// nothing left to start helps finish what is still in flight, so no core sits idle
    /// at the end of a batch.
    pub fn map<T: Sync, R: Send>(&self, items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
        let inner = &self.inner;
        if items.len() <= inner.threads {
            return inner
                .shared
                .install(|| items.par_iter().map(&work).collect());
        }
        let next = AtomicUsize::new(0);
        let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
            let handles: Vec<_> = inner
                .lanes
                .iter()
                .map(|lane| {
                    let (next, work) = (&next, &work);
                    scope.spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(item) = items.get(i) else { break };
                            let pool = if items.len() - i <= inner.threads {
                                &inner.shared
                            } else {
                                lane
                            };
                            mine.push((i, pool.install(|| work(item))));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }

    /// Queues one job without waiting for it: for async callers, which send the result
    /// back through a channel. Jobs run on the lanes, one per lane at a time, so at most
    /// `threads` are in flight and a waiting thread never steals a second job; the rest
    /// wait in order.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.inner.queue().push_back(Box::new(job));
        self.wake_a_lane();
    }

    /// Starts a drainer on a free lane, if there is one.
    fn wake_a_lane(&self) {
        let inner = &self.inner;
        let free = inner.busy.iter().position(|b| {
            b.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        if let (Some(k), Some(lane)) = (free, free.and_then(|k| inner.lanes.get(k))) {
            let me = self.clone();
            lane.spawn(move || me.drain(k));
        }
    }

    /// Runs queued jobs one at a time on lane `k` until the queue is empty.
    fn drain(&self, k: usize) {
        let inner = &self.inner;
        loop {
            let job = inner.queue().pop_front();
            match job {
                // A panicking job must not take its lane with it.
                Some(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                None => {
                    inner.busy[k].store(false, Ordering::Release);
                    // A job queued between the empty pop and the release may have found
                    // every lane busy: look once more.
                    if !inner.queue().is_empty() {
                        self.wake_a_lane();
                    }
                    return;
                }
            }
        }
    }
}

impl Inner {
    /// The queue, even after a panic elsewhere (a job is pushed or popped whole).
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn map_keeps_item_order_on_lanes_and_shared_pool() {
        let e = Engine::new(2).unwrap();
        let items: Vec<u32> = (0..9).collect();
        assert_eq!(
            e.map(&items, |i| i * 2),
            (0..9).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert_eq!(e.map(&items[..2], |i| i + 1), vec![1, 2]);
    }

    #[test]
    fn spawned_jobs_all_run_and_never_exceed_the_bound() {
        let e = Engine::new(2).unwrap();
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let (now, peak, tx) = (now.clone(), peak.clone(), tx.clone());
            e.spawn(move || {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                now.fetch_sub(1, Ordering::SeqCst);
                let _ = tx.send(i);
            });
        }
        drop(tx);
        let mut got: Vec<i32> = rx.iter().collect();
        got.sort();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert!(
            peak.load(Ordering::SeqCst) <= 2,
            "{}",
            peak.load(Ordering::SeqCst)
        );
    }
}
