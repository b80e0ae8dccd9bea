//! What every store promises, run against each: the output folder (the command line's) and
//! a batch of the job store (the server's and the watcher's) on SQLite and on PostgreSQL. A
//! batch through the one runner comes out the same in any of them.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use shelfready::engine::Engine;
use shelfready::handoff::{context_from_name, FixedClock, Routing, State, Timestamp};
use shelfready::job::{Batch, Intake, Item, JobOptions, Observer, Outcome, Plain, SourceDone};
use shelfready::pipeline::Limits;
use shelfready::spec::Spec;
use shelfready::store::{
    sha256_hex, AssetRow, FolderStore, JobStore, SourceName, SqliteStore, Store, StoreError,
};

use crate::pg::{Backend, TestDb, BOTH};
use crate::util::fixtures;

fn clock() -> &'static FixedClock {
    static CLOCK: std::sync::OnceLock<FixedClock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(|| FixedClock(Timestamp::from_unix(1_800_000_000).unwrap()))
}

/// Runs `check` on an output folder and on a batch of the job store on each backend, each
/// new; the second argument is the folder the store's output paths are under.
fn on_every_store(check: impl Fn(&dyn Store, &Path)) {
    let dir = tempfile::tempdir().unwrap();
    let folder = FolderStore::open(&dir.path().join("out"), "contract test").unwrap();
    check(&folder, &dir.path().join("out"));

    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        jobs.create_batch("b1", &["amazon-main".into()], &clock().0, None)
            .unwrap();
        let batch = jobs.batch("b1");
        check(batch.as_ref(), &jobs.batch_dir("b1"));
    }
}

fn source(key: &str, name: &str) -> SourceName {
    SourceName {
        key: key.into(),
        name: name.into(),
    }
}

#[test]
fn a_name_is_claimed_once_and_never_moves_to_another_source() {
    on_every_store(|store, _| {
        let first = store.claim_name("a/MUG01_1.png", "MUG01_1").unwrap();
        assert_eq!(first.name, "MUG01_1");
        assert_eq!(first.taken_by, None);
        // Another source asking for the same name, in another case, gets another one and
        // is told whose it is.
        let second = store.claim_name("b/mug01_1.jpg", "mug01_1").unwrap();
        assert_ne!(second.name.to_lowercase(), "mug01_1");
        assert_eq!(second.taken_by.as_deref(), Some("a/MUG01_1.png"));
        // Asking again reads the names back.
        assert_eq!(store.claim_name("a/MUG01_1.png", "MUG01_1").unwrap(), first);
        assert_eq!(
            store.claim_name("b/mug01_1.jpg", "mug01_1").unwrap(),
            second
        );
    });
}

#[test]
fn an_output_stays_current_only_for_its_source_its_spec_and_its_bytes() {
    let spec = Spec::resolve("amazon-main").unwrap();
    let other_spec = Spec::resolve("shopify").unwrap();
    let bytes = std::fs::read(fixtures().join("MUG01_1.png")).unwrap();
    let sha = sha256_hex(&bytes);
    on_every_store(|store, root| {
        let opts_cancel = AtomicBool::new(false);
        let opts = options(std::slice::from_ref(&spec), &opts_cancel);
        let src = source("MUG01_1.png", "MUG01_1");
        let hs = shelfready::job::run_source(
            store,
            shelfready::job::SourceJob {
                source: src.clone(),
                origin: "MUG01_1.png".into(),
                context: context_from_name("MUG01_1"),
                bytes: Ok(bytes.clone()),
            },
            &opts,
        );
        assert_eq!(hs.len(), 1);
        let h = &hs[0];
        assert!(h.state.stands(), "{:?}", h.state);
        let asset = h.asset.as_ref().expect("an output was written");
        let written = std::fs::read(root.join(&asset.path)).unwrap();
        assert_eq!(sha256_hex(&written), asset.sha256);

        let kept = store.current(&src, &spec, &sha).expect("current");
        assert_eq!(kept.id, h.id);
        assert!(store.current(&src, &spec, &"0".repeat(64)).is_none());
        assert!(store.current(&src, &other_spec, &sha).is_none());
        assert_eq!(store.handoffs().len(), 1);

        // An output changed on disk is no longer the one recorded.
        std::fs::write(root.join(&asset.path), b"not the output").unwrap();
        assert!(store.current(&src, &spec, &sha).is_none());
        std::fs::write(root.join(&asset.path), &written).unwrap();
        assert!(store.current(&src, &spec, &sha).is_some());

        // A removed output is gone from disk and no longer current.
        store.remove_output(&src, &spec).unwrap();
        assert!(!root.join(&asset.path).exists());
        assert!(store.current(&src, &spec, &sha).is_none());
    });
}

