//! sluice-msg: Secure Scuttlebutt classic messages, byte-exact with ssb-server. No I/O.
//!
//! [`Message`] parses and encodes a message value (V8 `JSON.stringify` rules, latin1 id hash);
//! [`validate`], [`validate_ooo`] and [`validate_batch`] check it like JS `ssb-validate` 4;
//! [`Keys`] and [`create`] make new signed messages.
#![forbid(unsafe_code)]

mod batch;
pub mod encode;
mod error;
mod fast;
mod keys;
mod message;
mod refs;
mod validate;
mod verify;

pub use batch::{VerifyMode, validate_batch, verify_ahead};
pub use error::ValidationError;
pub use keys::{KeyError, Keys, create, create_with_signer};
pub use message::{MAX_MESSAGE_UNITS, Message};
pub use refs::{BlobId, FeedId, MsgId, Ref, RefError};
pub use validate::{FeedState, HmacKey, check_chain, check_signature, validate, validate_ooo};
pub use verify::batch_verifies;
