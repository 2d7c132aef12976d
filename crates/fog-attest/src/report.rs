//! Fog ingest reports: their signed digest and the sender's validation.
//!
//! A report server answers with a [`wire::ReportResponse`]: the reports, the fog authority's
//! certificate chain (root first) and an Ed25519 signature by the leaf key over
//! [`report_list_digest`]. [`validate_report`] is the sender's side; it lives here, in a
//! crate the client may depend on, so `fog-client` never depends on a server crate.
//!
//! # Digest
//! `D = digest32("Fog ingest reports", reports)` with the digestible scheme of
//! `fog_crypto::digestible`: the list is a sequence; each element is the aggregate
//! `"Report"` with `fog_report_id` (str, never omitted), `report` (the evidence oneof,
//! transparent: Fog's `BoundEvidence` aggregate, see [`crate::evidence`]) and
//! `pubkey_expiry` (uint, 8 bytes). The leaf key signs the 32 bytes of `D` with plain
//! Ed25519. The digest is computed over the wire values as received, so a report the sender
//! cannot decode still counts in the signature.
//!
//! Trust side: client (validation) and host (signing). Nothing here is secret.

use crate::chain::verify_chain;
use crate::error::{Error, Result};
use crate::evidence::{BoundEvidence, UnixSeconds};
use crate::verifier::Verifier;
use crate::wire;
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use fog_account::PublicAddress;
use fog_crypto::digestible::{DigestTranscript, Digestible};
use fog_crypto::RistrettoPublic;

/// The digest context of a report list.
pub const REPORT_CONTEXT: &[u8] = b"Fog ingest reports";

/// One ingest report, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The id addresses select it by.
    pub fog_report_id: String,
    /// The ingest enclave's evidence; its custom identity is the ingress key.
    pub evidence: BoundEvidence,
    /// The first block index at which the ingress key may no longer be used.
    pub pubkey_expiry: u64,
}

impl Report {
    /// The wire form.
    pub fn to_wire(&self) -> wire::Report {
        wire::Report {
            fog_report_id: self.fog_report_id.clone(),
            attestation_evidence: Some(wire::report::AttestationEvidence::FogEvidence(
                self.evidence.to_wire(),
            )),
            pubkey_expiry: self.pubkey_expiry,
        }
    }

    /// From the wire form.
    pub fn from_wire(w: &wire::Report) -> Result<Self> {
        let evidence = match &w.attestation_evidence {
            Some(wire::report::AttestationEvidence::FogEvidence(b)) => BoundEvidence::from_wire(b)?,
            None => return Err(Error::Malformed),
        };
        Ok(Self {
            fog_report_id: w.fog_report_id.clone(),
            evidence,
            pubkey_expiry: w.pubkey_expiry,
        })
    }
}

impl Digestible for wire::Report {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"Report", |f| {
            f.str_never_omit(b"fog_report_id", &self.fog_report_id);
            match &self.attestation_evidence {
                Some(wire::report::AttestationEvidence::FogEvidence(b)) => {
                    f.field(b"report", b);
                }
                None => {}
            }
            f.u64(b"pubkey_expiry", self.pubkey_expiry);
        });
    }
}

/// The 32-byte digest the leaf key signs.
pub fn report_list_digest(reports: &[wire::Report]) -> [u8; 32] {
    let mut t = DigestTranscript::new();
    t.seq(REPORT_CONTEXT, reports);
    t.finalize()
}

/// Signs a report list with the leaf key, making a response with `chain` (DER, root first).
pub fn sign_reports(
    reports: &[Report],
    chain: Vec<Vec<u8>>,
    leaf_key: &SigningKey,
) -> wire::ReportResponse {
    let reports: Vec<wire::Report> = reports.iter().map(Report::to_wire).collect();
    let signature = leaf_key
        .sign(&report_list_digest(&reports))
        .to_bytes()
        .to_vec();
    wire::ReportResponse {
        reports,
        chain,
        signature,
    }
}

/// An ingress key that passed every check: the one to encrypt a fog hint to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatedFogPubkey {
    /// The ingest enclave's ingress public key.
    pub ingress_pubkey: RistrettoPublic,
    /// The first block index at which it may no longer be used; a transaction's tombstone
    /// block must be at most this.
    pub pubkey_expiry: u64,
}

/// The sender's checks, in order; the first failure is returned.
///
/// 1. `chain` verifies at `now` ([`Error::Chain`], [`Error::ChainExpired`]);
/// 2. the address's `fog_authority_sig` signs the root's SubjectPublicKeyInfo
///    ([`Error::NoFogSignature`], [`Error::Authority`]);
/// 3. `signature` verifies under the leaf key over the report-list digest
///    ([`Error::ReportSignature`]);
/// 4. a report has the address's `fog_report_id` ([`Error::NoMatchingReportId`]);
/// 5. its evidence decodes and passes `verifier` at `now`, binding its keys
///    ([`Error::Evidence`], [`Error::Malformed`]), and carries a valid ingress key
///    ([`Error::BadIngressKey`]);
/// 6. `block_count` (the number of blocks in the ledger: the next block's index) is below
///    `pubkey_expiry` ([`Error::KeyExpired`]).
pub fn validate_report(
    address: &PublicAddress,
    response: &wire::ReportResponse,
    verifier: &Verifier,
    now: UnixSeconds,
    block_count: u64,
) -> Result<ValidatedFogPubkey> {
    let chain = verify_chain(&response.chain, now)?;
    address
        .verify_fog_authority_sig(&chain.root_spki_der)
        .map_err(|e| match e {
            fog_account::AccountError::NoFogSignature => Error::NoFogSignature,
            _ => Error::Authority,
        })?;
    let sig = Signature::from_slice(&response.signature).map_err(|_| Error::ReportSignature)?;
    chain
        .leaf_key
        .verify_strict(&report_list_digest(&response.reports), &sig)
        .map_err(|_| Error::ReportSignature)?;
    let wire_report = response
        .reports
        .iter()
        .find(|r| r.fog_report_id == address.fog_report_id())
        .ok_or(Error::NoMatchingReportId)?;
    let report = Report::from_wire(wire_report)?;
    verifier.verify_bound(&report.evidence, now)?;
    let ingress = report
        .evidence
        .custom_identity
        .ok_or(Error::BadIngressKey)?;
    let ingress_pubkey = RistrettoPublic::from_bytes(&ingress).map_err(|_| Error::BadIngressKey)?;
    if block_count >= report.pubkey_expiry {
        return Err(Error::KeyExpired);
    }
    Ok(ValidatedFogPubkey {
        ingress_pubkey,
        pubkey_expiry: report.pubkey_expiry,
    })
}
