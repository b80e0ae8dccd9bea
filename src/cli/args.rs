//! The command line's words: every subcommand, its flags and their help, as clap reads
//! them (`main` dispatches on them).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::CliError;
use crate::engine::Engine;
use crate::pipeline::Limits;

#[derive(Parser)]
#[command(
    name = "shelfready",
    version,
    about = "Makes product photos marketplace-ready: normalize, verify, hand off."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Normalize photos for one or more specs, verify every output and write manifests.
    ///
    /// Outputs go to <out>/<spec>/<sub-folders>/<name>.<ext>, keeping each photo's folders
    /// under the input. Re-runs keep unchanged outputs, and a name once given to a photo
    /// stays that photo's.
    ///
    /// Exit status: 0 every output ready, 2 some need review, 1 some failed, 64 wrong
    /// command line or spec, 66 an input does not exist, 74 output folder not writable, 75
    /// output folder in use by another run, 130 stopped by Ctrl-C (run the same command
    /// again to continue).
    Process(ProcessArgs),
    /// Check images made elsewhere against a spec's marketplace rules: nothing is changed or
    /// written. One line per file with the rules it breaks.
    ///
    /// Exit status: 0 every file keeps every rule, 2 some need review, 1 some break a rule,
    /// 64 wrong command line or spec, 66 an input does not exist.
    Check {
        #[command(flatten)]
        batch: Batch,
        /// Print every file's checks as JSON on stdout instead of the lines.
        #[arg(long)]
        json: bool,
    },
    /// Run the HTTP service: upload batches, follow them, download outputs and manifests.
    ///
    /// Listens on 127.0.0.1:8080 and keeps its data in ./shelfready-data unless told
    /// otherwise. The API is described at /v1/openapi.json. Config: flags > SHELFREADY_*
    /// environment > --config TOML file > defaults (assets/shelfready.sample.toml lists
    /// every key). SIGTERM or Ctrl-C stops it; unfinished batches resume at the next start.
    ///
    /// Exit status: 0 stopped, 64 wrong configuration, 75 address or data folder in use
    /// (a data folder has one owner), 74 data folder not writable.
    Serve {
        #[command(flatten)]
        args: crate::server::ServeArgs,
    },
    /// Work the queue of a job database shared with `serve` (--database-url
    /// postgres://...): take one photo at a time per worker, make it for its batch's
    /// specs, record the outputs, settle batches; until SIGTERM or Ctrl-C, which finish
    /// or give back the photos in flight. Takes the same config, flags and environment as
    /// `serve` (--listen and the upload limits are not used). Run as many as you have
    /// machines; `serve --workers 0` then only takes uploads and answers.
    ///
    /// Exit status: 0 stopped, 64 wrong configuration, 74 database or data folder not
    /// reachable, 75 a SQLite data folder in use (workers need a shared database).
    Worker {
        #[command(flatten)]
        args: crate::server::ServeArgs,
    },
    /// Turn a folder into an inbox: every folder dropped into it (and loose files) is made
    /// into conforming files in <out>/<drop>/, and each source is moved to
    /// <inbox>/archive/ (ready, needs review) or <inbox>/quarantine/ (failed) with its
    /// manifests beside it. A drop is taken once nothing in it has changed for the settle
    /// time. A `catalog.csv`, `catalog.xlsx` or `catalog.json` in a drop names each photo's
    /// product; a row may name an image URL, fetched within limits.
    ///
    /// Jobs are kept in the same SQLite store as `serve` (--data-dir): a watcher stopped
    /// mid-batch finishes it when started again. With --database-url on a shared
    /// PostgreSQL, each drop goes on its queue for any worker, and the results come back
    /// to the outbox and the archive once it settles. Ctrl-C or SIGTERM stops it.
    ///
    /// Exit status: 0 stopped, 64 wrong command line or spec, 66 no such inbox, 74 a folder
    /// not writable, 75 the inbox or the data folder in use by another process (`serve
    /// --watch` runs both in one).
    Watch(WatchArgs),
    /// The review checkpoint of an output folder: lists the outputs that wait for a person
    /// (overdue first, then oldest) with the question each asks, or records a decision on
    /// one: approve, reject with a note, retry with a change, or the next stage's receipt.
    /// Decisions are recorded in the output's manifest (who, when, the note) and the batch
    /// manifest follows. A batch folder of `serve` or `watch` is decided through their job
    /// store, so every door sees the decision; while a server holds that store, decide over
    /// its API instead (the error names the route).
    ///
    /// Exit codes: 0 done (or nothing waits), 2 a listing with outputs waiting, 64 usage,
    /// 66 no such folder or output, 75 the output is not waiting for that decision, or the
    /// folder or its job store is in use.
    Review(ReviewArgs),
    /// Export an output folder's ready and approved outputs as a marketplace's bulk tool
    /// imports them: amazon (image zips named <identifier>.MAIN.jpg, .PT01.jpg ...),
    /// shopify (product CSV), google (Merchant Center TSV), json or csv (records for any
    /// tool). Files go to <out>/<format>/, with export.json saying what went in and what
    /// was left out and why.
    ///
    /// Exit status: 0 every output of the format's specs went in, 2 some were left out
    /// (export.json says why), 64 wrong command line, 66 no such folder.
    Export(ExportArgs),
    /// List the built-in specs, or print one as TOML.
    Specs {
        /// A spec id or .toml path to print in full.
        id: Option<String>,
    },
    /// Print the JSON Schemas of the handoff and batch manifests (or write them to assets/schema/).
    Schema {
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

/// What `process` and `check` both take: the files, the specs, the threads and the limit.
#[derive(clap::Args)]
pub struct Batch {
    /// Image files or folders (folders are walked; only image extensions are taken).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Comma-separated spec ids or paths to spec .toml files.
    #[arg(
        long,
        short,
        env = "SHELFREADY_SPECS",
        value_delimiter = ',',
        default_value = "amazon-main"
    )]
    pub spec: Vec<String>,
    /// Worker threads (default, or 0: one per core).
    #[arg(long, short, env = "SHELFREADY_JOBS")]
    pub jobs: Option<usize>,
    /// Largest image in pixels (width x height) opened.
    #[arg(long, env = "SHELFREADY_MAX_PIXELS", default_value_t = Limits::default().max_pixels)]
    pub max_pixels: u64,
}

