//! The job store as many processes share it on PostgreSQL: concurrent claims from several
//! handles, leases that run out and are taken over (attempts counted), a worker that lost
//! its lease kept from overwriting its successor's records, waiting for work, and what a
//! wrong or unreachable database URL says. The rules that are not PostgreSQL's own run on
//! both backends.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shelfready::handoff::{context_from_name, FixedClock, Routing, State, Timestamp};
use shelfready::job::{run_source, JobOptions, SourceJob};
use shelfready::pipeline::Limits;
use shelfready::spec::Spec;
use shelfready::store::{open_job_store, JobStore, SourceName, StoreError, RECEIVING_MARK};

use crate::pg::{database, server, Backend, TestDb, BOTH};
use crate::store_contract::asset;
use crate::util::fixtures;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + seconds).unwrap()
}

/// A batch `b` of `n` sources, queued at 0.
fn queued_batch(jobs: &dyn JobStore, b: &str, n: i64) -> Vec<String> {
    jobs.create_batch(b, &["amazon-main".into()], &at(0), None)
        .unwrap();
    let keys: Vec<String> = (1..=n).map(|i| format!("src{i:03}.png")).collect();
    for (i, k) in keys.iter().enumerate() {
        jobs.add_asset(b, &asset(i as i64 + 1, k)).unwrap();
    }
    assert_eq!(jobs.queue_work(b, &at(0)).unwrap(), keys.len());
    keys
}

/// Two API nodes on one database send webhooks from the same table: each delivery goes to
/// one of them, is held while it is sent, and is due again once the hold runs out (its
/// sender died) or at the retry time its attempt recorded.
#[test]
fn two_nodes_taking_due_deliveries_at_once_never_get_the_same_one() {
    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        queued_batch(jobs.as_ref(), "b", 1);
        for i in 0..150 {
            let body = format!("{{\"n\":{i}}}");
            jobs.add_delivery("b", "a1", "ready", "http://127.0.0.1:9/hook", &body, &at(0))
                .unwrap();
        }
        let handles: Vec<Arc<dyn JobStore>> = match backend {
            Backend::Postgres => vec![db.open(), db.open()],
            // One process owns a SQLite folder: its threads share the one handle.
            Backend::Sqlite => vec![jobs.clone(), jobs.clone()],
        };
        let takers: Vec<_> = handles
            .into_iter()
            .map(|h| {
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let due = h.due_deliveries(&at(1)).unwrap();
                        if due.is_empty() {
                            return got;
                        }
                        got.extend(due.into_iter().map(|d| d.id));
                    }
                })
            })
            .collect();
        let got: Vec<Vec<i64>> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        let all: Vec<i64> = got.concat();
        let unique: BTreeSet<i64> = all.iter().copied().collect();
        assert_eq!(
            (all.len(), unique.len()),
            (150, 150),
            "{backend:?}: {got:?}"
        );
        // Held: not due again within the hold; due again after it, when no attempt was
        // recorded (the sender died).
        assert!(
            jobs.due_deliveries(&at(100)).unwrap().is_empty(),
            "{backend:?}"
        );
        let first = *unique.first().unwrap();
        jobs.record_attempt(first, Some(200), None, Some(&at(2)), None)
            .unwrap();
        let again: Vec<i64> = jobs
            .due_deliveries(&at(200))
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(again.len(), 64, "{backend:?}: one batch at a time");
        assert!(
            !again.contains(&first),
            "{backend:?}: a delivered one came back"
        );
    }
}

