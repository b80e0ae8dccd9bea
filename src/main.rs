//! The `shelfready` command line.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use shelfready::cli::args::{Cli, Command, ExportArgs, ProcessArgs, ReviewArgs, WatchArgs};
use shelfready::cli::process::{process, ProcessOptions};
use shelfready::cli::{check, summary, CliError};
use shelfready::engine::Engine;
use shelfready::handoff::{BatchManifest, Clock, FixedClock, SystemClock, Timestamp};
use shelfready::job::{Observer, SourceDone};
use shelfready::pipeline::Limits;
use shelfready::server::{App, ServerError};
use shelfready::spec::{builtin, builtin_ids, Spec};

/// Writes to stdout, ignoring a closed pipe (`shelfready ... | head` must not panic).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Like [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

// glibc's per-thread arenas grow without bound under parallel image work; mimalloc
// returns memory and keeps peak RSS tied to the files in flight.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// libjpeg-turbo allocates its working buffers with the C allocator: each 2000 px encode
/// and read-back mmaps and unmaps tens of megabytes, and every page is faulted in afresh.
/// Keeping those blocks on glibc's heap cut page faults of a three-spec batch of 24
/// photos from 160,000 to 23,000 and system time by half, at the same peak RSS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_c_heap() {
    const MB: libc::c_int = 1 << 20;
    // SAFETY: mallopt only sets allocator parameters; it is called before any other
    // thread exists, and a rejected value just leaves glibc's default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * MB); // glibc's maximum
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * MB);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_c_heap() {}

/// mimalloc's `mi_option_purge_delay` (the 16th entry of `mi_option_e` in mimalloc.h, v2
/// and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A freed image buffer stays committed for the next file instead of going back to the OS
/// and being faulted in and zeroed again. Zeroing fresh pages (the kernel's
/// clear_page_erms) was 17% of a batch's CPU time; with purging off the canonical job on
/// the realistic batch took about 2.4 s of CPU instead of 2.6-2.9 s, with half the page
/// faults (perf stat, 2-core AMD EPYC). Peak RSS is unchanged; it is kept until exit.
fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an option value; it is called before any other
    // thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Exit code for a wrong command line (sysexits EX_USAGE); 0, 1 and 2 report batch results.
const EXIT_USAGE: u8 = 64;
/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Set by the first Ctrl-C: the batch stops starting sources and writes its manifest.
static CANCEL: AtomicBool = AtomicBool::new(false);

/// The first Ctrl-C stops the batch cleanly; a second one ends the process at once (every
/// output is written atomically, so nothing half-written is left either way).
fn on_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!("\nstopping: finishing the manifest (Ctrl-C again to quit at once)");
    });
}

fn main() -> ExitCode {
    keep_c_heap();
    keep_freed_memory();
    if let Some(msg) = single_dash_long_option(std::env::args().skip(1)) {
        eprintln!("error: {msg}");
        return ExitCode::from(EXIT_USAGE);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    // A service logs what it does (a line per batch and file; the file watcher's own
    // bookkeeping only when it goes wrong); a command prints its own summary and logs only
    // warnings.
    let default_log = if matches!(cli.command, Command::Serve { .. } | Command::Worker { .. }) {
        "info,notify=warn"
    } else {
        "warn"
    };
    shelfready::logging::init(default_log, std::io::stderr().is_terminal());
    // A panic is caught per source and reported in its handoff; the terminal gets one
    // line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("internal error: {info}");
    }));
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code_of(&e))
        }
    }
}

