//! The digestible hashing scheme: MobileCoin's structured Merlin hash.
//!
//! MobileCoin hashes structured values (TxOuts, addresses, blocks, transactions) by walking
//! them into a Merlin transcript; `x.digest32(label)` is:
//!
//! ```text
//! t = Transcript("digestible"); x.append(label, t); t.challenge_bytes("digest32", 32)
//! ```
//!
//! How a value is appended, for a context label `ctx`:
//! - primitive: `(ctx, "prim")`, then `(typename, bytes)`; typenames `uint` (little-endian, the
//!   type's own width), `int`, `bool`, `bytes`, `str`, `ristretto`, `scalar`;
//! - aggregate (a struct): `(ctx, "agg")`, `("name", StructName)`, each field with its field
//!   name as context in declaration order, then `(ctx, "agg-end")`, `("name", StructName)`;
//! - sequence: empty → `(ctx, "")`; else `(ctx, "seq")`, `("len", LE64(n))`, each element
//!   with context `""`;
//! - `None` → `(ctx, "")`;
//! - enum: `(ctx, "var")`, `("name", EnumName)`, `("which", LE32(i))`, then the payload with
//!   the variant name as context.
//!
//! Inside an aggregate, fields are written "allow omit": an empty byte string, empty string,
//! empty sequence or `None` is skipped entirely, unless the schema says "never omit".
//! Integers are always written. A transparent newtype appends its inner value under the
//! context it was given.
//!
//! This module is the one generic encoder; each type's schema (its name, field names, order
//! and omit rules, which must match MobileCoin's exactly) lives with the type, as an impl of
//! [`Digestible`] written with [`Agg`]. Trust side: both; no secret should be hashed here.

use merlin::Transcript;

/// A Merlin transcript that values are appended to.
pub struct DigestTranscript(Transcript);

impl Default for DigestTranscript {
    fn default() -> Self {
        Self::new()
    }
}

impl DigestTranscript {
    /// The transcript of `digest32`: labelled `"digestible"`.
    pub fn new() -> Self {
        Self(Transcript::new(b"digestible"))
    }

    /// A transcript with another label (MobileCoin's block id uses `"mobilecoin-block-id"`).
    pub fn with_label(label: &'static [u8]) -> Self {
        Self(Transcript::new(label))
    }

    /// Appends one raw Merlin message.
    pub fn append_message(&mut self, label: &'static [u8], message: &[u8]) {
        self.0.append_message(label, message);
    }

    /// A primitive: `(ctx, "prim")`, `(typename, data)`.
    pub fn primitive(&mut self, ctx: &'static [u8], typename: &'static [u8], data: &[u8]) {
        self.raw(ctx, b"prim");
        self.raw(typename, data);
    }

    /// `None` or an empty sequence: `(ctx, "")`.
    pub fn none(&mut self, ctx: &'static [u8]) {
        self.raw(ctx, b"");
    }

    /// An aggregate named `name`, whose fields `body` appends.
    pub fn agg(
        &mut self,
        ctx: &'static [u8],
        name: &'static [u8],
        body: impl FnOnce(&mut Agg<'_>),
    ) {
        self.raw(ctx, b"agg");
        self.raw(b"name", name);
        body(&mut Agg { t: self });
        self.raw(ctx, b"agg-end");
        self.raw(b"name", name);
    }

    /// A sequence of values; an empty one is written as `None`.
    pub fn seq<T: Digestible>(&mut self, ctx: &'static [u8], items: &[T]) {
        if items.is_empty() {
            self.none(ctx);
            return;
        }
        self.raw(ctx, b"seq");
        self.raw(b"len", &(items.len() as u64).to_le_bytes());
        for item in items {
            item.append_to(b"", self);
        }
    }

    /// An enum variant header; the caller then appends the payload with the variant name as
    /// context.
    pub fn variant(&mut self, ctx: &'static [u8], enum_name: &'static [u8], which: u32) {
        self.raw(ctx, b"var");
        self.raw(b"name", enum_name);
        self.raw(b"which", &which.to_le_bytes());
    }

    /// The 32-byte digest: `challenge_bytes("digest32")`.
    pub fn finalize(mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.0.challenge_bytes(b"digest32", &mut out);
        out
    }

    fn raw(&mut self, label: &'static [u8], message: &[u8]) {
        self.0.append_message(label, message);
    }
}

/// Builds the fields of one aggregate. Every method takes the field name as its context.
pub struct Agg<'t> {
    t: &'t mut DigestTranscript,
}