/// Two API nodes that both find an output overdue queue one notice between them.
#[test]
fn an_overdue_notice_queued_by_two_nodes_is_one_delivery() {
    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        queued_batch(jobs.as_ref(), "b", 1);
        let other = match backend {
            Backend::Postgres => db.open(),
            Backend::Sqlite => jobs.clone(),
        };
        for (store, n) in [(&jobs, 1), (&other, 2), (&jobs, 3)] {
            let body = format!("{{\"n\":{n}}}");
            store
                .add_delivery(
                    "b",
                    "a1",
                    "overdue",
                    "http://127.0.0.1:9/hook",
                    &body,
                    &at(n),
                )
                .unwrap();
            // Other events are not held to one.
            store
                .add_delivery("b", "a1", "ready", "http://127.0.0.1:9/hook", &body, &at(n))
                .unwrap();
        }
        let events: Vec<(String, String)> = jobs
            .deliveries("b")
            .unwrap()
            .into_iter()
            .map(|d| (d.event, d.body))
            .collect();
        let overdue: Vec<_> = events.iter().filter(|(e, _)| e == "overdue").collect();
        assert_eq!(overdue.len(), 1, "{backend:?}: {events:?}");
        assert_eq!(overdue[0].1, "{\"n\":1}", "{backend:?}: the first is kept");
        assert_eq!(events.len(), 4, "{backend:?}: {events:?}");
    }
}

#[test]
fn two_handles_claiming_at_once_never_get_the_same_source() {
    let db = TestDb::new(Backend::Postgres);
    let keys = queued_batch(db.open().as_ref(), "b", 60);
    let (a, b) = (db.open(), db.open());
    let claimer = |jobs: Arc<dyn JobStore>, worker: &'static str| {
        std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(w) = jobs.claim_work(worker, &at(1), &at(600)).unwrap() {
                assert_eq!(w.attempts, 1, "{worker} {}", w.asset.source_key);
                got.push(w.asset.source_key);
            }
            got
        })
    };
    let (ta, tb) = (claimer(a, "wa"), claimer(b, "wb"));
    let (got_a, got_b) = (ta.join().unwrap(), tb.join().unwrap());
    let set_a: BTreeSet<_> = got_a.iter().cloned().collect();
    let set_b: BTreeSet<_> = got_b.iter().cloned().collect();
    assert_eq!(set_a.len(), got_a.len(), "one handle got a source twice");
    assert!(set_a.is_disjoint(&set_b), "{set_a:?} and {set_b:?} share");
    let all: BTreeSet<_> = set_a.union(&set_b).cloned().collect();
    assert_eq!(all, keys.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(got_a.len() + got_b.len(), keys.len());
}

#[test]
fn an_expired_lease_is_claimed_again_and_counts_an_attempt() {
    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        queued_batch(jobs.as_ref(), "b", 1);
        let first = jobs.claim_work("w1", &at(10), &at(70)).unwrap().unwrap();
        assert_eq!(
            (first.asset.source_key.as_str(), first.attempts),
            ("src001.png", 1)
        );
        // A heartbeat keeps it: at 100 the lease (now 130) has not run out.
        assert!(jobs.renew_lease("b", "src001.png", "w1", &at(130)).unwrap());
        assert!(jobs.claim_work("w2", &at(100), &at(160)).unwrap().is_none());
        // w1 stops beating; after 130 w2 takes it over, the second attempt.
        let again = jobs.claim_work("w2", &at(131), &at(191)).unwrap().unwrap();
        assert_eq!(
            (again.asset.source_key.as_str(), again.attempts),
            ("src001.png", 2),
            "{backend:?}"
        );
        assert!(!jobs.renew_lease("b", "src001.png", "w1", &at(200)).unwrap());
        assert!(jobs.renew_lease("b", "src001.png", "w2", &at(250)).unwrap());
        // A stop gives it back uncounted: w3's claim is the second attempt again.
        jobs.release_work("b", "src001.png", "w2").unwrap();
        let third = jobs.claim_work("w3", &at(140), &at(200)).unwrap().unwrap();
        assert_eq!(
            third.attempts, 2,
            "{backend:?}: a released claim is not an attempt"
        );
        assert_eq!(
            jobs.complete_work("b", "src001.png", "w3", &at(150))
                .unwrap(),
            Some(0)
        );
        assert!(!jobs.renew_lease("b", "src001.png", "w3", &at(260)).unwrap());
    }
}