/// The exit code of a failed command, from its error's code (each door's error type
/// has one); an error without a code is a usage error.
fn exit_code_of(e: &anyhow::Error) -> u8 {
    let code = if let Some(e) = e.downcast_ref::<CliError>() {
        e.code()
    } else if let Some(e) = e.downcast_ref::<ServerError>() {
        e.code()
    } else if let Some(e) = e.downcast_ref::<shelfready::watch::WatchError>() {
        e.code()
    } else {
        return EXIT_USAGE;
    };
    code.category().exit_code()
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Check { batch, json } => {
            let specs = resolve_specs(&batch.spec)?;
            let report = check::check(&batch.inputs, &specs, &batch.limits(), &batch.engine()?)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                out!("{}", check::render(&report));
            }
            Ok(report.exit_code)
        }
        Command::Process(args) => run_process_command(args),
        Command::Serve { args } => {
            let config = shelfready::server::ServeConfig::load(&args)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            if args.print_config {
                out!("{}", config.to_toml());
                return Ok(0);
            }
            let data = config.data_dir.display().to_string();
            shelfready::server::serve(
                config,
                |addr| {
                    eprintln!("shelfready listening on http://{addr} (data in {data}; API at http://{addr}/v1/openapi.json)");
                },
                watch_beside,
            )?;
            Ok(0)
        }
        Command::Worker { args } => {
            let config = shelfready::server::ServeConfig::load(&args)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            if args.print_config {
                out!("{}", config.to_toml());
                return Ok(0);
            }
            let store = config.database_url.as_deref().map_or_else(
                || config.data_dir.display().to_string(),
                shelfready::server::config::hide_password,
            );
            shelfready::server::work(config, |n| {
                eprintln!(
                    "shelfready worker: {n} worker(s) on {store}, {}",
                    shelfready::job::worker_name()
                );
            })?;
            Ok(0)
        }
        Command::Watch(args) => run_watch(args),
        Command::Export(args) => run_export(args),
        Command::Review(args) => run_review(args),
        Command::Specs { id: None } => {
            outln!(
                "{:<18} {:>11}  {:<5} {:<12} {:>5}  description",
                "id",
                "canvas",
                "fmt",
                "background",
                "fill"
            );
            for id in builtin_ids() {
                let s = builtin(id).context("built-in spec")??;
                outln!(
                    "{:<18} {:>11}  {:<5} {:<12} {:>4.0}%  {}",
                    s.id,
                    format!("{}x{}", s.width, s.height),
                    s.format.extension(),
                    s.background.to_string(),
                    s.fill_ratio * 100.0,
                    s.description
                );
            }
            Ok(0)
        }
        Command::Specs { id: Some(id) } => {
            let s = Spec::resolve(&id)?;
            out!("{}", s.to_toml());
            Ok(0)
        }
        Command::Schema { write } => {
            let schemas = shelfready::schemas();
            match write {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)?;
                    for (name, schema) in &schemas {
                        let text = serde_json::to_string_pretty(schema)? + "\n";
                        std::fs::write(dir.join(name), text)?;
                    }
                }
                None => out!(
                    "{}\n",
                    serde_json::to_string_pretty(&shelfready::handoff::batch_schema())?
                ),
            }
            Ok(0)
        }
    }
}

/// `shelfready process`.
fn run_process_command(args: ProcessArgs) -> Result<u8> {
    let ProcessArgs {
        batch,
        out,
        force,
        json,
        contact_sheet,
    } = args;
    let engine = batch.engine()?;
    let specs = resolve_specs(&batch.spec)?;
    let clock = clock();
    let opts = ProcessOptions {
        inputs: &batch.inputs,
        out_dir: &out,
        specs: &specs,
        limits: batch.limits(),
        force,
        clock: clock.as_ref(),
        holder: format!(
            "pid {}, `{}`, since {}",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" "),
            SystemClock.now()
        ),
        cancel: &CANCEL,
    };
    on_ctrl_c();
    let manifest = run_process(&opts, &engine, json)?;
    if let Some(sheet) = &contact_sheet {
        let png = shelfready::job::contact_sheet(
            &engine,
            &format!("shelfready · {}", out.display()),
            &manifest.handoffs,
            |h| std::fs::read(out.join(&h.asset.as_ref()?.path)).ok(),
            &opts.limits,
        )
        .map_err(CliError::Sheet)?;
        shelfready::store::write_atomic(sheet, &png).map_err(|error| {
            CliError::Store(shelfready::store::StoreError::Write {
                path: sheet.display().to_string(),
                error,
            })
        })?;
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        out!("{}", summary::render(&manifest, &out));
    }
    Ok(u8::try_from(manifest.exit_code).unwrap_or(1))
}

/// `shelfready export`.
fn run_export(args: ExportArgs) -> Result<u8> {
    let ExportArgs {
        input,
        format,
        out,
        base_url,
        identifiers,
        spec,
        zip_max_mb,
        shopify_legacy_columns,
        json,
    } = args;
    use shelfready::export::{Format, Options, ShopifyColumns};
    let mut opts = Options::new(Format::parse(&format).map_err(CliError::Export)?);
    opts.base_url = base_url;
    opts.specs = (!spec.is_empty()).then_some(spec);
    opts.zip_max_bytes = zip_max_mb.max(1).saturating_mul(1 << 20);
    if shopify_legacy_columns {
        opts.shopify_columns = ShopifyColumns::Legacy;
    }
    if let Some(file) = identifiers {
        opts.products = shelfready::cli::export::read_products(&file)?;
    }
    let (report, dir) = shelfready::cli::export::run(&input, &out, &opts)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", shelfready::cli::export::render(&report, &dir));
    }
    Ok(if report.left_out.is_empty() { 0 } else { 2 })
}

