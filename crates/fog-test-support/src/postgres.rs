//! A fresh Postgres database for a test, on the server of `FOG_TEST_POSTGRES_URL`.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// The server URL from `FOG_TEST_POSTGRES_URL`, or `None` when the developer opted out with
/// `FOG_SKIP_POSTGRES=1` (said on stderr). Panics, failing the test, when it is unset
/// without the opt-out.
pub fn postgres_url() -> Option<String> {
    match std::env::var("FOG_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("FOG_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!(
                "SKIPPING this Postgres test: FOG_SKIP_POSTGRES=1 is set and \
                 FOG_TEST_POSTGRES_URL is not"
            );
            None
        }
        _ => panic!(
            "FOG_TEST_POSTGRES_URL is not set: set it to a server where this user may create \
             databases (e.g. postgres://postgres@127.0.0.1:5432/test), or set \
             FOG_SKIP_POSTGRES=1 to skip the Postgres tests on purpose"
        ),
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Runs `f` with a client on `url`, on a runtime of its own in a thread of its own (so it
/// works from sync tests and from drops inside a runtime alike).
fn with_client(url: String, sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let config: tokio_postgres::Config = url
                .parse()
                .map_err(|_| "not a valid postgres URL".to_string())?;
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("the server is unreachable or refused us: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            client.batch_execute(&sql).await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the Postgres thread panicked".to_string())?
}

/// A new, empty database, dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TempDatabase {
    /// Creates `fogtest_…` on the server of [`postgres_url`]; `None` when Postgres tests are
    /// skipped on purpose. Panics when the server cannot be reached.
    pub fn create() -> Option<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let admin_url = postgres_url()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "fogtest_{}_{nanos}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = with_client(admin_url.clone(), format!("CREATE DATABASE {name}")) {
            panic!("FOG_TEST_POSTGRES_URL: cannot create a test database: {e}");
        }
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// The new database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = with_client(self.admin_url.clone(), sql) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