fn options<'a>(specs: &'a [Spec], cancel: &'a AtomicBool) -> JobOptions<'a> {
    static ROUTING: std::sync::OnceLock<Routing> = std::sync::OnceLock::new();
    JobOptions {
        specs,
        limits: Limits::default(),
        force: false,
        clock: clock(),
        cancel,
        routing: ROUTING.get_or_init(Routing::default),
        retry: None,
        worker: None,
    }
}

/// Counts what the runner tells.
#[derive(Default)]
struct Told {
    started: std::sync::Mutex<Vec<usize>>,
    done: std::sync::Mutex<Vec<i64>>,
    settled: std::sync::Mutex<Vec<String>>,
}

impl Observer for Told {
    fn batch_started(&self, _batch: &str, sources: usize) {
        self.started.lock().unwrap().push(sources);
    }
    fn source_done(&self, d: &SourceDone) {
        self.done.lock().unwrap().push(d.seq);
    }
    fn batch_settled(&self, batch: &str) {
        self.settled.lock().unwrap().push(batch.to_string());
    }
}

fn items(names: &[&str]) -> Vec<Item> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| Item {
            seq: i as i64 + 1,
            key: n.to_string(),
            wanted_name: Path::new(n).file_stem().unwrap().to_string_lossy().into(),
            origin: n.to_string(),
            context: context_from_name(n),
            bytes_at: Ok(shelfready::store::FileAt::Path(fixtures().join(n))),
        })
        .collect()
}

/// One output of a run: (name, spec, state, sha256 of the image).
type Output = (String, String, State, Option<String>);

/// Every output of a run.
fn run_into(
    store: &dyn Store,
    jobs: Option<&dyn JobStore>,
    specs: &[Spec],
    names: &[&str],
) -> (Vec<Output>, Told) {
    let cancel = AtomicBool::new(false);
    let told = Told::default();
    let batch = Batch {
        id: "b1",
        store,
        jobs,
        options: options(specs, &cancel),
        observer: &told,
        settle_stopped: false,
    };
    let ran = batch
        .run(
            &Engine::new(2).unwrap(),
            &items(names),
            Intake::default(),
            &Plain,
        )
        .unwrap();
    let manifest = ran.manifest.expect("the batch settled");
    assert_eq!(
        store.manifest().unwrap().unwrap().handoffs.len(),
        manifest.handoffs.len()
    );
    let mut outputs: Vec<_> = manifest
        .handoffs
        .iter()
        .map(|h| {
            (
                h.id.clone(),
                h.goal.spec_id.clone(),
                h.state,
                h.asset.as_ref().map(|a| a.sha256.clone()),
            )
        })
        .collect();
    outputs.sort();
    (outputs, told)
}

