//! The crate's one error type.

use std::path::PathBuf;

/// Why generation or writing its output failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// The options cannot produce any output.
    #[error("invalid generator options: {detail}")]
    Options {
        /// What to change.
        detail: String,
    },
    /// sluice-msg refused to sign a planned message (a bug in the generator's content).
    #[error("could not sign generated message #{index}; please report this with the seed used")]
    Sign {
        /// The message's position in the output.
        index: u64,
        /// Why sluice-msg refused it.
        #[source]
        source: sluice_msg::ValidationError,
    },
    /// Writing the JSON lines failed.
    #[error("could not write generated messages: {0}")]
    Write(#[source] std::io::Error),
    /// Writing an author's secret file failed.
    #[error("could not write the secret file {}", path.display())]
    Secret {
        /// The file that was being written.
        path: PathBuf,
        /// The underlying failure (an existing file is never overwritten).
        #[source]
        source: sluice_msg::KeyError,
    },
    /// The secrets folder could not be created.
    #[error("could not create the secrets folder {}", path.display())]
    SecretsDir {
        /// The folder.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}