/// `shelfready watch`.
fn run_watch(args: WatchArgs) -> Result<u8> {
    let WatchArgs {
        inbox,
        spec,
        out,
        data_dir,
        settle_ms,
        rescan_ms,
        stalled_secs,
        once,
        jobs,
        allow_private_urls,
        database_url,
        store_url,
        workers,
    } = args;
    let specs = resolve_specs(&spec)?;
    let opts = shelfready::watch::WatchOptions {
        inbox,
        out,
        specs,
        limits: Limits::default(),
        settle: std::time::Duration::from_millis(settle_ms),
        rescan: std::time::Duration::from_millis(rescan_ms.max(50)),
        once,
        fetch: shelfready::watch::FetchLimits {
            allow_private: allow_private_urls,
            ..Default::default()
        },
        routing: shelfready::handoff::Routing::default(),
        stalled: std::time::Duration::from_secs(stalled_secs),
    };
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!("stopping: work in flight is kept for the next start");
    });
    eprintln!(
        "shelfready watching {} (outputs in {}, sources then to {} or {})",
        opts.inbox.display(),
        opts.out.display(),
        opts.archive().display(),
        opts.quarantine().display()
    );
    // The job store as `serve` opens it (a database, a bucket), or the data folder.
    if database_url.is_some() || store_url.is_some() {
        let config = shelfready::server::ServeConfig {
            data_dir,
            database_url,
            store_url,
            jobs: jobs.unwrap_or(0),
            workers,
            ..Default::default()
        };
        watch_on(config, &opts)?;
        return Ok(0);
    }
    let store = shelfready::store::SqliteStore::open(&data_dir).map_err(CliError::Store)?;
    let engine = Engine::new(jobs.unwrap_or(0)).map_err(CliError::Engine)?;
    shelfready::watch::watch(
        &opts,
        &store,
        shelfready::watch::Runs::Here(&engine),
        &CANCEL,
        &WatchLog,
    )?;
    Ok(0)
}

/// `shelfready review`.
fn run_review(args: ReviewArgs) -> Result<u8> {
    let ReviewArgs {
        out,
        approve,
        reject,
        retry,
        received,
        note,
        reviewer,
        fill,
        align,
        max_upscale,
        treat_as,
        enclosed,
        spec,
        owner,
        check,
        json,
    } = args;
    use shelfready::cli::review::{self as rv, Action};
    let clock = clock();
    let actor = reviewer
        .or_else(|| std::env::var("USER").ok())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "cli".into());
    let overrides = rv::overrides(
        fill,
        align.as_deref(),
        max_upscale,
        treat_as.as_deref(),
        enclosed.as_deref(),
    );
    let act = [
        (approve, Action::Approve),
        (reject, Action::Reject),
        (retry, Action::Retry(overrides)),
        (received, Action::Received),
    ]
    .into_iter()
    .find_map(|(id, a)| id.map(|id| (id, a)));
    let Some((id, action)) = act else {
        let filter = shelfready::review::QueueFilter {
            owner,
            check,
            ..Default::default()
        };
        let now = clock.now();
        let waiting = rv::queue(&out, &filter, now)?;
        if json {
            outln!("{}", serde_json::to_string_pretty(&waiting)?);
        } else {
            out!("{}", rv::render_queue(&out, &waiting, now));
        }
        return Ok(if waiting.is_empty() { 0 } else { 2 });
    };
    let h = rv::decide(rv::Decide {
        out: &out,
        id: &id,
        action,
        actor: &actor,
        note,
        spec: spec.as_deref(),
        limits: Limits::default(),
        clock: clock.as_ref(),
    })?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&h)?);
    } else {
        out!("{}", rv::render_decision(&h));
    }
    Ok(0)
}

/// `serve --watch`: the watcher runs on its own thread over the server's store and engine,
/// and the server follows its batches as it follows uploads (events, webhooks); it stops
/// with the server.
fn watch_beside(app: &Arc<App>) -> Result<(), ServerError> {
    use shelfready::server::ConfigError;
    let Some(inbox) = app.config.watch.clone() else {
        return Ok(());
    };
    let specs = app.specs_of(&app.config.watch_specs).map_err(|e| {
        ServerError::Config(ConfigError::Parse {
            path: "watch_specs".into(),
            message: e.message,
        })
    })?;
    let opts = shelfready::watch::WatchOptions {
        inbox,
        out: app.config.watch_out.clone(),
        specs,
        limits: app.limits,
        settle: std::time::Duration::from_millis(app.config.watch_settle_ms),
        rescan: std::time::Duration::from_secs(5),
        once: false,
        fetch: shelfready::watch::FetchLimits {
            max_bytes: app.config.max_file_bytes,
            allow_private: app.config.allow_private_urls,
            ..Default::default()
        },
        routing: app.config.routing(),
        stalled: std::time::Duration::from_secs(app.config.watch_stalled_secs),
    };
    let app = app.clone();
    std::thread::Builder::new()
        .name("shelfready-watch".into())
        .spawn(move || {
            // On a shared database the drops go on the queue every worker takes from.
            let runs = if app.config.shared_database() {
                shelfready::watch::Runs::Queue(app.as_ref())
            } else {
                shelfready::watch::Runs::Here(&app.engine)
            };
            let watched = shelfready::watch::watch(
                &opts,
                app.store.as_ref(),
                runs,
                &app.stopping,
                app.as_ref(),
            );
            if let Err(e) = watched {
                tracing::error!("watching {} stopped: {e}", opts.inbox.display());
            }
        })
        .map_err(ServerError::Runtime)?;
    Ok(())
}