#[test]
fn a_batch_through_the_runner_comes_out_the_same_in_either_store() {
    let specs = vec![
        Spec::resolve("amazon-main").unwrap(),
        Spec::resolve("mockup-input").unwrap(),
    ];
    // More sources than threads (lanes and the shared tail), a broken one among them.
    let names = [
        "MUG01_1.png",
        "ROCKET02_1.png",
        "BROKEN08_1.png",
        "GREY10_1.jpg",
    ];
    let out = tempfile::tempdir().unwrap();
    let folder = FolderStore::open(out.path(), "contract test").unwrap();
    let (in_folder, told) = run_into(&folder, None, &specs, &names);

    assert_eq!(in_folder.len(), names.len() * specs.len());
    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
        jobs.create_batch("b1", &ids, &clock().0, None).unwrap();
        let batch = jobs.batch("b1");
        let (in_db, told_db) = run_into(batch.as_ref(), Some(jobs.as_ref()), &specs, &names);
        assert_eq!(in_folder, in_db, "{backend:?}");
        assert_eq!(*told_db.started.lock().unwrap(), [4]);
        let mut done = told_db.done.lock().unwrap().clone();
        done.sort();
        assert_eq!(done, [1, 2, 3, 4]);
        assert_eq!(*told_db.settled.lock().unwrap(), ["b1"]);
        // The job store knows the batch settled.
        assert_eq!(
            jobs.batch_row("b1").unwrap().unwrap().state,
            shelfready::store::BatchState::Settled
        );
    }
    let broken: Vec<_> = in_folder
        .iter()
        .filter(|o| o.0.starts_with("BROKEN08_1"))
        .collect();
    assert!(broken.iter().all(|o| o.2 == State::Failed && o.3.is_none()));
    assert_eq!(*told.started.lock().unwrap(), [4]);
    let mut done = told.done.lock().unwrap().clone();
    done.sort();
    assert_eq!(done, [1, 2, 3, 4]);
    assert_eq!(*told.settled.lock().unwrap(), ["b1"]);
}

#[test]
fn a_stopped_batch_is_left_unsettled_unless_the_door_writes_it() {
    let specs = vec![Spec::resolve("amazon-main").unwrap()];
    let cancel = AtomicBool::new(true);
    for settle_stopped in [false, true] {
        let out = tempfile::tempdir().unwrap();
        let folder = FolderStore::open(out.path(), "contract test").unwrap();
        let told = Told::default();
        let batch = Batch {
            id: "b1",
            store: &folder,
            jobs: None,
            options: options(&specs, &cancel),
            observer: &told,
            settle_stopped,
        };
        let ran = batch
            .run(
                &Engine::new(2).unwrap(),
                &items(&["MUG01_1.png"]),
                Intake::default(),
                &Plain,
            )
            .unwrap();
        assert!(matches!(ran.outcomes[..], [Outcome::Stopped]));
        assert!(told.done.lock().unwrap().is_empty());
        let written: Vec<PathBuf> = crate::util::files_under(out.path());
        assert!(
            written
                .iter()
                .all(|p| p.extension().is_none_or(|e| e != "png")),
            "{written:?}"
        );
        match ran.manifest {
            Some(m) => {
                assert!(settle_stopped);
                assert!(m.interrupted);
                assert_eq!(m.exit_code, 130);
                assert_eq!(*told.settled.lock().unwrap(), ["b1"]);
            }
            None => {
                assert!(!settle_stopped);
                assert!(folder.manifest().unwrap().is_none());
                assert!(told.settled.lock().unwrap().is_empty());
            }
        }
    }
}

pub fn asset(seq: i64, key: &str) -> AssetRow {
    AssetRow {
        seq,
        source_key: key.into(),
        upload_name: key.into(),
        original: format!("originals/{key}"),
        bytes: 1,
        context: context_from_name(key),
        failure: None,
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + seconds).unwrap()
}

/// What `claim_work` hands `worker` at `now`, held for a minute: (batch, source key).
fn claim(jobs: &dyn JobStore, worker: &str, now: i64) -> Option<(String, String)> {
    jobs.claim_work(worker, &at(now), &at(now + 60))
        .unwrap()
        .map(|w| (w.batch, w.asset.source_key))
}

