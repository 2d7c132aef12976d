//! The fog authority's X.509 chain: root → intermediate(s) → leaf, Ed25519 keys only.
//!
//! [`verify_chain`] is what a sender runs on a report response's `chain`: each certificate
//! parses (strict DER), uses Ed25519, names its issuer as the previous certificate's subject,
//! is signed by the previous certificate's key (the root by its own), is valid at the time
//! passed in, and every certificate but the leaf is a CA (basic constraints). It returns the
//! root's SubjectPublicKeyInfo DER — the bytes a fog address's authority signature covers —
//! and the leaf's key, which signs report lists.
//!
//! [`issue`] builds such certificates (the report server's authority tooling uses it).
//! Signatures are checked with `ed25519-dalek`'s strict verification over the re-encoded
//! TBS bytes; strict DER decoding makes that re-encoding the received bytes.
//!
//! Trust side: client and host. Parsing is total: bad input is [`Error::Chain`].

use crate::error::{Error, Result};
use crate::evidence::UnixSeconds;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use std::str::FromStr;
use std::time::Duration;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::der::asn1::{BitString, GeneralizedTime, OctetString, UtcTime};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

/// The Ed25519 algorithm identifier (RFC 8410).
pub const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The most certificates a chain may have.
pub const MAX_CHAIN_LEN: usize = 8;

fn ed25519_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ED25519_OID,
        parameters: None,
    }
}

/// The DER SubjectPublicKeyInfo of an Ed25519 public key (44 bytes).
pub fn ed25519_spki_der(key: &VerifyingKey) -> Result<Vec<u8>> {
    spki_of(key)?
        .to_der()
        .map_err(|_| Error::CertificateEncoding)
}

fn spki_of(key: &VerifyingKey) -> Result<SubjectPublicKeyInfoOwned> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: ed25519_alg(),
        subject_public_key: BitString::from_bytes(key.as_bytes())
            .map_err(|_| Error::CertificateEncoding)?,
    })
}

fn x509_time(t: UnixSeconds) -> Result<Time> {
    let d = Duration::from_secs(t.0);
    // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    if t.0 < 2_524_608_000 {
        UtcTime::from_unix_duration(d)
            .map(Time::UtcTime)
            .map_err(|_| Error::CertificateEncoding)
    } else {
        GeneralizedTime::from_unix_duration(d)
            .map(Time::GeneralTime)
            .map_err(|_| Error::CertificateEncoding)
    }
}

/// What to put in one certificate.
#[derive(Debug, Clone)]
pub struct CertParams<'a> {
    /// The subject, as an RFC 4514 string (`"CN=Fog root,O=Example"`).
    pub subject: &'a str,
    /// The serial number (positive, big-endian, at most 20 bytes).
    pub serial: &'a [u8],
    /// Valid from.
    pub not_before: UnixSeconds,
    /// Valid until.
    pub not_after: UnixSeconds,
    /// Whether this certificate may sign others.
    pub is_ca: bool,
}

/// Issues a certificate for `subject_key`, signed by `issuer_key` on behalf of
/// `issuer_name` (for a root, pass its own key and subject). Returns DER.
pub fn issue(
    params: &CertParams<'_>,
    subject_key: &VerifyingKey,
    issuer_name: &str,
    issuer_key: &SigningKey,
) -> Result<Vec<u8>> {
    let bc = BasicConstraints {
        ca: params.is_ca,
        path_len_constraint: None,
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(params.serial).map_err(|_| Error::CertificateEncoding)?,
        signature: ed25519_alg(),
        issuer: Name::from_str(issuer_name).map_err(|_| Error::CertificateEncoding)?,
        validity: Validity {
            not_before: x509_time(params.not_before)?,
            not_after: x509_time(params.not_after)?,
        },
        subject: Name::from_str(params.subject).map_err(|_| Error::CertificateEncoding)?,
        subject_public_key_info: spki_of(subject_key)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![Extension {
            extn_id: BasicConstraints::OID,
            critical: true,
            extn_value: OctetString::new(bc.to_der().map_err(|_| Error::CertificateEncoding)?)
                .map_err(|_| Error::CertificateEncoding)?,
        }]),
    };
    let tbs_der = tbs.to_der().map_err(|_| Error::CertificateEncoding)?;
    let sig = issuer_key.sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ed25519_alg(),
        signature: BitString::from_bytes(&sig.to_bytes())
            .map_err(|_| Error::CertificateEncoding)?,
    };
    cert.to_der().map_err(|_| Error::CertificateEncoding)
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The root certificate's SubjectPublicKeyInfo, DER, as received.
    pub root_spki_der: Vec<u8>,
    /// The leaf certificate's key.
    pub leaf_key: VerifyingKey,
}

fn ed25519_key(spki: &SubjectPublicKeyInfoOwned) -> Result<VerifyingKey> {
    if spki.algorithm.oid != ED25519_OID || spki.algorithm.parameters.is_some() {
        return Err(Error::Chain);
    }
    let bytes = spki.subject_public_key.as_bytes().ok_or(Error::Chain)?;
    let arr = <[u8; 32]>::try_from(bytes).map_err(|_| Error::Chain)?;
    VerifyingKey::from_bytes(&arr).map_err(|_| Error::Chain)
}

