//! The SQL seam over PostgreSQL, with the sync `postgres` client. Its `Client` runs a
//! small tokio runtime of its own and blocks on it: it must only be called from threads
//! that are not running async code (rayon's, `spawn_blocking`'s, plain threads); called
//! from an async fn it panics.
//!
//! No TLS yet: a URL that requires it (`sslmode=require`) is refused at connect with the
//! reason. The password is never part of an error or a log line.

use std::sync::Mutex;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls};

use super::{Arg, Channel, Conn, Dialect, Row, Value, Waiter};
use crate::store::StoreError;

/// Where a database is, as errors and logs may name it: hosts and ports, database and
/// user, never the password.
#[derive(Clone)]
pub(crate) struct PgTarget {
    config: Config,
}

impl std::fmt::Display for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        let ports = c.get_ports();
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    postgres::config::Host::Tcp(h) => h.clone(),
                    postgres::config::Host::Unix(p) => p.display().to_string(),
                };
                // One port for all hosts, one per host, or none (the default, 5432).
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                format!("{host}:{port}")
            })
            .collect();
        let hosts = if hosts.is_empty() {
            "the default host".to_string()
        } else {
            hosts.join(",")
        };
        write!(f, "PostgreSQL at {hosts}")?;
        if let Some(db) = c.get_dbname() {
            write!(f, ", database {db}")?;
        }
        if let Some(user) = c.get_user() {
            write!(f, ", user {user}")?;
        }
        Ok(())
    }
}

impl PgTarget {
    /// Reads a `postgres://` or `postgresql://` URL. The parser's message never repeats
    /// the URL, so it cannot show the password.
    pub(crate) fn parse(url: &str) -> Result<PgTarget, StoreError> {
        let mut config: Config = url.parse().map_err(|e| StoreError::BadDatabaseUrl {
            error: format!("not a PostgreSQL URL shelfready can read: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            // An address that drops packets must not hang the start.
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("shelfready");
        }
        // The server's notices ("relation ... already exists, skipping" from the
        // migrations' IF NOT EXISTS) are not news to an operator.
        config.notice_callback(|n| tracing::debug!("PostgreSQL: {}", n.message()));
        Ok(PgTarget { config })
    }

    /// A new connection, or why there is none (the target named, the cause given).
    pub(crate) fn connect(&self) -> Result<Client, StoreError> {
        self.config
            .connect(NoTls)
            .map_err(|e| StoreError::Unreachable {
                target: self.to_string(),
                error: cause(&e),
            })
    }
}

/// An error's whole chain in one line: the client's own text ("error connecting to
/// server") and what caused it ("Connection refused", the server's message).
fn cause(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(&format!(": {text}"));
        }
        source = inner.source();
    }
    s
}

fn db_err(e: postgres::Error) -> StoreError {
    StoreError::Database { error: cause(&e) }
}

/// `?1` (the statements' spelling) as `$1`; quoted text is left as it is.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn bind<'a>(args: &'a [Arg<'a>]) -> Vec<Box<dyn ToSql + Sync + 'a>> {
    args.iter()
        .map(|a| -> Box<dyn ToSql + Sync + 'a> {
            match *a {
                Arg::Int(v) => Box::new(v),
                Arg::Text(v) => Box::new(v),
            }
        })
        .collect()
}

fn row(r: &postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let t = col.type_();
        let v = if *t == Type::INT8 {
            r.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int))
        } else if *t == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| Value::Int(v.into())))
        } else if *t == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|v| Value::Int(v.into())))
        } else if *t == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)
                .map(|v| v.map(|v| Value::Int(v.into())))
        } else {
            // TEXT, VARCHAR, NAME and the like; anything else is refused by try_get.
            r.try_get::<_, Option<String>>(i)
                .map(|v| v.map(Value::Text))
        };
        values.push(v.map_err(db_err)?.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

/// One connection, made again when the server closed it (a restart, an idle cut).
pub(crate) struct PgConn {
    target: PgTarget,
    client: Client,
}

impl PgConn {
    pub(crate) fn open(target: &PgTarget) -> Result<PgConn, StoreError> {
        Ok(PgConn {
            client: target.connect()?,
            target: target.clone(),
        })
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.is_closed() {
            tracing::warn!(database = %self.target, "the database connection closed; connecting again");
            self.client = self.target.connect()?;
        }
        Ok(&mut self.client)
    }
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError> {
        let sql = placeholders(sql);
        let boxed = bind(args);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| &**b as _).collect();
        let n = self.client()?.execute(&sql, &refs).map_err(db_err)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let sql = placeholders(sql);
        let boxed = bind(args);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| &**b as _).collect();
        let rows = self.client()?.query(&sql, &refs).map_err(db_err)?;
        rows.iter().map(row).collect()
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client()?.batch_execute(sql).map_err(db_err)
    }

    fn notify(&mut self, channel: Channel, payload: &str) -> Result<(), StoreError> {
        // pg_notify, not NOTIFY: NOTIFY takes no parameters. Sent when the statement's
        // transaction commits.
        self.execute(
            &format!("SELECT pg_notify('{}', ?1)", channel.name()),
            &[payload.into()],
        )
        .map(drop)
    }
}

/// A waiter for queued work: a connection of its own that LISTENs on the work channel,
/// made at the first wait and kept (notifications sent between two waits are kept by the
/// connection and wake the next wait at once).
pub(crate) struct PgWaiter {
    target: PgTarget,
    listener: Mutex<Option<Client>>,
}

impl PgWaiter {
    pub(crate) fn new(target: &PgTarget) -> PgWaiter {
        PgWaiter {
            target: target.clone(),
            listener: Mutex::new(None),
        }
    }
}

impl Waiter for PgWaiter {
    fn wait(&self, timeout: Duration) -> Result<bool, StoreError> {
        // One waiter at a time per store handle; another waits its turn here.
        let mut slot = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        let client = match slot.as_mut() {
            Some(c) if !c.is_closed() => c,
            _ => {
                let mut c = self.target.connect()?;
                c.batch_execute(&format!("LISTEN {}", Channel::Work.name()))
                    .map_err(db_err)?;
                slot.insert(c)
            }
        };
        let told = client
            .notifications()
            .timeout_iter(timeout)
            .next()
            .map_err(db_err);
        let told = match told {
            Ok(t) => t.is_some(),
            Err(e) => {
                *slot = None;
                return Err(e);
            }
        };
        if told {
            // One wake for everything queued so far: the caller claims until empty.
            let mut pending = client.notifications();
            let mut rest = pending.iter();
            while let Ok(Some(_)) = rest.next() {}
        } else if client.is_closed() {
            *slot = None;
        }
        Ok(told)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quoted_text() {
        assert_eq!(
            placeholders("SELECT '?1', a FROM t WHERE b = ?1 AND c = ?12 AND d = '?'"),
            "SELECT '?1', a FROM t WHERE b = $1 AND c = $12 AND d = '?'"
        );
    }

    #[test]
    fn a_target_names_hosts_ports_database_and_user_never_the_password() {
        let t = PgTarget::parse("postgres://shelf:s3cret@db.example:6543/jobs").unwrap();
        let text = t.to_string();
        assert_eq!(
            text,
            "PostgreSQL at db.example:6543, database jobs, user shelf"
        );
        assert!(!text.contains("s3cret"));
    }

    #[test]
    fn a_url_that_is_not_one_is_refused_without_repeating_it() {
        let e = PgTarget::parse("postgres://u:s3cret@host:notaport/db")
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(e.contains("PostgreSQL URL"), "{e}");
    }
}
