//! SSB references: `@feed.ed25519`, `%msg.sha256`, `&blob.sha256`, strictly parsed and printed.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why a reference string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// The string does not start with the sigil of the expected kind.
    #[error("expected a reference starting with '{expected}'")]
    Sigil {
        /// The sigil that was expected (`@`, `%` or `&`).
        expected: char,
    },
    /// The string does not end with the expected suffix.
    #[error("expected a reference ending with '{expected}'")]
    Suffix {
        /// The suffix that was expected, e.g. `.ed25519`.
        expected: &'static str,
    },
    /// The base64 part is not canonical base64 of exactly 32 bytes.
    #[error("the base64 part must be canonical base64 of 32 bytes")]
    Base64,
}

/// Decodes canonical base64 of exactly `N` bytes.
pub(crate) fn decode_exact<const N: usize>(b64: &str) -> Option<[u8; N]> {
    // 32 bytes is 44 chars, 64 bytes is 88: reject early before allocating.
    if b64.len() != N.div_ceil(3) * 4 {
        return None;
    }
    // Decoded on the stack: the output slice must hold the length base64 estimates (a
    // multiple of three), which is at most two bytes more than N.
    const { assert!(N <= 64, "refs and signatures are at most 64 bytes") };
    let mut out = [0u8; 66];
    let len = STANDARD.decode_slice(b64, &mut out[..N + 2]).ok()?;
    (len == N).then(|| out[..N].try_into().ok()).flatten()
}

/// Encodes bytes as standard padded base64.
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn parse_ref<const N: usize>(
    s: &str,
    sigil: char,
    suffix: &'static str,
) -> Result<[u8; N], RefError> {
    let rest = s
        .strip_prefix(sigil)
        .ok_or(RefError::Sigil { expected: sigil })?;
    let b64 = rest
        .strip_suffix(suffix)
        .ok_or(RefError::Suffix { expected: suffix })?;
    decode_exact::<N>(b64).ok_or(RefError::Base64)
}

macro_rules! ref_type {
    ($(#[$doc:meta])* $name:ident, $sigil:literal, $suffix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The sigil that starts this kind of reference.
            pub const SIGIL: char = $sigil;
            /// The suffix that ends this kind of reference.
            pub const SUFFIX: &'static str = $suffix;

            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}{}", $sigil, encode(&self.0), $suffix)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = RefError;
            fn from_str(s: &str) -> Result<Self, RefError> {
                parse_ref::<32>(s, $sigil, $suffix).map($name)
            }
        }
    };
}

ref_type!(
    /// A feed id: an ed25519 public key, printed `@<base64>.ed25519`.
    FeedId, '@', ".ed25519"
);
ref_type!(
    /// A message id: the sha256 of a message's encoding, printed `%<base64>.sha256`.
    MsgId, '%', ".sha256"
);
ref_type!(
    /// A blob id: the sha256 of a blob, printed `&<base64>.sha256`.
    BlobId, '&', ".sha256"
);

/// Any of the three classic reference kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ref {
    /// `@…​.ed25519`
    Feed(FeedId),
    /// `%…​.sha256`
    Msg(MsgId),
    /// `&…​.sha256`
    Blob(BlobId),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Feed(r) => r.fmt(f),
            Ref::Msg(r) => r.fmt(f),
            Ref::Blob(r) => r.fmt(f),
        }
    }
}

impl FromStr for Ref {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, RefError> {
        match s.chars().next() {
            Some('@') => s.parse().map(Ref::Feed),
            Some('%') => s.parse().map(Ref::Msg),
            Some('&') => s.parse().map(Ref::Blob),
            _ => Err(RefError::Sigil { expected: '@' }),
        }
    }
}

impl From<FeedId> for Ref {
    fn from(r: FeedId) -> Self {
        Ref::Feed(r)
    }
}

impl From<MsgId> for Ref {
    fn from(r: MsgId) -> Self {
        Ref::Msg(r)
    }
}

impl From<BlobId> for Ref {
    fn from(r: BlobId) -> Self {
        Ref::Blob(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: &str = "@AzvddyStfk/T95/3VuHxuJRwqqpBkCyoW7qHRCui2N4=.ed25519";

    #[test]
    fn round_trips_each_kind() {
        let feed: FeedId = FEED.parse().unwrap();
        assert_eq!(feed.to_string(), FEED);
        let msg = "%ybJG6SQH63+71OtO9r7cnxeOgEZyZQdecsGaPQXo/CM=.sha256";
        assert_eq!(msg.parse::<MsgId>().unwrap().to_string(), msg);
        let blob = "&bWFnbmFhbmltZXhlcmNpdGF0aW9uZnVnaWF0bGFib3I=.sha256";
        assert!(matches!(blob.parse::<Ref>(), Ok(Ref::Blob(_))));
        assert_eq!(blob.parse::<Ref>().unwrap().to_string(), blob);
    }

    #[test]
    fn rejects_non_canonical_and_wrong_suffix() {
        // Last base64 char 5 instead of 4 sets a trailing bit: not canonical.
        let bad = "@AzvddyStfk/T95/3VuHxuJRwqqpBkCyoW7qHRCui2N5=.ed25519";
        assert_eq!(bad.parse::<FeedId>(), Err(RefError::Base64));
        let suffix = FEED.replace(".ed25519", ".sha256");
        assert!(matches!(
            suffix.parse::<FeedId>(),
            Err(RefError::Suffix { .. })
        ));
        assert!(matches!(
            FEED.parse::<MsgId>(),
            Err(RefError::Sigil { expected: '%' })
        ));
        assert!("x".parse::<Ref>().is_err());
    }
}