fn check_signed_by(cert: &Certificate, key: &VerifyingKey) -> Result<()> {
    if cert.signature_algorithm.oid != ED25519_OID
        || cert.signature_algorithm.parameters.is_some()
        || cert.tbs_certificate.signature != cert.signature_algorithm
    {
        return Err(Error::Chain);
    }
    let sig_bytes = cert.signature.as_bytes().ok_or(Error::Chain)?;
    let sig = Signature::from_slice(sig_bytes).map_err(|_| Error::Chain)?;
    let tbs = cert.tbs_certificate.to_der().map_err(|_| Error::Chain)?;
    key.verify_strict(&tbs, &sig).map_err(|_| Error::Chain)
}

fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate.get::<BasicConstraints>(),
        Ok(Some((_, BasicConstraints { ca: true, .. })))
    )
}

/// Verifies a chain given root first (DER certificates) at time `now`.
pub fn verify_chain(chain: &[Vec<u8>], now: UnixSeconds) -> Result<VerifiedChain> {
    if chain.is_empty() || chain.len() > MAX_CHAIN_LEN {
        return Err(Error::Chain);
    }
    let certs = chain
        .iter()
        .map(|der| Certificate::from_der(der).map_err(|_| Error::Chain))
        .collect::<Result<Vec<_>>>()?;
    let mut issuer_key: Option<VerifyingKey> = None;
    let mut issuer_name: Option<&Name> = None;
    let last = certs.len() - 1;
    let mut expired = false;
    for (i, cert) in certs.iter().enumerate() {
        let tbs = &cert.tbs_certificate;
        let key = ed25519_key(&tbs.subject_public_key_info)?;
        let (signer, expected_issuer) = match (issuer_key, issuer_name) {
            (Some(k), Some(n)) => (k, n),
            _ => (key, &tbs.subject),
        };
        if &tbs.issuer != expected_issuer {
            return Err(Error::Chain);
        }
        check_signed_by(cert, &signer)?;
        if i != last && !is_ca(cert) {
            return Err(Error::Chain);
        }
        let nb = tbs.validity.not_before.to_unix_duration().as_secs();
        let na = tbs.validity.not_after.to_unix_duration().as_secs();
        if now.0 < nb || now.0 > na {
            expired = true;
        }
        issuer_key = Some(key);
        issuer_name = Some(&tbs.subject);
    }
    // Signatures are checked first so that a forged chain is reported as such even when
    // its dates are also wrong.
    if expired {
        return Err(Error::ChainExpired);
    }
    let root_spki_der = certs[0]
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| Error::Chain)?;
    let leaf_key = issuer_key.ok_or(Error::Chain)?;
    Ok(VerifiedChain {
        root_spki_der,
        leaf_key,
    })
}

/// A fresh fog authority: root, intermediate and leaf keys and their chain.
pub struct GeneratedAuthority {
    /// The root key (keep it offline: it only signs intermediates).
    pub root_key: SigningKey,
    /// The intermediate key (signs leaves).
    pub intermediate_key: SigningKey,
    /// The leaf key: the report server signs report lists with it.
    pub leaf_key: SigningKey,
    /// DER certificates, root first.
    pub chain: Vec<Vec<u8>>,
}

impl core::fmt::Debug for GeneratedAuthority {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GeneratedAuthority")
            .field("root", &self.root_key.verifying_key())
            .field("intermediate", &self.intermediate_key.verifying_key())
            .field("leaf", &self.leaf_key.verifying_key())
            .finish_non_exhaustive()
    }
}

impl GeneratedAuthority {
    /// Generates the three keys and certificates named `"CN={name} root"`, `"… intermediate"`
    /// and `"… report signer"`, valid from `not_before` to `not_after`. `name` must be a
    /// plain RFC 4514 value (no `,`, `+`, `=` or quotes).
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng>(
        rng: &mut R,
        name: &str,
        not_before: UnixSeconds,
        not_after: UnixSeconds,
    ) -> Result<Self> {
        let root_key = SigningKey::generate(rng);
        let intermediate_key = SigningKey::generate(rng);
        let leaf_key = SigningKey::generate(rng);
        let root_name = format!("CN={name} root");
        let int_name = format!("CN={name} intermediate");
        let leaf_name = format!("CN={name} report signer");
        let mut serial = [0u8; 16];
        let mut next_serial = |rng: &mut R| {
            rng.fill_bytes(&mut serial);
            serial[0] &= 0x7f;
            serial[0] |= 0x01;
            serial
        };
        let p = |subject, serial, is_ca| CertParams {
            subject,
            serial,
            not_before,
            not_after,
            is_ca,
        };
        let s = next_serial(rng);
        let root = issue(
            &p(&root_name, &s, true),
            &root_key.verifying_key(),
            &root_name,
            &root_key,
        )?;
        let s = next_serial(rng);
        let intermediate = issue(
            &p(&int_name, &s, true),
            &intermediate_key.verifying_key(),
            &root_name,
            &root_key,
        )?;
        let s = next_serial(rng);
        let leaf = issue(
            &p(&leaf_name, &s, false),
            &leaf_key.verifying_key(),
            &int_name,
            &intermediate_key,
        )?;
        Ok(Self {
            root_key,
            intermediate_key,
            leaf_key,
            chain: vec![root, intermediate, leaf],
        })
    }

    /// The root's SubjectPublicKeyInfo DER: what a fog address's authority signature signs.
    pub fn root_spki_der(&self) -> Result<Vec<u8>> {
        ed25519_spki_der(&self.root_key.verifying_key())
    }
}
