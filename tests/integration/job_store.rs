//! The job store under the one per-source call, on SQLite and on PostgreSQL: names,
//! outputs, handoffs and every transition in a real database, kept across a restart.

use std::sync::atomic::AtomicBool;

use shelfready::handoff::{context_from_name, FixedClock, State, Timestamp};
use shelfready::job::{run_source, JobOptions, SourceJob};
use shelfready::pipeline::Limits;
use shelfready::spec::Spec;
use shelfready::store::{Idempotency, KeyedBatch, SourceName, Store};

use crate::pg::{Backend, TestDb, BOTH};
use crate::util::fixtures;

fn job(key: &str, name: &str, fixture: &str) -> SourceJob {
    SourceJob {
        source: SourceName {
            key: key.into(),
            name: name.into(),
        },
        origin: fixture.into(),
        context: context_from_name(name),
        bytes: Ok(std::fs::read(fixtures().join(fixture)).unwrap()),
    }
}

#[test]
fn a_batch_survives_a_restart_with_every_transition_recorded() {
    for backend in BOTH {
        a_batch_survives_a_restart(backend);
    }
}

fn a_batch_survives_a_restart(backend: Backend) {
    let db = TestDb::new(backend);
    let dir = &db.data;
    let clock = FixedClock(Timestamp::from_unix(1_800_000_000).unwrap());
    let specs = vec![Spec::resolve("amazon-main").unwrap()];
    let cancel = AtomicBool::new(false);
    let opts = JobOptions {
        specs: &specs,
        limits: Limits::default(),
        force: false,
        clock: &clock,
        cancel: &cancel,
        routing: &shelfready::handoff::Routing::default(),
        retry: None,
        worker: None,
    };
    let first = {
        let store = db.open();
        let key = |fingerprint| Idempotency {
            key: "key-1",
            fingerprint,
        };
        let id = store
            .create_batch("b1", &["amazon-main".into()], &clock.0, Some(key("f1")))
            .unwrap();
        assert_eq!(id, "b1");
        // The same idempotency key returns the first batch, and the first upload's
        // fingerprint, recorded with it, stays.
        let again = store
            .create_batch("b2", &["amazon-main".into()], &clock.0, Some(key("f2")))
            .unwrap();
        assert_eq!(again, "b1");
        assert_eq!(
            store.batch_with_key("key-1").unwrap(),
            Some(KeyedBatch {
                id: "b1".into(),
                fingerprint: Some("f1".into())
            })
        );
        assert_eq!(store.batch_ids().unwrap(), ["b1"]);
        let batch = store.batch("b1");
        let c = batch.claim_name("up/ROCKET02_1.png", "ROCKET02_1").unwrap();
        assert_eq!(c.name, "ROCKET02_1");
        let clash = batch.claim_name("up/rocket02_1.jpg", "rocket02_1").unwrap();
        assert_eq!(clash.name, "rocket02_1-jpg");
        assert_eq!(clash.taken_by.as_deref(), Some("up/ROCKET02_1.png"));
        let hs = run_source(
            &batch,
            job("up/ROCKET02_1.png", "ROCKET02_1", "ROCKET02_1.png"),
            &opts,
        );
        assert_eq!(hs.len(), 1);
        assert_eq!(hs[0].state, State::Ready);
        let path = dir
            .path()
            .join("batches/b1")
            .join(&hs[0].asset.as_ref().unwrap().path);
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (2000, 2000));
        hs[0].clone()
    };
    // A new process: the database and files are read back, nothing is made again.
    let store = db.open();
    assert!(store.reachable());
    let batch = store.batch("b1");
    assert_eq!(
        batch.claim_name("up/ROCKET02_1.png", "other").unwrap().name,
        "ROCKET02_1"
    );
    let hs = run_source(
        &batch,
        job("up/ROCKET02_1.png", "ROCKET02_1", "ROCKET02_1.png"),
        &opts,
    );
    assert!(hs[0].up_to_date);
    assert_eq!(hs[0].asset, first.asset);
    assert_eq!(batch.handoffs().len(), 1);
    let t = store
        .transitions("b1", "up/ROCKET02_1.png", "amazon-main")
        .unwrap();
    let states: Vec<&str> = t.iter().map(|r| r.to.as_str()).collect();
    assert_eq!(states, ["received", "processing", "ready"]);
    // Put again (as a decision or a retry does) with one change more: only that one is
    // added to the record.
    let mut again = first.clone();
    again.history.push(again.history[2].clone());
    let source = SourceName {
        key: "up/ROCKET02_1.png".into(),
        name: "ROCKET02_1".into(),
    };
    batch.put_handoff(&source, &specs[0], &first).unwrap();
    batch.put_handoff(&source, &specs[0], &again).unwrap();
    let t = store
        .transitions("b1", "up/ROCKET02_1.png", "amazon-main")
        .unwrap();
    assert_eq!(t.len(), 4, "{t:?}");
    // A corrupt upload is a failed asset with its reason, recorded like any other.
    let mut bad = job("up/BROKEN08_1.png", "BROKEN08_1", "BROKEN08_1.png");
    bad.context = context_from_name("BROKEN08_1");
    let hs = run_source(&batch, bad, &opts);
    assert_eq!(hs[0].state, State::Failed);
    assert_eq!(batch.handoffs().len(), 2);
    // Deleting the batch removes its rows and files.
    assert!(store.delete_batch("b1").unwrap());
    assert!(!dir.path().join("batches/b1").exists());
    assert!(store.batch_ids().unwrap().is_empty());
    assert!(store
        .transitions("b1", "up/ROCKET02_1.png", "amazon-main")
        .unwrap()
        .is_empty());
}