/// `shelfready watch` on the job store a configuration names: on a shared database its
/// drops go on the queue, made by `workers` queue workers in this process (by default one
/// per engine thread; 0 leaves them to `shelfready worker` processes) and by every other
/// worker on it; otherwise on this process's engine, as with the data folder alone.
fn watch_on(
    config: shelfready::server::ServeConfig,
    opts: &shelfready::watch::WatchOptions,
) -> Result<()> {
    let shared = config.shared_database();
    let app = shelfready::server::open(config)?;
    let runs = if shared {
        app.start_workers(app.workers())
            .map_err(ServerError::Runtime)?;
        shelfready::watch::Runs::Queue(app.as_ref())
    } else {
        shelfready::watch::Runs::Here(&app.engine)
    };
    let watched = shelfready::watch::watch(opts, app.store.as_ref(), runs, &CANCEL, &WatchLog);
    app.stop();
    Ok(watched?)
}

/// `shelfready watch` alone: a line on stderr per source and per note.
struct WatchLog;

impl Observer for WatchLog {
    fn source_done(&self, done: &SourceDone) {
        eprintln!("{}", done.line());
    }

    fn note(&self, line: &str) {
        eprintln!("{}", shelfready::naming::printable(line));
    }
}

/// `-spec amazon-main` would read as `-s pec amazon-main`: a long option given with one
/// dash is named, with the right spelling, instead of being taken apart.
fn single_dash_long_option(args: impl Iterator<Item = String>) -> Option<String> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut longs: Vec<String> = cmd
        .get_subcommands()
        .flat_map(|c| c.get_arguments().filter_map(|a| a.get_long()))
        .chain(["help", "version"])
        .map(str::to_owned)
        .collect();
    longs.sort();
    longs.dedup();
    for arg in args.take_while(|a| a != "--") {
        let Some(rest) = arg.strip_prefix('-').filter(|r| !r.starts_with('-')) else {
            continue;
        };
        let name = rest.split('=').next().unwrap_or_default();
        if name.len() > 1 && longs.iter().any(|l| l == name) {
            return Some(format!(
                "'{arg}' has one dash; write --{rest} (with one dash it reads as -{} {})",
                &name[..1],
                &rest[1..]
            ));
        }
    }
    None
}

/// The specs named on the command line, each once.
fn resolve_specs(names: &[String]) -> Result<Vec<Spec>, CliError> {
    let specs = names
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Spec::resolve(s.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids = std::collections::HashSet::new();
    if let Some(dup) = specs.iter().find(|s| !ids.insert(s.id.clone())) {
        return Err(CliError::Usage(format!("spec '{}' is given twice", dup.id)));
    }
    if specs.is_empty() {
        return Err(CliError::Usage(
            "no spec given: pass --spec with one or more ids (see `shelfready specs`)".into(),
        ));
    }
    Ok(specs)
}

/// The clock handoffs record: `SOURCE_DATE_EPOCH` (seconds) when set, for runs that must be
/// byte-identical manifests included; the system clock otherwise.
fn clock() -> Box<dyn Clock> {
    match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(Timestamp::from_unix)
    {
        Some(t) => Box::new(FixedClock(t)),
        None => Box::new(SystemClock),
    }
}

fn run_process(
    opts: &ProcessOptions,
    engine: &Engine,
    quiet: bool,
) -> Result<BatchManifest, CliError> {
    let tty = std::io::stderr().is_terminal() && !quiet;
    let bar = tty.then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let progress = Progress {
        bar,
        quiet,
        done: AtomicUsize::new(0),
    };
    let manifest = process(opts, engine, &progress)?;
    if let Some(b) = progress.bar {
        b.finish_and_clear();
    }
    Ok(manifest)
}

/// `shelfready process` on stderr: a progress bar on a terminal, else a line per source.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    done: AtomicUsize,
}

impl Observer for Progress {
    fn batch_started(&self, _batch: &str, sources: usize) {
        if let Some(b) = &self.bar {
            b.set_length(sources as u64);
        }
    }

    fn source_done(&self, d: &SourceDone) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(b) => {
                b.set_message(d.name.to_string());
                b.inc(1);
            }
            None if !self.quiet => eprintln!("[{n}] {}", d.line()),
            None => {}
        }
    }
}
