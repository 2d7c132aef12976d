//! The conformance suite on every backend: one test per check per backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod memory {
    fog_recovery_db::conformance_tests!(crate::common::with_memory);
}

mod sqlite {
    fog_recovery_db::conformance_tests!(crate::common::with_sqlite);
}

mod postgres {
    fog_recovery_db::conformance_tests!(crate::common::with_postgres);
}

/// `run_all` works too (one fresh memory database per check).
#[tokio::test]
async fn run_all_on_memory() {
    fog_recovery_db::conformance::run_all(|| async { fog_recovery_db::MemoryRecoveryDb::new() })
        .await;
}