#[test]
fn a_worker_that_lost_its_lease_cannot_put_its_handoff() {
    let spec = Spec::resolve("amazon-main").unwrap();
    let clock = FixedClock(at(0));
    let cancel = AtomicBool::new(false);
    let routing = Routing::default();
    let opts = JobOptions {
        specs: std::slice::from_ref(&spec),
        limits: Limits::default(),
        force: false,
        clock: &clock,
        cancel: &cancel,
        routing: &routing,
        retry: None,
        worker: None,
    };
    let source = SourceName {
        key: "MUG01_1.png".into(),
        name: "MUG01_1".into(),
    };
    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        jobs.create_batch("b", std::slice::from_ref(&spec.id), &at(0), None)
            .unwrap();
        jobs.add_asset("b", &asset(1, "MUG01_1.png")).unwrap();
        jobs.queue_work("b", &at(0)).unwrap();
        assert!(jobs.claim_work("w1", &at(1), &at(61)).unwrap().is_some());
        // w1 stalls past its lease; w2 takes the source over and makes it.
        let w2 = jobs.claim_work("w2", &at(62), &at(122)).unwrap().unwrap();
        assert_eq!(w2.attempts, 2);
        let made = run_source(
            &jobs.batch_for_worker("b", "w2"),
            SourceJob {
                source: source.clone(),
                origin: "MUG01_1.png".into(),
                context: context_from_name("MUG01_1"),
                bytes: Ok(std::fs::read(fixtures().join("MUG01_1.png")).unwrap()),
            },
            &opts,
        );
        assert_eq!(made[0].state, State::Ready, "{backend:?}");
        // w1 comes back with its own (here: a failed) handoff: refused, nothing changes.
        let stale = jobs.batch_for_worker("b", "w1");
        let mut late = made[0].clone();
        late.state = State::Failed;
        let refused = stale.put_handoff(&source, &spec, &late).unwrap_err();
        assert!(
            matches!(&refused, StoreError::LeaseLost { key, worker, .. } if key == "MUG01_1.png" && worker == "w1"),
            "{refused:?}"
        );
        assert!(matches!(
            stale.put_output(&source, &spec, b"late bytes"),
            Err(StoreError::LeaseLost { .. })
        ));
        assert!(matches!(
            stale.remove_output(&source, &spec),
            Err(StoreError::LeaseLost { .. })
        ));
        let kept = jobs.handoff("b", "MUG01_1.png", &spec.id).unwrap().unwrap();
        assert_eq!(kept.state, State::Ready);
        assert_eq!(kept.asset, made[0].asset);
        let image = db
            .data
            .path()
            .join("batches/b")
            .join(&made[0].asset.as_ref().unwrap().path);
        assert_eq!(
            shelfready::store::sha256_hex(&std::fs::read(image).unwrap()),
            made[0].asset.as_ref().unwrap().sha256
        );
        // Completed by its holder, the source is no one's: even w2 can no longer write it.
        assert_eq!(
            jobs.complete_work("b", "MUG01_1.png", "w2", &at(70))
                .unwrap(),
            Some(0)
        );
        assert!(jobs
            .batch_for_worker("b", "w2")
            .put_handoff(&source, &spec, &made[0])
            .is_err());
        // The batch's own store (a reviewer's decision) is not a worker's: it writes.
        jobs.batch("b").put_handoff(&source, &spec, &late).unwrap();
        assert_eq!(
            jobs.handoff("b", "MUG01_1.png", &spec.id)
                .unwrap()
                .unwrap()
                .state,
            State::Failed
        );
    }
}

