//! Validation of one message: against its feed's latest state (chain) or alone (out of order).

use std::str::FromStr;

use crate::error::ValidationError;
use crate::message::Message;
use crate::refs::{self, MsgId};
use crate::verify;

/// The latest known message of a feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedState {
    /// Its id.
    pub id: MsgId,
    /// Its sequence.
    pub sequence: u64,
    /// Its (author-claimed) timestamp.
    pub timestamp: f64,
}

impl FeedState {
    /// The state a feed is in once `msg` is its latest message.
    pub fn of(msg: &Message) -> FeedState {
        FeedState {
            id: msg.id(),
            sequence: msg.sequence(),
            timestamp: msg.timestamp(),
        }
    }
}

/// An HMAC key for signing on a network other than the main one (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HmacKey(pub [u8; 32]);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

impl FromStr for HmacKey {
    type Err = ValidationError;
    /// Parses canonical base64 of 32 bytes, as ssb-validate requires.
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        refs::decode_exact::<32>(s)
            .map(HmacKey)
            .ok_or(ValidationError::HmacKey)
    }
}

/// Checks `msg` against its feed's latest state (`None` = the feed is new), then its signature.
pub fn validate(
    state: Option<&FeedState>,
    msg: &Message,
    hmac: Option<&HmacKey>,
) -> Result<(), ValidationError> {
    check_chain(state, msg)?;
    check_signature(msg, hmac)
}

/// Checks `msg` alone: format (already done by parsing) and signature, no chain.
pub fn validate_ooo(msg: &Message, hmac: Option<&HmacKey>) -> Result<(), ValidationError> {
    check_signature(msg, hmac)
}

/// The signature of `msg` under its author's key (strict, single).
pub fn check_signature(msg: &Message, hmac: Option<&HmacKey>) -> Result<(), ValidationError> {
    let key = verify::verifying_key(&msg.author())?;
    let payload = verify::signed_payload(msg.signing_bytes(), hmac);
    verify::verify_one(&key, &payload, msg.signature())
}

/// Whether `msg` extends the feed whose latest message is `state`; names the conflict if not.
pub fn check_chain(state: Option<&FeedState>, msg: &Message) -> Result<(), ValidationError> {
    let Some(state) = state else {
        return check_first(msg);
    };
    let (seq, next) = (msg.sequence(), state.sequence + 1);
    if seq == next {
        return check_previous(state, msg);
    }
    if seq > next {
        return Err(ValidationError::Gap {
            expected: next,
            found: seq,
        });
    }
    if seq < state.sequence {
        return Err(ValidationError::Old {
            latest: state.sequence,
            found: seq,
        });
    }
    if msg.id() == state.id {
        return Err(ValidationError::Duplicate {
            id: msg.id(),
            sequence: seq,
        });
    }
    Err(ValidationError::Fork {
        sequence: seq,
        detail: format!("known message {} but got {}", state.id, msg.id()),
    })
}

fn check_first(msg: &Message) -> Result<(), ValidationError> {
    if msg.sequence() != 1 {
        return Err(ValidationError::Gap {
            expected: 1,
            found: msg.sequence(),
        });
    }
    match msg.previous() {
        None => Ok(()),
        Some(_) => Err(ValidationError::FirstPrevious),
    }
}

fn check_previous(state: &FeedState, msg: &Message) -> Result<(), ValidationError> {
    if msg.previous() == Some(state.id) {
        return Ok(());
    }
    let got = msg.previous().map_or("null".to_string(), |p| p.to_string());
    Err(ValidationError::Fork {
        sequence: msg.sequence(),
        detail: format!("previous should be {} but is {got}", state.id),
    })
}
