//! The thin SQL seam under the job store: a connection that executes statements and
//! returns rows of a few value types (integers, text, NULL), with transactions as plain
//! `BEGIN`/`COMMIT`. The job store ([`super::SqlStore`]) is written once over it; SQLite
//! (rusqlite) and PostgreSQL (the sync `postgres` client) are its two implementations.
//!
//! Statements are written once, in SQLite's spelling of placeholders (`?1`, `?2`); the
//! PostgreSQL connection rewrites them to `$1`, `$2`. What else differs between the two
//! databases is said by [`Dialect`], in one place: the migrations (schema.rs), JSON
//! access, the queue claim's row locking, NOTIFY, and whether the data folder is shared.

use std::time::Duration;

use super::StoreError;

mod postgres;
mod sqlite;

pub(crate) use self::postgres::{PgConn, PgTarget, PgWaiter};
pub(crate) use self::sqlite::{db_err, SqliteConn};

/// A statement's argument. Every argument carries its type, NULL included: PostgreSQL
/// checks each parameter's type against the one it inferred for the statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}

/// One value of a row as read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// A row: its values by column position.
#[derive(Debug, Clone)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// The value of column `i` as `T`; a column of another type is a database error (a
    /// statement and its reader disagree), never a panic.
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| StoreError::Database {
            error: format!("column {i} holds {v:?}, not a {}", T::NAME),
        })
    }
}

/// A Rust type a column can be read as.
pub(crate) trait FromValue: Sized {
    const NAME: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const NAME: &'static str = "integer";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for String {
    const NAME: &'static str = "text";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// Which database a connection speaks to: what the statements written once cannot say
/// the same way in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The text at `path` inside the JSON held (as text) in `column`.
    pub(crate) fn json_text(self, column: &str, path: &[&str]) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{}')", path.join(".")),
            Dialect::Postgres => {
                let (last, head) = path.split_last().map_or(("", &[][..]), |(l, h)| (*l, h));
                let mut e = format!("({column})::json");
                for p in head {
                    e.push_str(&format!(" -> '{p}'"));
                }
                format!("({e} ->> '{last}')")
            }
        }
    }

    /// What ends the queue claim's inner SELECT: on PostgreSQL the row it picks is locked
    /// and rows other claims hold locked are skipped, so concurrent claims each take a
    /// different source without waiting for one another. SQLite writes one at a time.
    pub(crate) fn claim_lock(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE OF a SKIP LOCKED",
        }
    }

    /// What ends a SELECT that reads a row to guard a write in the same transaction: on
    /// PostgreSQL the row stays locked until the transaction ends. SQLite's writer holds
    /// the whole database.
    pub(crate) fn row_lock(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE",
        }
    }

    /// Whether many processes share the data folder. With SQLite one process owns it (it
    /// holds the folder's lock); with PostgreSQL every worker and API node opens the same
    /// database and folder, and the database alone coordinates them.
    pub(crate) fn shared(self) -> bool {
        self == Dialect::Postgres
    }
}

/// A NOTIFY channel: listeners learn that work was queued, or that a source was done.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Channel {
    Work,
    Events,
}

impl Channel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Work => "shelfready_work",
            Channel::Events => "shelfready_events",
        }
    }
}

/// One connection to the database.
pub(crate) trait Conn: Send {
    fn dialect(&self) -> Dialect;

    /// Runs one statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError>;

    /// Runs one statement; returns its rows.
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError>;

    /// Runs several statements without arguments (migrations, BEGIN, COMMIT).
    fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError>;

    /// Tells listeners on `channel`, with `payload` (a batch id). SQLite has no listeners:
    /// nothing is sent.
    fn notify(&mut self, channel: Channel, payload: &str) -> Result<(), StoreError>;
}

impl dyn Conn + '_ {
    /// The first row, if any.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row's first column (a statement that always returns one row: a count).
    pub(crate) fn query_value<T: FromValue>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<T, StoreError> {
        match self.query_opt(sql, args)? {
            Some(row) => row.get(0),
            None => Err(StoreError::Database {
                error: "a statement that returns one row returned none".into(),
            }),
        }
    }

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled back if not.
    pub(crate) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.execute_batch("BEGIN")?;
        match f(self) {
            Ok(v) => {
                self.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                // The first error is the one to report; a failed rollback leaves the
                // transaction to end with the connection.
                let _ = self.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// What a waiter for queued work blocks on.
pub(crate) trait Waiter: Send + Sync {
    /// Waits up to `timeout` for work to be queued; true when told (it may be work another
    /// worker takes first: the caller claims and waits again).
    fn wait(&self, timeout: Duration) -> Result<bool, StoreError>;
}

/// SQLite has no one to tell it: a waiter sleeps the timeout and polls again.
pub(crate) struct Sleeper;

impl Waiter for Sleeper {
    fn wait(&self, timeout: Duration) -> Result<bool, StoreError> {
        std::thread::sleep(timeout);
        Ok(false)
    }
}
