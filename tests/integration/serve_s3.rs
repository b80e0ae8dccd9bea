//! `serve --store-url s3://...`: originals, outputs and manifests in a real S3-compatible
//! bucket (moto, s3.rs), the job database on a real PostgreSQL (pg.rs); downloads stream
//! from the bucket; a wrong bucket stops the server at start; /readyz follows the bucket.

use std::collections::BTreeMap;
use std::io::Read;

use shelfready::store::{sha256_hex, Objects};

use crate::server::{agent, file, fixture, follow, get, reply, specs, upload, Server};
use crate::util::files_under;
use crate::{pg, s3};

fn bucket_store(bucket: &str, prefix: &str) -> Objects {
    Objects::open_with(
        Some(&format!("s3://{bucket}/{prefix}")),
        std::path::Path::new("/nonexistent"),
        s3::env(),
    )
    .unwrap()
}

#[test]
fn an_upload_keeps_originals_outputs_and_manifests_in_the_bucket_and_streams_them_back() {
    in_the_bucket(Some(&pg::database()));
}

#[test]
fn the_embedded_database_keeps_the_files_in_a_bucket_too() {
    in_the_bucket(None);
}

/// An upload's files in a bucket, with the records on PostgreSQL (`url`) or in the data
/// folder's SQLite file.
fn in_the_bucket(url: Option<&str>) {
    let bucket = s3::bucket();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store_url = format!("s3://{bucket}/shop");
    let mut args = vec!["--store-url", &store_url];
    if let Some(u) = url {
        args.extend(["--database-url", u]);
    }
    let server = Server::try_start_env(&data, &args, &s3::env())
        .unwrap_or_else(|log| panic!("serve did not start: {log}"));

    // The same photo twice under two names: kept once, by its content.
    let parts = vec![
        file("mug.png", "MUG01_1.png"),
        file("mug-again.png", "MUG01_1.png"),
        file("rocket.png", "ROCKET02_1.png"),
        specs("amazon-main"),
    ];
    let r = upload(&server, &parts, &[]);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let batch = r.json()["id"].as_str().unwrap().to_string();
    let events = follow(&server, &batch, &[]);
    assert_eq!(events.last().unwrap()["kind"], "settled", "{events:?}");

    let objects = bucket_store(&bucket, "shop");
    let listed: BTreeMap<String, u64> = objects.list("").unwrap().into_iter().collect();
    let mug = fixture("MUG01_1.png");
    let rocket = fixture("ROCKET02_1.png");
    let originals: Vec<&String> = listed
        .keys()
        .filter(|k| k.starts_with("originals/"))
        .collect();
    let mut want = [
        format!("originals/{}", sha256_hex(&mug)),
        format!("originals/{}", sha256_hex(&rocket)),
    ];
    want.sort();
    assert_eq!(originals, want.iter().collect::<Vec<_>>(), "{listed:?}");
    assert_eq!(
        objects.get(&want[0]).unwrap().map(|b| sha256_hex(&b)),
        Some(want[0][10..].to_string())
    );
    let prefix = format!("batches/{batch}/");
    let outputs: Vec<&String> = listed
        .keys()
        .filter(|k| k.starts_with(&format!("{prefix}outputs/amazon-main/")))
        .collect();
    assert_eq!(outputs.len(), 3, "{listed:?}");
    let manifests = listed
        .keys()
        .filter(|k| k.starts_with(&format!("{prefix}manifests/")))
        .count();
    assert_eq!(manifests, 3, "{listed:?}");
    assert!(
        listed.contains_key(&format!("{prefix}manifest.json")),
        "{listed:?}"
    );

    // Each output's file route streams the bucket's bytes, whole and by range.
    let ids: Vec<String> = events
        .iter()
        .filter_map(|e| e["asset"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 3, "{events:?}");
    for id in &ids {
        let h = get(&server.url(&format!("/v1/assets/{id}")), &[]).json();
        let path = h["asset"]["path"].as_str().unwrap();
        let kept = objects.get(&format!("{prefix}{path}")).unwrap().unwrap();
        assert_eq!(sha256_hex(&kept), h["asset"]["sha256"].as_str().unwrap());
        let whole = get(&server.url(&format!("/v1/assets/{id}/file")), &[]);
        assert_eq!(whole.status, 200);
        assert!(
            whole.body == kept,
            "{id}: the file route differs from the bucket"
        );
        assert_eq!(whole.header("content-length"), kept.len().to_string());
        assert_eq!(whole.header("etag"), format!("\"{}\"", sha256_hex(&kept)));
        let part = get(
            &server.url(&format!("/v1/assets/{id}/file")),
            &[("range", "bytes=10-109")],
        );
        assert_eq!(part.status, 206);
        assert!(part.body == kept[10..110], "{id}: the range differs");
        let source = get(&server.url(&format!("/v1/assets/{id}/source")), &[]);
        assert_eq!(
            source.status,
            200,
            "{}",
            String::from_utf8_lossy(&source.body)
        );
        assert!(source.body == mug || source.body == rocket);
    }

    // The download zip streams the outputs and manifests from the bucket.
    let zip = reply(
        agent()
            .get(server.url(&format!("/v1/batches/{batch}/download")))
            .call(),
    );
    assert_eq!(zip.status, 200);
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip.body)).unwrap();
    let mut names = Vec::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let name = e.name().unwrap().to_string();
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        let kept = objects.get(&format!("{prefix}{name}")).unwrap();
        assert!(kept.as_deref() == Some(&bytes[..]), "{name} differs");
        names.push(name);
    }
    assert_eq!(names.len(), 3 + 3 + 1, "{names:?}");

    // An export is made and kept in the bucket, and served from it.
    let r = get(
        &server.url(&format!("/v1/batches/{batch}/export?format=json")),
        &[],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let exports = objects.scoped(&format!("{prefix}exports/json"));
    let kept: Vec<String> = exports
        .list("")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(kept.contains(&"export.json".to_string()), "{kept:?}");
    let served = r.header("x-shelfready-export-files");
    let first = served.split(", ").next().unwrap();
    assert!(
        exports.get(first).unwrap().as_deref() == Some(&r.body[..]),
        "{first}"
    );

    // Nothing of the batch is in the local data folder: its received copy went once the
    // batch was recorded (the database holds the records: PostgreSQL, or the folder's
    // SQLite file and its lock).
    let local: Vec<String> = files_under(&data)
        .iter()
        .map(|p| {
            p.strip_prefix(&data)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| !p.starts_with("shelfready.db") && p != "lock")
        .collect();
    assert!(local.is_empty(), "left in the data folder: {local:?}");

    // A second batch with the same mug: its original is kept once, named twice.
    let again = upload(
        &server,
        &[file("mug.png", "MUG01_1.png"), specs("amazon-main")],
        &[],
    );
    assert_eq!(
        again.status,
        202,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    let second = again.json()["id"].as_str().unwrap().to_string();
    follow(&server, &second, &[]);
    let delete = |id: &str| {
        reply(
            agent()
                .delete(server.url(&format!("/v1/batches/{id}")))
                .call(),
        )
        .status
    };
    let left = || -> Vec<String> {
        let listed = objects.list("").unwrap().into_iter().map(|(k, _)| k);
        listed
            .filter(|k| !k.starts_with(&format!("batches/{second}/")))
            .collect()
    };

    // A deleted batch leaves the bucket, with the originals no other batch names: the
    // rocket goes, the mug the second batch names stays.
    assert_eq!(delete(&batch), 204);
    let mug_key = format!("originals/{}", sha256_hex(&mug));
    assert_eq!(left(), vec![mug_key.clone()]);
    // The last batch naming it gone, the mug goes too: nothing is left.
    assert_eq!(delete(&second), 204);
    let all: Vec<(String, u64)> = objects.list("").unwrap();
    assert!(all.is_empty(), "{all:?}");
    if let Some(u) = url {
        let mut db = postgres::Client::connect(u, postgres::NoTls).unwrap();
        let counted: i64 = db
            .query_one("SELECT count(*) FROM originals", &[])
            .unwrap()
            .get(0);
        assert_eq!(counted, 0);
    }
}

#[test]
fn a_missing_bucket_or_a_refusing_endpoint_stops_serve_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = Server::try_start_env(
        &dir.path().join("a"),
        &["--store-url", "s3://no-such-bucket-at-all/x"],
        &s3::env(),
    )
    .err()
    .expect("serve started on a bucket that does not exist");
    assert!(log.contains("s3://no-such-bucket-at-all/x"), "{log}");
    assert!(log.contains("cannot be used"), "{log}");
    assert!(
        !log.contains("testing-secret") && !log.contains("panicked"),
        "{log}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = s3::env();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    env.push((
        "AWS_ENDPOINT_URL".into(),
        format!("http://127.0.0.1:{closed}"),
    ));
    let log = Server::try_start_env(&dir.path().join("b"), &["--store-url", "s3://any"], &env)
        .err()
        .expect("serve started on an endpoint that refuses");
    assert!(
        log.contains("s3://any") && log.contains("cannot be used"),
        "{log}"
    );
    assert!(
        !log.contains("testing-secret") && !log.contains("panicked"),
        "{log}"
    );
}

