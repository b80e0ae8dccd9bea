//! The HTTP service measured: the benchmark batch through `serve` against `process` on the
//! same machine, then a loopback load run of 20 concurrent uploaders that poll their
//! batches' status, bounded in count and time.
//!
//! cargo build --release --bins --examples
//! cargo run --release --example bench_batch -- 24 target/bench-batch
//! cargo run --release --example serve_bench -- [batch-dir] [runs]
//!
//! Uses the release binary (target/release/shelfready); prints medians, the ratio, and
//! the load run's requests/s, status-call latency, the server's peak RSS and lost assets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

const SPEC: &str = "amazon-main";
const UPLOADERS: usize = 20;
const BATCHES_PER_UPLOADER: usize = 3;

fn binary() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/shelfready")
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data: &Path, jobs: &str) -> Result<Server> {
        let mut child = Command::new(binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--jobs",
                jobs,
                "--data-dir",
            ])
            .arg(data)
            .env_remove("SHELFREADY_TOKEN")
            .stderr(Stdio::piped())
            .spawn()
            .context("start the release binary (cargo build --release --bins)")?;
        let stderr = child.stderr.take().context("stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().context("the server stopped")??;
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Server {
            child,
            base: format!("http://{addr}"),
        })
    }

    /// Peak resident memory so far, in MB.
    fn peak_rss_mb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
}

fn multipart(spec: &str, files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let b = "shelfready-bench-boundary";
    let mut body =
        format!("--{b}\r\nContent-Disposition: form-data; name=\"specs\"\r\n\r\n{spec}\r\n")
            .into_bytes();
    for (name, bytes) in files {
        body.extend_from_slice(format!("--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn upload(
    agent: &ureq::Agent,
    base: &str,
    spec: &str,
    files: &[(String, Vec<u8>)],
) -> Result<String> {
    let (ct, body) = multipart(spec, files);
    let mut r = agent
        .post(&format!("{base}/v1/batches"))
        .header("Content-Type", &ct)
        .send(&body[..])?;
    let text = r.body_mut().read_to_string()?;
    if r.status().as_u16() != 202 {
        bail!("upload: {} {text}", r.status());
    }
    let v: Value = serde_json::from_str(&text)?;
    Ok(v["id"].as_str().unwrap_or_default().to_string())
}

/// Reads the batch's events until it settles.
fn wait_settled(agent: &ureq::Agent, base: &str, id: &str) -> Result<()> {
    let mut r = agent
        .get(&format!("{base}/v1/batches/{id}/events"))
        .call()?;
    for line in BufReader::new(r.body_mut().as_reader()).lines() {
        if line?.starts_with("event: settled") {
            return Ok(());
        }
    }
    bail!("the event stream ended before the batch settled")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let batch = PathBuf::from(args.first().map_or("target/bench-batch", String::as_str));
    let runs: usize = args.get(1).map_or(Ok(3), |s| s.parse())?;
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&batch)
        .with_context(|| format!("{} (make it with the bench_batch example)", batch.display()))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .map(|e| {
            Ok((
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path())?,
            ))
        })
        .collect::<Result<_>>()?;
    files.sort();
    let mb: f64 = files.iter().map(|f| f.1.len() as f64).sum::<f64>() / 1e6;
    println!(
        "CPU: {} ({} threads)",
        cpu(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "batch: {} files, {mb:.0} MB, spec {SPEC}, {runs} runs each, alternating\n",
        files.len()
    );

    let scratch = tempfile::tempdir()?;
    let (mut cli, mut srv) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let out = scratch.path().join(format!("cli-{run}"));
        let t = Instant::now();
        let status = Command::new(binary())
            .args(["process", "--spec", SPEC, "--jobs", "0", "--out"])
            .arg(&out)
            .arg(&batch)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        cli.push(t.elapsed().as_secs_f64());
        if status.code().is_some_and(|c| c > 2) {
            bail!("process failed: {status}");
        }
        let server = Server::start(&scratch.path().join(format!("srv-{run}")), "0")?;
        let agent = agent();
        let t = Instant::now();
        let id = upload(&agent, &server.base, SPEC, &files)?;
        wait_settled(&agent, &server.base, &id)?;
        srv.push(t.elapsed().as_secs_f64());
        println!(
            "run {run}: process {:.2} s, serve (upload to settled) {:.2} s",
            cli[run], srv[run]
        );
    }
    let (c, s) = (median(cli), median(srv));
    println!(
        "\nmedian: process {c:.2} s ({:.1} images/s), serve {s:.2} s ({:.1} images/s); serve takes {:.2}x the time of process\n",
        files.len() as f64 / c,
        files.len() as f64 / s,
        s / c
    );

    // The load run: 20 uploaders, each with a few small batches, polling status until each
    // settles; then every asset is counted.
    let server = Server::start(&scratch.path().join("load"), "0")?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures");
    let small: Vec<(String, Vec<u8>)> = ["GREY10_1.jpg", "SUPPLIER03-main.jpg"]
        .iter()
        .map(|n| Ok((n.to_string(), std::fs::read(fixtures.join(n))?)))
        .collect::<Result<_>>()?;
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + Duration::from_secs(300);
    let t = Instant::now();
    let threads: Vec<_> = (0..UPLOADERS)
        .map(|_| {
            let (base, small, lat, req, ids) = (
                server.base.clone(),
                small.clone(),
                latencies.clone(),
                requests.clone(),
                ids.clone(),
            );
            std::thread::spawn(move || -> Result<()> {
                let agent = agent();
                for _ in 0..BATCHES_PER_UPLOADER {
                    let id = upload(&agent, &base, "shopify", &small)?;
                    req.fetch_add(1, Ordering::Relaxed);
                    ids.lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .push(id.clone());
                    loop {
                        let s = Instant::now();
                        let mut r = agent.get(&format!("{base}/v1/batches/{id}")).call()?;
                        let v: Value = serde_json::from_str(&r.body_mut().read_to_string()?)?;
                        lat.lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?
                            .push(s.elapsed().as_secs_f64() * 1000.0);
                        req.fetch_add(1, Ordering::Relaxed);
                        if v["state"] == "settled" || Instant::now() > deadline {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for th in threads {
        th.join()
            .map_err(|_| anyhow::anyhow!("an uploader panicked"))??;
    }
    let wall = t.elapsed().as_secs_f64();
    let agent = agent();
    let ids = ids.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    let mut settled = 0;
    for id in &ids {
        let mut r = agent
            .get(&format!("{}/v1/batches/{id}", server.base))
            .call()?;
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string()?)?;
        let n: u64 = v["outputs"].as_object().map_or(0, |o| {
            o.iter()
                .filter(|(k, _)| *k != "received")
                .map(|(_, v)| v.as_u64().unwrap_or(0))
                .sum()
        });
        settled += n as usize;
    }
    let expected = ids.len() * small.len();
    let mut lat = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    println!(
        "load: {UPLOADERS} uploaders x {BATCHES_PER_UPLOADER} batches of {} photos, status polled every 20 ms: {} requests in {wall:.1} s = {:.0} requests/s; status p50 {:.1} ms, p99 {:.1} ms over {} calls; server peak RSS {:.0} MB; assets {settled} of {expected} settled, {} lost",
        small.len(),
        requests.load(Ordering::Relaxed),
        requests.load(Ordering::Relaxed) as f64 / wall,
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99),
        lat.len(),
        server.peak_rss_mb(),
        expected - settled.min(expected)
    );
    Ok(())
}
