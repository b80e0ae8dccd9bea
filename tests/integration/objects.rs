//! The objects seam's contract (src/store/objects.rs), on the local folder and on a real
//! S3-compatible server (moto, s3.rs): the same calls, the same answers.

use std::io::Read;

use shelfready::store::{Objects, StoreError};

use crate::s3;

/// A local store in a temp folder, and one on a new bucket (under a prefix, as a shared
/// bucket would be used).
fn both() -> Vec<(Objects, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local = Objects::open(None, dir.path()).unwrap();
    let bucket = s3::bucket();
    let remote = Objects::open_with(
        Some(&format!("s3://{bucket}/shop/one")),
        std::path::Path::new("/nonexistent"),
        s3::env(),
    )
    .unwrap();
    vec![(local, Some(dir)), (remote, None)]
}

/// Bytes that are not all one value, so a range or a chunk out of place shows.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn put_get_range_list_delete_agree_on_local_and_s3() {
    for (o, _dir) in both() {
        let who = o.name().to_string();
        let big = pattern(3 * 1024 * 1024 + 17);
        o.put("batches/b1/outputs/amazon/red-mug.jpg", &big)
            .unwrap();
        o.put("batches/b1/manifest.json", b"{}").unwrap();
        o.put("batches/b2/manifest.json", b"{\"x\":1}").unwrap();
        assert_eq!(
            o.get("batches/b1/outputs/amazon/red-mug.jpg")
                .unwrap()
                .as_deref(),
            Some(&big[..]),
            "{who}"
        );
        assert_eq!(o.get("batches/b1/none.jpg").unwrap(), None, "{who}");
        assert_eq!(
            o.size("batches/b1/manifest.json").unwrap(),
            Some(2),
            "{who}"
        );
        assert_eq!(o.size("batches/none").unwrap(), None, "{who}");
        assert_eq!(
            o.get_range("batches/b1/outputs/amazon/red-mug.jpg", 1000..1010)
                .unwrap(),
            big[1000..1010].to_vec(),
            "{who}"
        );
        // The reader streams the whole object, in chunks, byte for byte.
        let mut read = Vec::new();
        o.reader("batches/b1/outputs/amazon/red-mug.jpg")
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert!(read == big, "{who}: the streamed object differs");
        let mut part = Vec::new();
        o.range_reader("batches/b1/outputs/amazon/red-mug.jpg", 1000..2_000_000)
            .unwrap()
            .read_to_end(&mut part)
            .unwrap();
        assert!(
            part == big[1000..2_000_000],
            "{who}: the streamed range differs"
        );
        assert!(o.reader("batches/b1/none.jpg").is_err(), "{who}");
        // A put replaces the whole object.
        o.put("batches/b1/manifest.json", b"{\"v\":2}").unwrap();
        assert_eq!(
            o.get("batches/b1/manifest.json").unwrap().as_deref(),
            Some(&b"{\"v\":2}"[..])
        );
        let listed = o.list("batches/b1").unwrap();
        assert_eq!(
            listed,
            vec![
                ("batches/b1/manifest.json".to_string(), 7),
                (
                    "batches/b1/outputs/amazon/red-mug.jpg".to_string(),
                    big.len() as u64
                ),
            ],
            "{who}"
        );
        // A folder prefix is a folder: b1 does not list b10.
        o.put("batches/b10/x", b"1").unwrap();
        assert_eq!(o.list("batches/b1").unwrap().len(), 2, "{who}");
        o.delete("batches/b1/manifest.json").unwrap();
        o.delete("batches/b1/manifest.json").unwrap(); // gone already: not an error
        assert_eq!(o.get("batches/b1/manifest.json").unwrap(), None, "{who}");
        assert_eq!(o.delete_prefix("batches/b1").unwrap(), 1, "{who}");
        assert!(o.list("batches/b1").unwrap().is_empty(), "{who}");
        let rest: Vec<String> = o.list("").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(rest, ["batches/b10/x", "batches/b2/manifest.json"], "{who}");
        o.check().unwrap();
    }
}

