//! Public addresses, the fog authority signature and the short address hash.

use alloc::{string::String, vec::Vec};
use core::fmt;

use fog_crypto::{
    digestible::{DigestTranscript, Digestible},
    hash, KeyError, RistrettoPublic, RistrettoSignature,
};

use crate::{wire, AccountError};

/// The schnorrkel context of the fog authority signature.
pub const FOG_AUTHORITY_CONTEXT: &[u8] = b"Fog authority signature";

/// A subaddress as senders see it: view and spend public keys and, for fog users, the report
/// URL, report id and the authority signature over the fog operator's key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicAddress {
    view_public_key: RistrettoPublic,
    spend_public_key: RistrettoPublic,
    fog_report_url: String,
    fog_report_id: String,
    fog_authority_sig: Vec<u8>,
}

impl PublicAddress {
    /// An address without fog.
    pub fn new(spend_public_key: &RistrettoPublic, view_public_key: &RistrettoPublic) -> Self {
        Self {
            view_public_key: *view_public_key,
            spend_public_key: *spend_public_key,
            fog_report_url: String::new(),
            fog_report_id: String::new(),
            fog_authority_sig: Vec::new(),
        }
    }

    /// An address with fog fields. If `fog_report_url` is empty the other fog fields are
    /// dropped, as MobileCoin does.
    pub fn new_with_fog(
        spend_public_key: &RistrettoPublic,
        view_public_key: &RistrettoPublic,
        fog_report_url: &str,
        fog_report_id: &str,
        fog_authority_sig: Vec<u8>,
    ) -> Self {
        let mut addr = Self::new(spend_public_key, view_public_key);
        if !fog_report_url.is_empty() {
            addr.fog_report_url = fog_report_url.into();
            addr.fog_report_id = fog_report_id.into();
            addr.fog_authority_sig = fog_authority_sig;
        }
        addr
    }

    /// The subaddress view public key `C_i`.
    pub fn view_public_key(&self) -> &RistrettoPublic {
        &self.view_public_key
    }

    /// The subaddress spend public key `D_i`.
    pub fn spend_public_key(&self) -> &RistrettoPublic {
        &self.spend_public_key
    }

    /// The fog report URL, if this is a fog address.
    pub fn fog_report_url(&self) -> Option<&str> {
        (!self.fog_report_url.is_empty()).then_some(self.fog_report_url.as_str())
    }

    /// The fog report id (may be empty).
    pub fn fog_report_id(&self) -> &str {
        &self.fog_report_id
    }

    /// The fog authority signature bytes (empty without fog).
    pub fn fog_authority_sig(&self) -> &[u8] {
        &self.fog_authority_sig
    }

    /// Checks the fog authority signature over `authority_spki` (the DER
    /// SubjectPublicKeyInfo of the fog operator's root certificate) under the view public key.
    pub fn verify_fog_authority_sig(&self, authority_spki: &[u8]) -> Result<(), AccountError> {
        if self.fog_authority_sig.is_empty() {
            return Err(AccountError::NoFogSignature);
        }
        let sig = RistrettoSignature::from_bytes(&self.fog_authority_sig)
            .map_err(|_| AccountError::FogSignature(fog_crypto::SignatureError::Malformed))?;
        self.view_public_key
            .verify_schnorrkel(FOG_AUTHORITY_CONTEXT, authority_spki, &sig)
            .map_err(AccountError::FogSignature)
    }

    /// The 16-byte short hash that memos use to name an address.
    pub fn short_address_hash(&self) -> ShortAddressHash {
        let digest = self.digest32(b"mc-address");
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        ShortAddressHash(out)
    }

    /// The protobuf form.
    pub fn to_wire(&self) -> wire::PublicAddress {
        wire::PublicAddress {
            view_public_key: Some(wire::CompressedRistretto {
                data: self.view_public_key.to_bytes().to_vec(),
            }),
            spend_public_key: Some(wire::CompressedRistretto {
                data: self.spend_public_key.to_bytes().to_vec(),
            }),
            fog_report_url: self.fog_report_url.clone(),
            fog_report_id: self.fog_report_id.clone(),
            fog_authority_sig: self.fog_authority_sig.clone(),
        }
    }

    /// From the protobuf form: both keys are required and must be valid points. If the
    /// report URL is empty, the report id and signature are dropped.
    pub fn try_from_wire(w: &wire::PublicAddress) -> Result<Self, AccountError> {
        let key = |k: &Option<wire::CompressedRistretto>| -> Result<RistrettoPublic, AccountError> {
            let data = k.as_ref().map(|k| k.data.as_slice()).unwrap_or(&[]);
            if data.is_empty() {
                return Err(AccountError::Key(KeyError::LengthMismatch {
                    found: 0,
                    expected: 32,
                }));
            }
            Ok(RistrettoPublic::from_bytes(data)?)
        };
        let view = key(&w.view_public_key)?;
        let spend = key(&w.spend_public_key)?;
        Ok(Self::new_with_fog(
            &spend,
            &view,
            &w.fog_report_url,
            &w.fog_report_id,
            w.fog_authority_sig.clone(),
        ))
    }

    /// Protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&self.to_wire())
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, AccountError> {
        let w = <wire::PublicAddress as prost::Message>::decode(bytes)
            .map_err(|_| AccountError::MissingField("PublicAddress (malformed protobuf)"))?;
        Self::try_from_wire(&w)
    }
}

impl Digestible for PublicAddress {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"PublicAddress", |f| {
            f.ristretto(b"view_public_key", self.view_public_key.as_bytes())
                .ristretto(b"spend_public_key", self.spend_public_key.as_bytes())
                .str_never_omit(b"fog_report_url", &self.fog_report_url)
                .str_never_omit(b"fog_report_id", &self.fog_report_id)
                .bytes_never_omit(b"fog_authority_sig", &self.fog_authority_sig);
        });
    }
}

impl fmt::Debug for PublicAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PublicAddress");
        d.field("view", &self.view_public_key)
            .field("spend", &self.spend_public_key);
        if !self.fog_report_url.is_empty() {
            d.field("fog_report_url", &self.fog_report_url)
                .field("fog_report_id", &self.fog_report_id);
        }
        d.finish()
    }
}

/// The first 16 bytes of an address's digest under `"mc-address"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortAddressHash(pub [u8; 16]);

impl From<&PublicAddress> for ShortAddressHash {
    fn from(addr: &PublicAddress) -> Self {
        addr.short_address_hash()
    }
}

/// MobileCoin's burn address: view private key 32 bytes of 0x01, spend public key
/// hashed to the curve from `"mc_burn_address_spend_public"`. Nobody can spend what is sent
/// there.
pub fn burn_address() -> PublicAddress {
    let view_private = fog_crypto::RistrettoPrivate::from_bytes_mod_order(&[1u8; 32]);
    let spend = RistrettoPublic::from_point(hash::hash_to_ristretto(&[
        hash::domain::BURN_ADDRESS_SPEND_PUBLIC,
    ]));
    let view = RistrettoPublic::from_point(view_private.as_scalar() * spend.as_point());
    PublicAddress::new(&spend, &view)
}