/// The queue of work every job store keeps: a source is claimed by one worker at a time,
/// oldest batch first; a lease that runs out lets another worker take it over, and the
/// first holder's completion is then refused; the last completion says the batch can
/// settle.
fn the_queue_hands_each_source_to_one_worker_at_a_time(jobs: &dyn JobStore) {
    for (batch, created) in [("old", at(0)), ("new", at(1))] {
        jobs.create_batch(batch, &["amazon-main".into()], &created, None)
            .unwrap();
        for (seq, key) in [(1, "a.png"), (2, "b.png")] {
            jobs.add_asset(batch, &asset(seq, key)).unwrap();
        }
    }
    assert_eq!(claim(jobs, "w1", 2), None, "nothing is queued yet");
    assert_eq!(jobs.queue_work("new", &at(2)).unwrap(), 2);
    assert_eq!(jobs.queue_work("old", &at(2)).unwrap(), 2);
    assert_eq!(
        jobs.queue_work("old", &at(3)).unwrap(),
        2,
        "queueing twice adds nothing"
    );

    let first = claim(jobs, "w1", 10).unwrap();
    assert_eq!(first, ("old".to_string(), "a.png".to_string()));
    let second = claim(jobs, "w2", 10).unwrap();
    assert_eq!(second, ("old".to_string(), "b.png".to_string()));
    // w1 holds old/a.png: nobody else completes it.
    assert_eq!(
        jobs.complete_work("old", "a.png", "w2", &at(11)).unwrap(),
        None
    );
    assert_eq!(
        jobs.complete_work("old", "a.png", "w1", &at(11)).unwrap(),
        Some(1)
    );
    assert_eq!(
        jobs.complete_work("old", "a.png", "w1", &at(12)).unwrap(),
        None,
        "done once"
    );

    // w2's lease on old/b.png runs out at 70: until then the queue offers the next
    // batch; after it, another worker takes b.png over and w2's completion is refused.
    assert_eq!(claim(jobs, "w3", 69).unwrap().0, "new");
    assert_eq!(
        claim(jobs, "w2", 80).unwrap().0,
        "new",
        "a worker never takes back its own source"
    );
    assert_eq!(claim(jobs, "w3", 80).unwrap(), second);
    assert_eq!(
        jobs.complete_work("old", "b.png", "w2", &at(81)).unwrap(),
        None
    );
    assert_eq!(
        jobs.complete_work("old", "b.png", "w3", &at(81)).unwrap(),
        Some(0)
    );

    // A released source goes back to the queue at once.
    let (batch, key) = ("new".to_string(), "a.png".to_string());
    jobs.release_work(&batch, &key, "w3").unwrap();
    assert_eq!(claim(jobs, "w4", 82), Some((batch, key)));
    assert_eq!(
        claim(jobs, "w5", 82),
        None,
        "new/b.png is held by w2 until 140"
    );
}

/// What the queue test leaves: w2 holds new/b.png until 140, w4 new/a.png until 142.
fn claim_all(jobs: &dyn JobStore, worker: &str, now: i64) -> Vec<(String, String)> {
    let mut left = Vec::new();
    while let Some(w) = claim(jobs, worker, now) {
        left.push(w);
    }
    left.sort();
    left
}

#[test]
fn the_postgres_queue_hands_each_source_to_one_worker_at_a_time() {
    let db = TestDb::new(Backend::Postgres);
    the_queue_hands_each_source_to_one_worker_at_a_time(db.open().as_ref());
    // A restart of one process does not release what the others hold: the leases do.
    let jobs = db.open();
    assert!(claim_all(jobs.as_ref(), "next", 100).is_empty());
    assert_eq!(
        claim_all(jobs.as_ref(), "next", 200),
        [
            ("new".to_string(), "a.png".to_string()),
            ("new".to_string(), "b.png".to_string())
        ]
    );
}

#[test]
fn the_sqlite_queue_hands_each_source_to_one_worker_at_a_time() {
    let data = tempfile::tempdir().unwrap();
    let jobs = SqliteStore::open(data.path()).unwrap();
    the_queue_hands_each_source_to_one_worker_at_a_time(&jobs);
    // The folder's next owner finds nothing held: what the last process held is queued.
    drop(jobs);
    let jobs = SqliteStore::open(data.path()).unwrap();
    let mut left = Vec::new();
    while let Some(w) = claim(&jobs, "next", 200) {
        left.push(w);
    }
    left.sort();
    assert_eq!(
        left,
        [
            ("new".to_string(), "a.png".to_string()),
            ("new".to_string(), "b.png".to_string())
        ]
    );
}

