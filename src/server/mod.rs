//! `shelfready serve`: the HTTP door. Routes under /v1 (described at /v1/openapi.json),
//! jobs in the SQLite store, image work on the engine's threads: the routes add no image
//! logic of their own, they call the same per-source job as the command line.

mod app;
mod auth;
pub mod config;
mod download;
mod error;
mod events;
mod export;
mod files;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod listen;
mod meter;
mod metrics;
mod openapi;
mod pages;
mod receive;
mod review;
mod routes;
mod upload;
mod webhook;
mod worker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use thiserror::Error;

pub use app::App;
pub use config::{ConfigError, ServeArgs, ServeConfig};
pub use openapi::{document as openapi_document, served_routes};

use crate::engine::{Engine, EngineError};
use crate::handoff::ErrorCode;
use crate::spec::{Spec, SpecError};
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("cannot read the spec folder {path}: {error}")]
    SpecDir { path: String, error: std::io::Error },
    #[error("cannot listen on {listen}: {error}")]
    Listen {
        listen: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot start the server: {0}")]
    Runtime(std::io::Error),
}

impl ServerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServerError::Config(_) | ServerError::SpecDir { .. } => ErrorCode::UsageError,
            ServerError::Spec(e) => e.code(),
            ServerError::Store(e) => e.code(),
            ServerError::Listen { .. } => ErrorCode::StoreLocked,
            ServerError::Engine(_) | ServerError::Runtime(_) => ErrorCode::InternalError,
        }
    }
}

/// The routes. Every one but /healthz and /readyz needs the token when one is set.
pub fn router(app: Arc<App>) -> Router {
    let guarded = Router::new()
        .route(
            "/v1/batches",
            post(upload::create_batch)
                .layer(DefaultBodyLimit::disable())
                .get(routes::batch_list),
        )
        .route(
            "/v1/batches/{id}",
            get(routes::batch_status).delete(routes::batch_delete),
        )
        .route("/v1/batches/{id}/events", get(events::batch_events))
        .route("/v1/batches/{id}/manifest", get(routes::batch_manifest))
        .route("/v1/batches/{id}/download", get(download::batch_download))
        .route(
            "/v1/batches/{id}/contact-sheet.png",
            get(routes::batch_contact_sheet),
        )
        .route("/v1/batches/{id}/export", get(export::batch_export))
        .route("/v1/batches/{id}/deliveries", get(routes::batch_deliveries))
        .route("/v1/assets/{id}", get(routes::asset))
        .route("/v1/assets/{id}/file", get(routes::asset_file))
        .route("/v1/assets/{id}/source", get(routes::asset_source))
        .route("/v1/assets/{id}/thumb", get(routes::asset_thumb))
        .route("/v1/assets/{id}/review", post(review::decide))
        .route("/v1/assets/{id}/receipt", post(review::receipt))
        .route("/v1/review", get(review::queue))
        .route("/v1/specs", get(routes::specs))
        .route("/v1/specs/{id}", get(routes::spec))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/metrics", get(routes::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/review", get(pages::review))
        .route("/batches/{id}", get(pages::batch))
        .route("/web/{file}", get(pages::file))
        .route("/readyz", get(routes::readyz))
        .method_not_allowed_fallback(method_not_allowed)
        .merge(guarded)
        .fallback(|| async {
            error::ApiError::new(
                ErrorCode::NotFound,
                "no such route; GET /v1/openapi.json lists them",
            )
        })
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            Duration::from_secs(app.config.body_timeout_secs),
        ))
        .with_state(app)
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::new(
        ErrorCode::UsageError,
        "this route does not take that method; GET /v1/openapi.json lists them",
    )
}

