//! sluice-views: the database — log + ingest + flume-style views + queries + subscriptions.
#![forbid(unsafe_code)]