#[test]
fn a_waiter_wakes_within_a_second_of_work_queued_by_another_handle() {
    let db = TestDb::new(Backend::Postgres);
    let (waiter, producer) = (db.open(), db.open());
    producer
        .create_batch("b", &["amazon-main".into()], &at(0), None)
        .unwrap();
    producer.add_asset("b", &asset(1, "a.png")).unwrap();
    // Nothing queued: the wait runs to its timeout (and starts listening).
    let t = Instant::now();
    assert!(!waiter.wait_for_work(Duration::from_millis(300)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(300));
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        tx.send(()).unwrap();
        let told = waiter.wait_for_work(Duration::from_secs(20)).unwrap();
        (told, Instant::now())
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let queued = Instant::now();
    assert_eq!(producer.queue_work("b", &at(1)).unwrap(), 1);
    let (told, woke) = handle.join().unwrap();
    assert!(told);
    let after = woke.duration_since(queued);
    assert!(
        after < Duration::from_secs(1),
        "woke {after:?} after the work was queued"
    );
}

#[test]
fn sqlite_has_no_one_to_wake_a_waiter_so_it_sleeps_the_timeout() {
    let db = TestDb::new(Backend::Sqlite);
    let jobs = db.open();
    let t = Instant::now();
    assert!(!jobs.wait_for_work(Duration::from_millis(200)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[test]
fn processes_starting_together_migrate_the_database_once() {
    let url = database();
    let data = tempfile::tempdir().unwrap();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let (url, data) = (url.clone(), data.path().to_path_buf());
            std::thread::spawn(move || open_job_store(Some(&url), &data).map(|_| ()))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i64> = c
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn an_unreachable_or_wrong_database_url_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://shelf:s3cret@127.0.0.1:{port}/jobs");
    let e = open_job_store(Some(&url), data.path()).err().unwrap();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("database jobs"),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(e.code(), shelfready::error::ErrorCode::DatabaseFailed);

    // A server that answers, a database it does not have.
    let url = format!(
        "postgresql://postgres:s3cret@127.0.0.1:{}/no_such_db",
        server().port
    );
    let text = open_job_store(Some(&url), data.path())
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("\"no_such_db\" does not exist"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    // A scheme shelfready does not read: named, the rest not repeated.
    let text = open_job_store(Some("mysql://root:s3cret@db/x"), data.path())
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("mysql") && !text.contains("s3cret"), "{text}");

    // The embedded default needs no URL; sqlite:// names the folder.
    let jobs = open_job_store(None, data.path()).unwrap();
    assert!(jobs.reachable());
    drop(jobs);
    let other = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", other.path().display());
    let jobs = open_job_store(Some(&url), data.path()).unwrap();
    assert_eq!(jobs.root(), other.path());
    assert!(other.path().join("shelfready.db").is_file());
}

#[test]
fn a_young_upload_folder_is_left_to_the_node_that_may_still_be_receiving_it() {
    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        let batches = db.data.path().join("batches");
        for name in ["young", "old", "unmarked"] {
            std::fs::create_dir_all(batches.join(name)).unwrap();
        }
        std::fs::write(batches.join("young").join(RECEIVING_MARK), b"").unwrap();
        let old_mark = batches.join("old").join(RECEIVING_MARK);
        std::fs::write(&old_mark, b"").unwrap();
        let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&old_mark)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        let removed = jobs.remove_abandoned_uploads().unwrap();
        let left: BTreeSet<String> = std::fs::read_dir(&batches)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        match backend {
            // The folder's only owner: every marked folder without a row was cut off.
            Backend::Sqlite => {
                assert_eq!(removed, 2);
                assert_eq!(left, BTreeSet::from(["unmarked".to_string()]));
            }
            // Shared with other nodes: only a mark older than an hour is abandoned.
            Backend::Postgres => {
                assert_eq!(removed, 1);
                assert_eq!(
                    left,
                    BTreeSet::from(["unmarked".to_string(), "young".to_string()])
                );
            }
        }
    }
}

#[test]
fn a_store_connects_again_after_the_server_closed_its_connection() {
    let db = TestDb::new(Backend::Postgres);
    let jobs = db.open();
    jobs.create_batch("b", &["amazon-main".into()], &at(0), None)
        .unwrap();
    let url = db.url.clone().unwrap();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let cut = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert_eq!(cut, 1, "the store's one connection");
    // The loss is learned by the next call (which may fail); the one after connects again.
    let _ = jobs.batch_ids();
    assert_eq!(jobs.batch_ids().unwrap(), ["b"]);
    assert!(jobs.reachable());
}

#[test]
fn queued_and_completed_work_is_notified_with_its_batch_id() {
    use postgres::fallible_iterator::FallibleIterator;
    let db = TestDb::new(Backend::Postgres);
    let jobs = db.open();
    let mut listener =
        postgres::Client::connect(db.url.as_deref().unwrap(), postgres::NoTls).unwrap();
    listener
        .batch_execute("LISTEN shelfready_work; LISTEN shelfready_events")
        .unwrap();
    queued_batch(jobs.as_ref(), "b7", 1);
    let w = jobs.claim_work("w", &at(1), &at(61)).unwrap().unwrap();
    assert_eq!(
        jobs.complete_work("b7", &w.asset.source_key, "w", &at(2))
            .unwrap(),
        Some(0)
    );
    let told: Vec<(String, String)> = listener
        .notifications()
        .timeout_iter(Duration::from_secs(2))
        .take(2)
        .map(|n| Ok((n.channel().to_string(), n.payload().to_string())))
        .collect()
        .unwrap();
    assert_eq!(
        told,
        [
            ("shelfready_work".to_string(), "b7".to_string()),
            ("shelfready_events".to_string(), "b7".to_string())
        ]
    );
}

/// Two batches name one original by content: deleting one (by two handles at once, as
/// two API nodes or a retried request would) leaves it for the other; deleting the other
/// deletes it. Many rounds, so an interleaving that counts a delete twice shows.
#[test]
fn an_original_goes_with_the_last_batch_naming_it_however_deletes_race() {
    for backend in BOTH {
        let db = TestDb::new(backend);
        let a = db.open();
        // A second process on PostgreSQL; SQLite has one owner per data folder.
        let b = match backend {
            Backend::Postgres => db.open(),
            Backend::Sqlite => a.clone(),
        };
        let now = at(0);
        for round in 0..20 {
            let key = format!("originals/{:064x}", round);
            let (x, y) = (format!("x{round}"), format!("y{round}"));
            for batch in [&x, &y] {
                a.create_batch(batch, &["amazon-main".into()], &now, None)
                    .unwrap();
                let mut row = asset(1, "mug.png");
                row.original = key.clone();
                a.add_asset(batch, &row).unwrap();
                a.set_batch_state(batch, shelfready::store::BatchState::Settled, &now)
                    .unwrap();
            }
            a.objects().put(&key, b"photo").unwrap();
            let deletes: Vec<_> = [a.clone(), b.clone()]
                .into_iter()
                .map(|s| {
                    let x = x.clone();
                    std::thread::spawn(move || s.delete_batch(&x).unwrap())
                })
                .collect();
            let deleted: Vec<bool> = deletes.into_iter().map(|t| t.join().unwrap()).collect();
            assert_eq!(deleted.iter().filter(|d| **d).count(), 1, "{backend:?}");
            assert!(
                a.objects().get(&key).unwrap().is_some(),
                "{backend:?} round {round}: deleted while {y} names it"
            );
            assert!(b.delete_batch(&y).unwrap());
            assert!(
                a.objects().get(&key).unwrap().is_none(),
                "{backend:?} round {round}: left after the last batch"
            );
        }
    }
}

/// What a client may delete: a settled batch; one still being received or processed is
/// left whole, and an id deleted meanwhile is not found.
#[test]
fn only_a_settled_batch_is_deleted_for_a_client() {
    use shelfready::store::{BatchState, Deletion};
    for backend in BOTH {
        let db = TestDb::new(backend);
        let jobs = db.open();
        let now = at(0);
        jobs.create_batch("b1", &["amazon-main".into()], &now, None)
            .unwrap();
        jobs.add_asset("b1", &asset(1, "mug.png")).unwrap();
        for state in [BatchState::Receiving, BatchState::Processing] {
            jobs.set_batch_state("b1", state, &now).unwrap();
            assert_eq!(
                jobs.delete_settled_batch("b1").unwrap(),
                Deletion::Unsettled,
                "{backend:?} {state:?}"
            );
            assert_eq!(jobs.assets("b1").unwrap().len(), 1, "{backend:?}");
        }
        jobs.set_batch_state("b1", BatchState::Settled, &now)
            .unwrap();
        assert_eq!(jobs.delete_settled_batch("b1").unwrap(), Deletion::Deleted);
        assert!(jobs.batch_row("b1").unwrap().is_none());
        assert_eq!(jobs.delete_settled_batch("b1").unwrap(), Deletion::NotFound);
    }
}
