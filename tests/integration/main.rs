//! Integration tests: drive the real binary on real files, and the library on the fixtures.
//! One test binary (faster to link); modules by area.

mod bad_input;
mod browser;
mod catalogs;
mod checks;
mod cli;
mod cluster;
mod cluster_s3;
mod cluster_watch;
mod color;
mod doors;
mod export;
mod hostile;
mod job_store;
mod life;
mod limits;
mod objects;
mod pg;
mod pg_store;
mod review;
mod review_http;
mod rules;
mod s3;
mod seams;
mod seller;
mod serve_s3;
mod server;
mod store_contract;
mod util;
mod watch;
mod webhooks;