#[test]
fn keys_with_odd_characters_round_trip() {
    for (o, _dir) in both() {
        let keys = [
            "odd/a b+c%d#e~f[g]{h}.jpg",
            "ünï/çødé 東京.png",
            "odd/50% off?.txt",
        ];
        for (i, k) in keys.iter().enumerate() {
            o.put(k, &[i as u8; 5]).unwrap();
            assert_eq!(
                o.get(k).unwrap(),
                Some(vec![i as u8; 5]),
                "{}: {k}",
                o.name()
            );
        }
        let mut listed: Vec<String> = o.list("").unwrap().into_iter().map(|(k, _)| k).collect();
        listed.sort();
        let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(listed, want, "{}", o.name());
    }
}

#[test]
fn local_keys_are_todays_paths_and_writes_leave_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let o = Objects::open(None, dir.path()).unwrap();
    o.put("batches/abc/outputs/amazon/red-mug/main.jpg", b"jpeg")
        .unwrap();
    let on_disk = dir
        .path()
        .join("batches/abc/outputs/amazon/red-mug/main.jpg");
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"jpeg");
    let files: Vec<_> = walk(dir.path());
    assert_eq!(
        files,
        vec![on_disk.clone()],
        "only the object, no staging file"
    );
    // Deleting the last object of a folder leaves no empty folders behind.
    o.delete_prefix("batches/abc").unwrap();
    assert!(!dir.path().join("batches/abc").exists());
}

#[test]
fn a_put_that_fails_midway_leaves_no_object_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = Objects::open(None, dir.path()).unwrap();
    // The bytes are staged, then the rename onto a folder fails: the put's last step.
    std::fs::create_dir_all(dir.path().join("batches/x/taken/inner")).unwrap();
    let err = o.put("batches/x/taken", &pattern(100_000)).unwrap_err();
    // A local folder's failure names the file and the OS error, as every write did.
    assert!(matches!(err, StoreError::Write { .. }), "{err}");
    assert!(err.to_string().contains("batches/x/taken"), "{err}");
    assert_eq!(walk(dir.path()), Vec::<std::path::PathBuf>::new());
    assert!(dir.path().join("batches/x/taken/inner").is_dir());

    // On S3, a put into a bucket that went away fails whole: nothing is there after.
    let bucket = s3::bucket();
    let url = format!("s3://{bucket}");
    let remote = Objects::open_with(Some(&url), dir.path(), s3::env()).unwrap();
    remote.put("kept", b"before").unwrap();
    s3::delete_bucket(&bucket);
    let err = remote.put("batches/y/out.jpg", b"after").unwrap_err();
    assert!(matches!(err, StoreError::ObjectWrite { .. }), "{err}");
    assert!(remote.check().is_err(), "a bucket gone fails the check");
}

#[test]
fn a_missing_bucket_or_a_refusing_endpoint_is_a_clear_error_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let err = Objects::open_with(Some("s3://no-such-bucket-here"), dir.path(), s3::env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("s3://no-such-bucket-here"), "{err}");
    assert!(!err.contains("testing-secret"), "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // the listener is dropped: nothing answers there
    let mut env = s3::env();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    env.push((
        "AWS_ENDPOINT_URL".into(),
        format!("http://127.0.0.1:{closed}"),
    ));
    let start = std::time::Instant::now();
    let err = Objects::open_with(Some("s3://any"), dir.path(), env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s3://any") && err.contains("cannot be used"),
        "{err}"
    );
    assert!(!err.contains("testing-secret"), "{err}");
    assert!(start.elapsed().as_secs() < 30, "said within seconds");

    let err = Objects::open(Some("gs://b/p"), dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("s3://"), "{err}");
}

/// Every file under `root`, sorted.
fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
