//! Block versions and the features they switch on.

/// The version of the block rules a TxOut is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockVersion(u32);

impl BlockVersion {
    /// Version 0: no memos, no token ids.
    pub const ZERO: Self = Self(0);
    /// Version 1: encrypted memos.
    pub const ONE: Self = Self(1);
    /// Version 2: masked token ids.
    pub const TWO: Self = Self(2);
    /// Version 3: masked amount V2, mixed transactions.
    pub const THREE: Self = Self(3);
    /// Version 4.
    pub const FOUR: Self = Self(4);
    /// The newest version we build.
    pub const MAX: Self = Self::FOUR;

    /// A version, if we know it.
    pub fn new(v: u32) -> Option<Self> {
        (v <= Self::MAX.0).then_some(Self(v))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// TxOuts carry an encrypted memo.
    pub fn e_memo_feature_is_supported(self) -> bool {
        self.0 >= 1
    }

    /// Amounts carry a masked token id.
    pub fn masked_token_id_feature_is_supported(self) -> bool {
        self.0 >= 2
    }

    /// Amounts are masked with the V2 scheme.
    pub fn masked_amount_v2_is_supported(self) -> bool {
        self.0 >= 3
    }
}
