//! sluice-views: the database — log + ingest + flume-style views + queries + subscriptions.
//!
//! # Using it
//! ```no_run
//! use sluice_views::{Db, Filter, Outcome};
//! use sluice_msg::{Message, VerifyMode};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Db::open("store")?;                       // creates store/log and store/views/
//! let msg = Message::parse(br#"{"previous":null}"#)?; // (a real message value)
//! match db.add(msg, VerifyMode::Full)? {
//!     Outcome::Appended(offset) => println!("stored at {offset}"),
//!     Outcome::AlreadyPresent => {}
//!     Outcome::Rejected(why) => eprintln!("refused: {why}"),
//!     _ => {}
//! }
//! for m in db.latest("post", 50)? {
//!     println!("{}", m.to_json());                    // {"key":…,"value":…,"timestamp":…}
//! }
//! let live = db.subscribe(Filter::Type("post".into()));
//! # drop(live);
//! # Ok(()) }
//! ```
//!
//! # Model
//! - One writer path: [`Db::add_batch`] (and [`Db::add`], [`Db::publish`]) validates against
//!   the feeds view, appends valid messages to the log (`store/log`, see `views/FORMAT.md`
//!   for the record format), flushes, applies them to every view and notifies subscribers.
//! - Views ([`View`]) each persist `views/<name>.view` with their `since` offset; a bad or
//!   outdated file rebuilds that view alone when it loads: at its first use, or during
//!   [`Db::open_with_progress`]. View files are rewritten every
//!   [`DbOptions::persist_every`] log bytes (or an eighth of the log when that is more, up
//!   to [`DbOptions::persist_at_most`]), after a reindex and on drop; whatever they miss
//!   is caught up from the log when the view next loads.
//! - Queries see your own writes: they first apply every durable record to the views they
//!   read ([`DbOptions::read_your_writes`] turns that off). A [`Db::open_read_only`] handle
//!   never writes, and picks up another process's appends at each query.
//! - Subscriptions are bounded; a subscriber that falls behind is dropped (see [`Filter`]
//!   and [`Subscription::lagged`]), so ingest never blocks.
#![forbid(unsafe_code)]

pub mod backlinks;
mod codec;
pub mod contacts;
mod db;
mod engine;
mod error;
pub mod feeds;
mod ingest;
mod inplace;
pub mod keys;
pub mod record;
pub mod scan;
mod stored;
mod subscribe;
pub mod tangles;
pub mod types;
pub mod view;
pub mod viewfile;

pub use contacts::Relation;
pub use db::{Db, DbOptions, Tangle, ViewCheck, ViewInfo};
pub use engine::Progress;
pub use error::Error;
pub use ingest::{DROP_ASIDE, Outcome};
pub use scan::Facts;
pub use stored::{MsgRef, StoredMsg};
pub use subscribe::{Filter, Subscription};
pub use view::{Indexed, View, ViewDataError};
pub use viewfile::Bulk;
