//! Runners that give each conformance check a fresh database of one backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use fog_recovery_db::{MemoryRecoveryDb, PostgresRecoveryDb, SqliteRecoveryDb};

/// A fresh in-memory database.
pub async fn with_memory<F, Fut>(test: F)
where
    F: FnOnce(MemoryRecoveryDb) -> Fut,
    Fut: Future<Output = ()>,
{
    test(MemoryRecoveryDb::new()).await;
}

/// A fresh SQLite file in its own temporary directory (removed afterwards).
pub async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(SqliteRecoveryDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    test(db).await;
}

pub use fog_test_support::postgres::postgres_url;

fn unique_db_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "fogtest_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let config: tokio_postgres::Config = url
        .parse()
        .unwrap_or_else(|_| panic!("FOG_TEST_POSTGRES_URL is not a valid postgres URL"));
    let (client, conn) = match config.connect(tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => {
            panic!("FOG_TEST_POSTGRES_URL is set but the server is unreachable or refused us: {e}")
        }
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh database `fogtest_…` on the server of `FOG_TEST_POSTGRES_URL`, dropped afterwards,
/// also when the test fails (the test runs in its own task so its panic can be caught).
pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(PostgresRecoveryDb) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_postgres_config(|config| async move {
        let db = PostgresRecoveryDb::connect_with(config)
            .await
            .unwrap_or_else(|e| panic!("cannot open the test database: {e}"));
        test(db).await;
    })
    .await;
}

/// Like [`with_postgres`], but hands the test the connection settings of its fresh database.
pub async fn with_postgres_config<F, Fut>(test: F)
where
    F: FnOnce(tokio_postgres::Config) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = postgres_url() else {
        return;
    };
    let admin = admin_client(&url).await;
    let name = unique_db_name();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database: {e}"));
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.dbname(&name);
    let result = tokio::spawn(test(config)).await;
    drop_db(&admin, &name).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn drop_db(admin: &tokio_postgres::Client, name: &str) {
    if let Err(e) = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
    {
        eprintln!("could not drop test database {name}: {e}");
    }
}