impl Agg<'_> {
    /// An unsigned integer of 8 bytes (`u64`; also MobileCoin's `usize`). Always written.
    pub fn u64(&mut self, field: &'static [u8], v: u64) -> &mut Self {
        self.t.primitive(field, b"uint", &v.to_le_bytes());
        self
    }

    /// An unsigned integer of 4 bytes. Always written.
    pub fn u32(&mut self, field: &'static [u8], v: u32) -> &mut Self {
        self.t.primitive(field, b"uint", &v.to_le_bytes());
        self
    }

    /// An unsigned integer of 2 bytes. Always written.
    pub fn u16(&mut self, field: &'static [u8], v: u16) -> &mut Self {
        self.t.primitive(field, b"uint", &v.to_le_bytes());
        self
    }

    /// A boolean (one byte). Always written.
    pub fn bool(&mut self, field: &'static [u8], v: bool) -> &mut Self {
        self.t.primitive(field, b"bool", &[u8::from(v)]);
        self
    }

    /// A byte string, skipped when empty.
    pub fn bytes(&mut self, field: &'static [u8], v: &[u8]) -> &mut Self {
        if !v.is_empty() {
            self.t.primitive(field, b"bytes", v);
        }
        self
    }

    /// A byte string, written even when empty.
    pub fn bytes_never_omit(&mut self, field: &'static [u8], v: &[u8]) -> &mut Self {
        self.t.primitive(field, b"bytes", v);
        self
    }

    /// A UTF-8 string, skipped when empty.
    pub fn str(&mut self, field: &'static [u8], v: &str) -> &mut Self {
        if !v.is_empty() {
            self.t.primitive(field, b"str", v.as_bytes());
        }
        self
    }

    /// A UTF-8 string, written even when empty.
    pub fn str_never_omit(&mut self, field: &'static [u8], v: &str) -> &mut Self {
        self.t.primitive(field, b"str", v.as_bytes());
        self
    }

    /// A compressed Ristretto point.
    pub fn ristretto(&mut self, field: &'static [u8], v: &[u8; 32]) -> &mut Self {
        self.t.primitive(field, b"ristretto", v);
        self
    }

    /// A scalar.
    pub fn scalar(&mut self, field: &'static [u8], v: &[u8; 32]) -> &mut Self {
        self.t.primitive(field, b"scalar", v);
        self
    }

    /// A nested value with its own schema.
    pub fn field<T: Digestible + ?Sized>(&mut self, field: &'static [u8], v: &T) -> &mut Self {
        v.append_to(field, self.t);
        self
    }

    /// An optional value, skipped when `None`.
    pub fn option<T: Digestible>(&mut self, field: &'static [u8], v: Option<&T>) -> &mut Self {
        if let Some(v) = v {
            v.append_to(field, self.t);
        }
        self
    }

    /// A sequence, skipped when empty.
    pub fn seq<T: Digestible>(&mut self, field: &'static [u8], items: &[T]) -> &mut Self {
        if !items.is_empty() {
            self.t.seq(field, items);
        }
        self
    }

    /// A sequence, written (as `None`) even when empty.
    pub fn seq_never_omit<T: Digestible>(
        &mut self,
        field: &'static [u8],
        items: &[T],
    ) -> &mut Self {
        self.t.seq(field, items);
        self
    }
}

/// A type with a digestible schema.
pub trait Digestible {
    /// Appends `self` under the context label `ctx`.
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript);

    /// MobileCoin's `digest32::<MerlinTranscript>(context)`.
    fn digest32(&self, context: &'static [u8]) -> [u8; 32] {
        let mut t = DigestTranscript::new();
        self.append_to(context, &mut t);
        t.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        a: u64,
        b: alloc::vec::Vec<u8>,
    }
    impl Digestible for Pair {
        fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
            t.agg(ctx, b"Pair", |f| {
                f.u64(b"a", self.a).bytes(b"b", &self.b);
            });
        }
    }

    fn manual(a: u64, b: Option<&[u8]>) -> [u8; 32] {
        let mut t = Transcript::new(b"digestible");
        t.append_message(b"ctx", b"agg");
        t.append_message(b"name", b"Pair");
        t.append_message(b"a", b"prim");
        t.append_message(b"uint", &a.to_le_bytes());
        if let Some(b) = b {
            t.append_message(b"b", b"prim");
            t.append_message(b"bytes", b);
        }
        t.append_message(b"ctx", b"agg-end");
        t.append_message(b"name", b"Pair");
        let mut out = [0u8; 32];
        t.challenge_bytes(b"digest32", &mut out);
        out
    }

    #[test]
    fn aggregate_follows_the_rules() {
        let p = Pair {
            a: 7,
            b: alloc::vec![1, 2],
        };
        assert_eq!(p.digest32(b"ctx"), manual(7, Some(&[1, 2])));
        let empty = Pair {
            a: 7,
            b: alloc::vec![],
        };
        assert_eq!(empty.digest32(b"ctx"), manual(7, None));
        assert_ne!(empty.digest32(b"ctx"), manual(7, Some(&[])));
    }

    #[test]
    fn sequences_have_a_header() {
        let items = [
            Pair {
                a: 1,
                b: alloc::vec![],
            },
            Pair {
                a: 2,
                b: alloc::vec![],
            },
        ];
        let mut t = DigestTranscript::new();
        t.seq(b"s", &items);
        let ours = t.finalize();
        let mut m = Transcript::new(b"digestible");
        m.append_message(b"s", b"seq");
        m.append_message(b"len", &2u64.to_le_bytes());
        for a in [1u64, 2] {
            m.append_message(b"", b"agg");
            m.append_message(b"name", b"Pair");
            m.append_message(b"a", b"prim");
            m.append_message(b"uint", &a.to_le_bytes());
            m.append_message(b"", b"agg-end");
            m.append_message(b"name", b"Pair");
        }
        let mut out = [0u8; 32];
        m.challenge_bytes(b"digest32", &mut out);
        assert_eq!(ours, out);
        let mut t = DigestTranscript::new();
        t.seq::<Pair>(b"s", &[]);
        let mut m = Transcript::new(b"digestible");
        m.append_message(b"s", b"");
        m.challenge_bytes(b"digest32", &mut out);
        assert_eq!(t.finalize(), out);
    }
}
