//! The crate's one error type. Variants carry no secret: a refused frame says which rule
//! refused it, never what the plaintext or a key was.

use thiserror::Error;

/// Why evidence was refused. Each rule of the verifier has its own variant, so a caller (and
/// a test) can tell which one failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The evidence does not decode, or a field has the wrong length or range.
    #[error("malformed evidence")]
    Malformed,
    /// The evidence is of a kind this verifier has no trust anchor for.
    #[error("evidence kind not trusted by this verifier")]
    UntrustedKind,
    /// The quote signature does not verify under the configured quoting key (hardware: the
    /// quote, the QE report or the collateral's signatures).
    #[error("evidence signature does not verify")]
    BadSignature,
    /// The policy lists allowed measurements and this one is not among them.
    #[error("enclave measurement not allowed by policy")]
    UnknownMeasurement,
    /// The enclave was signed by a signer the policy does not allow.
    #[error("enclave signer not allowed by policy")]
    WrongSigner,
    /// The signer is allowed but the product id is not.
    #[error("enclave product id not allowed by policy")]
    WrongProduct,
    /// The enclave's security version is below the policy's minimum.
    #[error("enclave security version below the policy minimum")]
    SecurityVersionTooOld,
    /// The evidence is older than the policy's maximum age.
    #[error("evidence is stale")]
    Stale,
    /// The evidence's timestamp is later than the verifier's clock allows.
    #[error("evidence timestamp is in the future")]
    FromTheFuture,
    /// The report data does not bind the expected key(s).
    #[error("evidence report data does not bind the expected key")]
    ReportDataMismatch,
    /// Hardware evidence: the collateral (TCB info, QE identity, a CRL) or a certificate of
    /// its chains is past its validity (`nextUpdate`, `notAfter`).
    #[error("attestation collateral expired")]
    CollateralExpired,
    /// Hardware evidence: the collateral or a certificate is not valid yet.
    #[error("attestation collateral not yet valid")]
    CollateralNotYetValid,
    /// Hardware evidence: the certificate chain does not lead to a pinned vendor root, or
    /// the endorsement key's certificate is for another chip or TCB.
    #[error("attestation certificate chain does not verify to a trusted root")]
    BadChain,
    /// Hardware evidence: a certificate of the chain is revoked, or Intel revoked the TCB.
    #[error("attestation certificate or TCB revoked")]
    Revoked,
    /// Hardware evidence: the platform's TCB is not up to date and the policy does not
    /// accept its status.
    #[error("platform TCB out of date")]
    TcbOutOfDate,
    /// Hardware evidence: debug mode, a migration agent, TD profiling or another unsafe
    /// attribute is enabled, or an SNP report came from below VMPL 0.
    #[error("enclave or guest runs with unsafe attributes (debug, migration)")]
    UnsafeAttributes,
    /// A TDX run-time measurement register differs from the policy's.
    #[error("TDX run-time measurement not allowed by policy")]
    WrongRuntimeMeasurement,
    /// The policy allows nothing (no rule was configured).
    #[error("verifier policy has no identity rule")]
    EmptyPolicy,
}

/// Errors of fog-attest.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer's evidence was refused.
    #[error("attestation refused: {0}")]
    Evidence(#[from] VerifyError),
    /// A Noise handshake message was malformed, out of order or failed to authenticate.
    #[error("handshake failed")]
    Handshake,
    /// The responder's handshake static key is not the one its evidence binds.
    #[error("handshake static key is not the key bound in the evidence")]
    BadRemoteIdentity,
    /// A frame names a channel this side does not hold (unknown, closed or evicted).
    #[error("unknown channel")]
    UnknownChannel,
    /// A frame carries a counter that was already used: a replay.
    #[error("replayed frame")]
    Replayed,
    /// A frame arrived ahead of one still missing: reordered or dropped frames.
    #[error("frame out of order")]
    Reordered,
    /// A frame failed authentication (tampered, wrong key or wrong associated data).
    #[error("frame failed authentication")]
    Decrypt,
    /// The session is older than its maximum age.
    #[error("session expired")]
    SessionExpired,
    /// The session was idle for longer than its idle timeout.
    #[error("session idle for too long")]
    SessionIdle,
    /// The sending counter reached its limit; a new session is needed.
    #[error("channel counter exhausted")]
    CounterExhausted,
    /// A protobuf message could not be decoded, or a field had the wrong length.
    #[error("malformed message")]
    Malformed,
    /// Key generation or the random source failed.
    #[error("key generation failed")]
    KeyGeneration,
    /// The certificate chain is empty, fails to parse, is not an Ed25519 chain, or a
    /// certificate is not signed by its issuer.
    #[error("certificate chain does not verify")]
    Chain,
    /// A certificate of the chain is outside its validity period.
    #[error("certificate chain not valid at this time")]
    ChainExpired,
    /// The recipient's address has no fog authority signature.
    #[error("address has no fog authority signature")]
    NoFogSignature,
    /// The address's fog authority signature is not over this chain's root key.
    #[error("chain root is not the address's fog authority")]
    Authority,
    /// The signature over the report list does not verify under the leaf key.
    #[error("report list signature does not verify")]
    ReportSignature,
    /// No report has the address's fog report id.
    #[error("no report with the address's fog report id")]
    NoMatchingReportId,
    /// The report's evidence carries no ingress key, or one that is not a Ristretto point.
    #[error("report does not carry a valid ingress key")]
    BadIngressKey,
    /// The ingress key's expiry block has been reached.
    #[error("ingress key expired")]
    KeyExpired,
    /// The evidence provider could not make evidence (configfs-tsm missing, a collateral
    /// file unreadable); the message says what and where.
    #[error("evidence provider: {0}")]
    Provider(String),
    /// Certificate creation failed (an encoding limit was hit).
    #[error("certificate encoding failed")]
    CertificateEncoding,
}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
