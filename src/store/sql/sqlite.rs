//! The SQL seam over rusqlite: the embedded database of `serve` and `watch`.

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::{Arg, Channel, Conn, Dialect, Row, Value};
use crate::store::StoreError;

pub(crate) struct SqliteConn(pub(crate) Connection);

pub(crate) fn db_err(error: rusqlite::Error) -> StoreError {
    StoreError::Database {
        error: error.to_string(),
    }
}

fn bind(args: &[Arg<'_>]) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    args.iter()
        .map(|a| match *a {
            Arg::Int(Some(i)) => V::Integer(i),
            Arg::Text(Some(s)) => V::Text(s.to_string()),
            Arg::Int(None) | Arg::Text(None) => V::Null,
        })
        .collect()
}

fn value(v: ValueRef<'_>) -> Result<Value, StoreError> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        // The schema holds only integers and text; anything else is not ours.
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            return Err(StoreError::Database {
                error: "a column holds a value of a type the store never writes".into(),
            })
        }
    })
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError> {
        self.0
            .execute(sql, rusqlite::params_from_iter(bind(args)))
            .map_err(db_err)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let mut q = self.0.prepare_cached(sql).map_err(db_err)?;
        let n = q.column_count();
        let mut rows = q
            .query(rusqlite::params_from_iter(bind(args)))
            .map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db_err)? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(value(r.get_ref(i).map_err(db_err)?)?);
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(db_err)
    }

    fn notify(&mut self, _channel: Channel, _payload: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