/// A batch's store on a disk that fills up: while `full`, no image and no manifest file
/// can be written (the job store's own record still can, as SQLite's pages were there
/// before the disk filled).
struct FillingDisk<'a> {
    inner: &'a dyn Store,
    full: AtomicBool,
}

impl FillingDisk<'_> {
    fn full(&self) -> bool {
        self.full.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn no_space() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::StorageFull)
}

impl Store for FillingDisk<'_> {
    fn claim_name(&self, key: &str, wanted: &str) -> Result<shelfready::store::Claim, StoreError> {
        self.inner.claim_name(key, wanted)
    }
    fn current(
        &self,
        source: &SourceName,
        spec: &Spec,
        sha: &str,
    ) -> Option<shelfready::handoff::Handoff> {
        self.inner.current(source, spec, sha)
    }
    fn put_output(
        &self,
        source: &SourceName,
        spec: &Spec,
        bytes: &[u8],
    ) -> Result<shelfready::store::PutOutput, StoreError> {
        if self.full() {
            return Err(StoreError::Write {
                path: format!("outputs/{}/{}.jpg", spec.id, source.name),
                error: no_space(),
            });
        }
        self.inner.put_output(source, spec, bytes)
    }
    fn remove_output(&self, source: &SourceName, spec: &Spec) -> Result<(), StoreError> {
        self.inner.remove_output(source, spec)
    }
    fn put_handoff(
        &self,
        source: &SourceName,
        spec: &Spec,
        handoff: &shelfready::handoff::Handoff,
    ) -> Result<(), StoreError> {
        self.inner.put_handoff(source, spec, handoff)?;
        if self.full() {
            return Err(StoreError::Manifest {
                path: format!("manifests/{}.{}.json", source.name, spec.id),
                error: no_space(),
            });
        }
        Ok(())
    }
    fn handoffs(&self) -> Vec<shelfready::handoff::Handoff> {
        self.inner.handoffs()
    }
    fn put_batch(&self, m: &shelfready::handoff::BatchManifest) -> Result<(), StoreError> {
        self.inner.put_batch(m)
    }
    fn manifest(&self) -> Result<Option<shelfready::handoff::BatchManifest>, StoreError> {
        self.inner.manifest()
    }
}

#[test]
fn a_write_the_disk_refuses_fails_its_output_and_the_next_start_makes_it() {
    for backend in BOTH {
        a_write_the_disk_refuses_fails_its_output_and_is_made_again(backend);
    }
}

fn a_write_the_disk_refuses_fails_its_output_and_is_made_again(backend: Backend) {
    let specs = vec![Spec::resolve("amazon-main").unwrap()];
    let names = ["MUG01_1.png", "ROCKET02_1.png"];
    let db = TestDb::new(backend);
    let jobs = db.open();
    let jobs = jobs.as_ref();
    jobs.create_batch("b1", &["amazon-main".into()], &clock().0, None)
        .unwrap();
    for (i, n) in names.iter().enumerate() {
        jobs.add_asset("b1", &asset(i as i64 + 1, n)).unwrap();
    }
    let batch = jobs.batch("b1");
    let disk = FillingDisk {
        inner: batch.as_ref(),
        full: AtomicBool::new(true),
    };
    let (outputs, _) = run_into(&disk, Some(jobs), &specs, &names);
    assert!(outputs
        .iter()
        .all(|o| o.2 == State::Failed && o.3.is_none()));
    // The batch knows: each output is recorded failed, with the code of a write failure,
    // never left "being processed".
    for n in names {
        let h = jobs.handoff("b1", n, "amazon-main").unwrap().unwrap();
        assert_eq!(h.state, State::Failed);
        let code = h.error.unwrap().code;
        assert!(
            code == shelfready::error::ErrorCode::OutputWriteFailed
                || code == shelfready::error::ErrorCode::ManifestWriteFailed,
            "{code:?}"
        );
    }
    assert_eq!(
        jobs.batch_row("b1").unwrap().unwrap().state,
        shelfready::store::BatchState::Settled
    );

    // The next start puts both back on the queue; with space again they are made.
    assert_eq!(jobs.requeue_retryable("upload").unwrap(), ["b1"]);
    assert_eq!(
        jobs.batch_row("b1").unwrap().unwrap().state,
        shelfready::store::BatchState::Processing
    );
    assert_eq!(jobs.queue_work("b1", &at(5)).unwrap(), 2);
    assert!(
        jobs.requeue_retryable("upload").unwrap().is_empty(),
        "a batch being processed is not taken twice"
    );
    disk.full.store(false, std::sync::atomic::Ordering::SeqCst);
    let (outputs, _) = run_into(&disk, Some(jobs), &specs, &names);
    assert!(outputs.iter().all(|o| o.2 == State::Ready && o.3.is_some()));
    assert!(jobs.requeue_retryable("upload").unwrap().is_empty());
}

