//! Postgres only: the fault hook shows `add_block_data` is one transaction; migrations are
//! idempotent and bring older databases up to date; an unreachable server fails loudly and
//! retryably.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use fog_recovery_db::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_hook_rolls_back() {
    common::with_postgres(|db| async move {
        conformance::failed_block_write_leaves_nothing(&db, |d| {
            d.inject_fault_in_next_block_write()
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_concurrent() {
    use fog_recovery_db::{BlockIndex, PostgresRecoveryDb, RecoveryDb};
    common::with_postgres_config(|config| async move {
        // Two services starting at once on an empty database.
        let (a, b) = tokio::join!(
            PostgresRecoveryDb::connect_with(config.clone()),
            PostgresRecoveryDb::connect_with(config.clone())
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        a.new_ingress_key(&conformance::test_key(1), BlockIndex(3))
            .await
            .unwrap();
        drop((a, b));
        let c = PostgresRecoveryDb::connect_with(config).await.unwrap();
        let st = c
            .get_ingress_key_status(&conformance::test_key(1))
            .await
            .unwrap();
        assert_eq!(st.unwrap().start_block, BlockIndex(3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_schema_gains_the_span_index() {
    use fog_recovery_db::PostgresRecoveryDb;
    common::with_postgres_config(|config| async move {
        drop(
            PostgresRecoveryDb::connect_with(config.clone())
                .await
                .unwrap(),
        );
        let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let index_count =
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'ingested_blocks_by_id_block'";
        // Back to a version 2 database, as written before the index existed.
        client
            .batch_execute(
                "DROP INDEX ingested_blocks_by_id_block;
                 DELETE FROM fog_schema_version WHERE version = 3;",
            )
            .await
            .unwrap();
        let count: i64 = client.query_one(index_count, &[]).await.unwrap().get(0);
        assert_eq!(count, 0);
        drop(PostgresRecoveryDb::connect_with(config).await.unwrap());
        let count: i64 = client.query_one(index_count, &[]).await.unwrap().get(0);
        assert_eq!(count, 1, "connecting migrates to version 3");
    })
    .await;
}

#[tokio::test]
async fn unreachable_server_is_a_retryable_error() {
    // A port nothing listens on.
    let err = fog_recovery_db::open("postgres://nobody:secret-pw@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(err.should_retry(), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("secret-pw"), "{shown}");
}