impl Batch {
    pub fn engine(&self) -> Result<Engine, CliError> {
        Ok(Engine::new(self.jobs.unwrap_or(0))?)
    }

    /// A flag may only tighten the safe default, never loosen it.
    pub fn limits(&self) -> Limits {
        Limits::default().tightened(Limits::default().with_max_pixels(self.max_pixels))
    }
}

/// `shelfready watch`'s flags (see [`Command::Watch`]).
#[derive(clap::Args)]
pub struct WatchArgs {
    /// The folder to watch.
    pub inbox: PathBuf,
    /// Comma-separated spec ids or paths to spec .toml files.
    #[arg(
        long,
        short,
        env = "SHELFREADY_SPECS",
        value_delimiter = ',',
        default_value = "amazon-main"
    )]
    pub spec: Vec<String>,
    /// Where outputs go, one folder per drop.
    #[arg(long, short, env = "SHELFREADY_OUT", default_value = "outbox")]
    pub out: PathBuf,
    /// The job store's folder.
    #[arg(long, env = "SHELFREADY_DATA_DIR", default_value = "shelfready-data")]
    pub data_dir: PathBuf,
    /// Milliseconds everything in a drop must stay unchanged before it is taken.
    #[arg(long, env = "SHELFREADY_SETTLE_MS", default_value_t = 2000)]
    pub settle_ms: u64,
    /// Milliseconds between scans when no file event comes (network shares miss them).
    #[arg(long, env = "SHELFREADY_RESCAN_MS", default_value_t = 5000)]
    pub rescan_ms: u64,
    /// Seconds a file that reads as cut off is held in the inbox, counted from its last
    /// write, as a copy that paused, before it goes to quarantine (not with --once).
    #[arg(long, env = "SHELFREADY_STALLED_SECS", default_value_t = 600)]
    pub stalled_secs: u64,
    /// Process what is in the inbox now, then stop.
    #[arg(long)]
    pub once: bool,
    /// Worker threads (default, or 0: one per core).
    #[arg(long, short, env = "SHELFREADY_JOBS")]
    pub jobs: Option<usize>,
    /// Let catalog rows name images on private, loopback or link-local addresses.
    #[arg(long, env = "SHELFREADY_ALLOW_PRIVATE_URLS")]
    pub allow_private_urls: bool,
    /// The job database, instead of the data folder's SQLite file: a postgres:// URL
    /// shared with `serve` and `worker` processes puts each drop on its queue.
    #[arg(long, env = "SHELFREADY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the batches' files are kept, as for `serve`: s3://bucket/prefix [default:
    /// the data folder]. On one machine a drop's files stay in --out all the same.
    #[arg(long, env = "SHELFREADY_STORE_URL")]
    pub store_url: Option<String>,
    /// Queue workers in this process, with a shared --database-url (default: one per
    /// engine thread; 0: the drops are left to `shelfready worker` processes).
    #[arg(long, env = "SHELFREADY_WORKERS")]
    pub workers: Option<usize>,
}

