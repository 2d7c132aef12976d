//! The one error type of the crate.

use thiserror::Error;

/// What went wrong in a recovery database call. [`should_retry`](Self::should_retry) says
/// whether the same call may succeed later. No variant carries a database URL or credential.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecoveryDbError {
    // Caller misuse or bad input: retrying cannot help.
    /// An argument was out of range or malformed.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// A `fog_report_id` longer than 64 characters.
    #[error("fog_report_id is {0} characters long; at most 64 are allowed")]
    ReportIdTooLong(usize),
    /// `new_ingress_key` for a key already in the database.
    #[error("the ingress key is already registered")]
    DuplicateIngressKey,
    /// The ingress key is not in the database.
    #[error("unknown ingress key")]
    UnknownIngressKey,
    /// The ingress key was reported lost: nobody may scan with it again.
    #[error("the ingress key was reported lost")]
    IngressKeyLost,
    /// The ingest invocation is not in the database.
    #[error("unknown ingest invocation {0}")]
    UnknownIngestInvocation(i64),
    /// `add_block_data` for an invocation that was decommissioned: clients stopped drawing
    /// from its RNG after its last block, so nothing more may be written under it.
    #[error("ingest invocation {0} is decommissioned")]
    InvocationDecommissioned(i64),
    /// `new_ingest_invocation` with an egress key already used by another invocation.
    #[error("the egress public key is already used by another invocation")]
    DuplicateEgressKey,
    /// The database URL names no backend we know (the URL itself is not repeated here).
    #[error("unsupported recovery database URL: {0}")]
    BadUrl(&'static str),

    // The stored data or schema.
    /// A stored value could not be decoded.
    #[error("corrupt recovery database: {0}")]
    Corrupt(&'static str),
    /// The database's schema is newer than this program knows.
    #[error("the database schema is at version {found}; this program knows up to {known}")]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this program knows.
        known: i64,
    },

    // The backends.
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Postgres failed (the error names no host, user or password).
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection became free in time.
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    /// A blocking database task died (a bug or a panic inside the backend).
    #[error("a database worker task failed")]
    TaskFailed,
    /// A fault injected by a test.
    #[error("injected fault")]
    InjectedFault,
}

impl RecoveryDbError {
    /// True if the same call may succeed when retried: the connection was lost, the database
    /// was busy or locked, or a transaction lost a serialization race. False for bad input,
    /// constraint violations, corrupt data and bugs.
    pub fn should_retry(&self) -> bool {
        match self {
            RecoveryDbError::Sqlite(e) => sqlite_should_retry(e),
            RecoveryDbError::Postgres(e) => postgres_should_retry(e),
            RecoveryDbError::PoolTimeout => true,
            _ => false,
        }
    }
}

fn sqlite_should_retry(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::SystemIoFailure
        ),
        _ => false,
    }
}

fn postgres_should_retry(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        // Class 08: connection exception; 40001 serialization failure; 40P01 deadlock;
        // 53300 too many connections; 57P01..57P03 shutdown / cannot connect now.
        return c.starts_with("08")
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW;
    }
    // No SQLSTATE: an I/O error or a timeout talking to the server is worth a retry; a
    // conversion error on our side is not.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}