/// The specs in the server's spec folder, by id.
fn load_spec_dir(config: &ServeConfig) -> Result<BTreeMap<String, Spec>, ServerError> {
    let Some(dir) = &config.spec_dir else {
        return Ok(BTreeMap::new());
    };
    let err = |error| ServerError::SpecDir {
        path: dir.display().to_string(),
        error,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(err)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let mut specs = BTreeMap::new();
    for p in paths {
        let s = Spec::from_file(&p)?;
        specs.insert(s.id.clone(), s);
    }
    Ok(specs)
}

/// The job store a configuration names: the SQLite file in the data folder unless a
/// database URL says otherwise, its files in the data folder unless a store URL does.
fn open_store(config: &ServeConfig) -> Result<Arc<dyn crate::store::JobStore>, ServerError> {
    Ok(crate::store::open_job_store_with(
        config.database_url.as_deref(),
        config.store_url.as_deref(),
        &config.data_dir,
    )?)
}

/// Runs the server until SIGTERM or Ctrl-C. `on_listening` gets the bound address (port
/// 0 picks a free one); `beside` starts what runs beside the server over its store and
/// engine (the watched inbox of `serve --watch`), once the server has resumed its batches.
///
/// The job store blocks (PostgreSQL's client runs a runtime of its own), so it is opened,
/// used at start and dropped outside the async runtime; routes reach it on blocking
/// threads.
pub fn serve(
    config: ServeConfig,
    on_listening: impl FnOnce(SocketAddr),
    beside: impl FnOnce(&Arc<App>) -> Result<(), ServerError>,
) -> Result<(), ServerError> {
    let app = open(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shelfready-http")
        .build()
        .map_err(ServerError::Runtime)?;
    let listen = app.config.listen;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|error| ServerError::Listen { listen, error })?;
    let local = listener
        .local_addr()
        .map_err(|error| ServerError::Listen { listen, error })?;
    let resumed = app.recover()?;
    if resumed > 0 {
        tracing::warn!(photos = resumed, "resuming the batches a stop interrupted");
    }
    app.start_workers(app.workers())
        .map_err(ServerError::Runtime)?;
    beside(&app)?;
    webhook::start(app.clone());
    let stop = shutdown_signal(&runtime);
    on_listening(local);
    let limits = listen::ConnectionLimits {
        max_connections: app.config.max_connections,
        header_timeout: Duration::from_secs(app.config.header_timeout_secs),
    };
    let app2 = app.clone();
    runtime.block_on(async move {
        listen::serve(listener, router(app2.clone()), limits, async move {
            stop.await;
            // No new uploads; queued photos stay queued in the database for the next
            // start; photos in flight stop between stages.
            app2.stopping.store(true, Ordering::SeqCst);
        })
        .await;
    });
    drop(runtime);
    wait_for_running(&app);
    Ok(())
}

/// Runs queue workers only, on the job store `config` names, until SIGTERM or Ctrl-C:
/// `shelfready worker`. `on_started` gets the number of workers.
pub fn work(config: ServeConfig, on_started: impl FnOnce(usize)) -> Result<(), ServerError> {
    let app = open(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let workers = app.workers().max(1);
    app.start_workers(workers).map_err(ServerError::Runtime)?;
    let stop = shutdown_signal(&runtime);
    on_started(workers);
    runtime.block_on(stop);
    // Sources in flight stop between stages and go back to the queue.
    app.stopping.store(true, Ordering::SeqCst);
    wait_for_running(&app);
    Ok(())
}

/// The parts of a process on the job store `config` names, with nothing started: for a
/// door run beside the queue (`shelfready watch --database-url`), which starts the
/// workers it wants ([`App::start_workers`]) and ends with [`App::stop`].
pub fn open(config: ServeConfig) -> Result<Arc<App>, ServerError> {
    let extra_specs = load_spec_dir(&config)?;
    let store = open_store(&config)?;
    let engine = Engine::new(config.jobs)?;
    Ok(App::new(config, store, engine, extra_specs))
}

impl App {
    /// The queue workers this process runs: `workers` as configured, by default one per
    /// engine thread.
    pub fn workers(&self) -> usize {
        self.config.workers.unwrap_or(self.engine.threads())
    }

    /// Stops this process's workers: sources in flight stop between stages and go back
    /// to the queue.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        wait_for_running(self);
    }
}

/// Sources in flight check the stop between stages; gives them time to stop.
fn wait_for_running(app: &App) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.running() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM or Ctrl-C, listened for from the moment this returns: it is called before the
/// process says it has started, so that a signal sent as soon as it has is a clean stop,
/// not the default action that ends the process before anything is checkpointed.
fn shutdown_signal(runtime: &tokio::runtime::Runtime) -> impl std::future::Future<Output = ()> {
    let _context = runtime.enter();
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        tokio::select! {
            _ = received(&mut interrupt) => {},
            _ = received(&mut terminate) => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!(
            "stopping: no new work is taken; work in flight is checkpointed for the next start"
        );
    }
}

/// The next signal of `stream`; never, if it could not be listened for.
#[cfg(unix)]
async fn received(stream: &mut Option<tokio::signal::unix::Signal>) {
    match stream {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