/// `shelfready review`'s flags (see [`Command::Review`]).
#[derive(clap::Args)]
pub struct ReviewArgs {
    /// An output folder of `shelfready process`, or a batch folder of `serve`
    /// (<data-dir>/batches/<id>) or `watch` (<outbox>/<drop>).
    pub out: PathBuf,
    /// Approve the output with this id (`<name>.<spec>`, as the listing shows).
    #[arg(long, value_name = "ID", group = "act")]
    pub approve: Option<String>,
    /// Reject the output with this id; --note says why.
    #[arg(long, value_name = "ID", group = "act")]
    pub reject: Option<String>,
    /// Make the output with this id again with a change (--fill, --align,
    /// --max-upscale, --treat-as, --enclosed).
    #[arg(long, value_name = "ID", group = "act")]
    pub retry: Option<String>,
    /// Record that the next stage received the output with this id.
    #[arg(long, value_name = "ID", group = "act")]
    pub received: Option<String>,
    /// Why (required to reject).
    #[arg(long)]
    pub note: Option<String>,
    /// Who decides, as recorded [default: $USER].
    #[arg(long, env = "SHELFREADY_REVIEWER")]
    pub reviewer: Option<String>,
    /// Retry: the share of the frame the product fills (0.05-1.0).
    #[arg(long, requires = "retry")]
    pub fill: Option<f64>,
    /// Retry: where the product sits vertically.
    #[arg(long, requires = "retry", value_parser = ["center", "bottom"])]
    pub align: Option<String>,
    /// Retry: the largest enlargement allowed (1-8).
    #[arg(long, requires = "retry")]
    pub max_upscale: Option<f64>,
    /// Retry: take the source as a cut-out or as a scene.
    #[arg(long, requires = "retry", value_parser = ["cutout", "scene"])]
    pub treat_as: Option<String>,
    /// Retry: areas inside the product in the backdrop's colour are the backdrop
    /// showing through (clear) or the product's own (keep).
    #[arg(long, requires = "retry", value_parser = ["clear", "keep"])]
    pub enclosed: Option<String>,
    /// The spec file the output was made with, when it is not a built-in.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Listing: only outputs routed to this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Listing: only outputs waiting because of this check (`fill_ratio`).
    #[arg(long)]
    pub check: Option<String>,
    /// Print JSON (the handoffs) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `shelfready process`'s flags (see [`Command::Process`]).
#[derive(clap::Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    pub batch: Batch,
    /// Output folder.
    #[arg(long, short, env = "SHELFREADY_OUT", default_value = "out")]
    pub out: PathBuf,
    /// Re-make outputs even when source and spec are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Print the batch manifest as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Also write a contact sheet: every output in the folder as a preview with its
    /// state, on one PNG.
    #[arg(long, value_name = "PNG")]
    pub contact_sheet: Option<PathBuf>,
}

/// `shelfready export`'s flags (see [`Command::Export`]).
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The output folder of `shelfready process`, or its manifest.json.
    pub input: PathBuf,
    /// What to write.
    #[arg(long, short, value_parser = ["amazon", "shopify", "google", "json", "csv"])]
    pub format: String,
    /// Where exports go: <out>/<format>/.
    #[arg(long, short, default_value = "exports")]
    pub out: PathBuf,
    /// Where the exported images will be hosted (shopify, google; optional for json and
    /// csv): image URLs are their paths under it.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// A product list (CSV, XLSX or JSON) with a sku column and identifier, title or
    /// alt_text columns: Amazon identifiers (ASIN, UPC, EAN, JAN, ISBN), Shopify titles.
    #[arg(long, value_name = "FILE")]
    pub identifiers: Option<PathBuf>,
    /// Only these specs' outputs [default: the specs whose next actor is this format].
    #[arg(long, value_delimiter = ',')]
    pub spec: Vec<String>,
    /// Amazon: start a new zip before one grows past this many MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub zip_max_mb: u64,
    /// Shopify: the older column names (Handle, Image Src, ...) instead of the current.
    #[arg(long)]
    pub shopify_legacy_columns: bool,
    /// Print export.json on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}