/// A database records where its batches keep their files: a process given another file
/// store is refused at start, saying which to use, and the batch stays as it was.
#[test]
fn a_database_whose_files_are_elsewhere_refuses_another_store_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = pg::database();
    let (first, second) = (s3::bucket(), s3::bucket());
    let (local, there) = (dir.path().join("local"), format!("s3://{first}/shop"));

    // On PostgreSQL with data folders first: a batch is made there.
    let server = Server::start(&local, &["--database-url", &url]);
    let r = upload(
        &server,
        &[file("mug.png", "MUG01_1.png"), specs("shopify")],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    follow(&server, r.json()["id"].as_str().unwrap(), &[]);
    drop(server);
    for store in [there.as_str(), &format!("s3://{second}")] {
        let log = Server::try_start_env(
            &dir.path().join("api"),
            &["--database-url", &url, "--store-url", store],
            &s3::env(),
        )
        .err()
        .unwrap_or_else(|| panic!("serve started on {store} over a database of data folders"));
        assert!(
            log.contains("keep their files in data folders")
                && log.contains(store)
                && log.contains("no --store-url"),
            "{log}"
        );
    }
    let server = Server::start(&local, &["--database-url", &url]);
    let batches = get(&server.url("/v1/batches"), &[]).json();
    assert_eq!(batches[0]["state"], "settled", "{batches}");
    drop(server);

    // A new database on a bucket refuses data folders and another bucket, and names its own.
    let url = pg::database();
    let args = [
        "--database-url",
        url.as_str(),
        "--store-url",
        there.as_str(),
    ];
    drop(Server::try_start_env(&dir.path().join("n1"), &args, &s3::env()).unwrap());
    let log = Server::try_start(&dir.path().join("n2"), &["--database-url", &url])
        .err()
        .expect("serve started on data folders over a database of a bucket");
    assert!(
        log.contains(&format!("start it with --store-url {there}")),
        "{log}"
    );
    let other = format!("s3://{second}/shop");
    let log = Server::try_start_env(
        &dir.path().join("n3"),
        &["--database-url", &url, "--store-url", &other],
        &s3::env(),
    )
    .err()
    .expect("serve started on another bucket");
    assert!(
        log.contains(&format!("start it with --store-url {there}")),
        "{log}"
    );
    assert!(
        !log.contains("testing-secret") && !log.contains("panicked"),
        "{log}"
    );
}

#[test]
fn readyz_says_503_when_the_bucket_goes_away() {
    let bucket = s3::bucket();
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("s3://{bucket}");
    let server = Server::try_start_env(dir.path(), &["--store-url", &store_url], &s3::env())
        .unwrap_or_else(|log| panic!("serve did not start: {log}"));
    assert_eq!(get(&server.url("/readyz"), &[]).status, 200);
    s3::delete_bucket(&bucket);
    let r = get(&server.url("/readyz"), &[]);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains(&store_url));
}