#[test]
fn a_watched_photo_a_full_disk_failed_is_made_from_quarantine_at_the_next_start() {
    // The state a full disk leaves in a watched drop: the watcher's batch settled, the
    // output failed with a write failure, the source moved to quarantine with its handoff.
    let specs = vec![Spec::resolve("amazon-main").unwrap()];
    let name = "MUG01_1.png";
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    let quarantined = inbox.join("quarantine/order-9").join(name);
    std::fs::create_dir_all(quarantined.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join(name), &quarantined).unwrap();
    {
        let jobs = SqliteStore::open(&data).unwrap();
        jobs.create_batch("b1", &["amazon-main".into()], &clock().0, None)
            .unwrap();
        jobs.set_batch_home("b1", Some(&out.join("order-9")), "watch")
            .unwrap();
        jobs.add_asset(
            "b1",
            &AssetRow {
                original: quarantined.display().to_string(),
                ..asset(1, name)
            },
        )
        .unwrap();
        let batch = jobs.batch("b1");
        let disk = FillingDisk {
            inner: batch.as_ref(),
            full: AtomicBool::new(true),
        };
        let (outputs, _) = run_into(&disk, Some(&jobs), &specs, &[name]);
        assert_eq!(outputs[0].2, State::Failed);
        let failed = jobs.handoff("b1", name, "amazon-main").unwrap().unwrap();
        std::fs::write(
            format!("{}.amazon-main.json", quarantined.display()),
            serde_json::to_vec(&failed).unwrap(),
        )
        .unwrap();
    }

    // The next start of the real watcher makes it, from quarantine, and archives it.
    let mut w = crate::watch::start(&inbox, &out, &data, &["--spec", "amazon-main", "--once"]);
    let status = crate::util::wait_for(
        "the watcher to finish",
        std::time::Duration::from_secs(60),
        || w.try_wait().unwrap(),
    );
    let mut log = String::new();
    std::io::Read::read_to_string(&mut w.stderr.take().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("trying again what a write failure stopped"),
        "{log}"
    );
    let m = crate::util::read_json(&out.join("order-9/manifest.json"));
    let h = &m["handoffs"][0];
    assert_eq!(h["state"], "ready", "{h}");
    let made = out
        .join("order-9")
        .join(h["asset"]["path"].as_str().unwrap());
    let img = image::open(&made).unwrap();
    assert_eq!((img.width(), img.height()), (2000, 2000));
    let archived = inbox.join("archive/order-9").join(name);
    assert_eq!(
        std::fs::read(&archived).unwrap(),
        std::fs::read(fixtures().join(name)).unwrap()
    );
    let beside = crate::util::read_json(Path::new(&format!(
        "{}.amazon-main.json",
        archived.display()
    )));
    assert_eq!(beside["state"], "ready");
    // Nothing of it is left in quarantine: neither the source nor its superseded handoff.
    assert!(crate::util::files_under(&inbox.join("quarantine")).is_empty());
}
