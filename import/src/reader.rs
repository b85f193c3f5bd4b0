//! [`Reader`]: opens a store (file or stdin), detects its format and streams its entries.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::Path;

use crate::aaol::BipfLog;
use crate::detect::{HEAD, detect};
use crate::jsonl::JsonLines;
use crate::offset::{OffsetLog, read_full};
use crate::{Counts, Entry, Format, Position, ReadError};

/// Buffer size between the file and the parsers.
const BUFFER: usize = 256 * 1024;

/// Any byte source, counting the bytes it has handed out (for progress reports).
struct Input {
    inner: Box<dyn Read + Send>,
    consumed: u64,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("consumed", &self.consumed)
            .finish_non_exhaustive()
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

type Buffered = BufReader<Input>;

#[derive(Debug)]
enum Inner {
    Lines(JsonLines<Buffered>),
    Offset(OffsetLog<Input>),
    Bipf(BipfLog<Buffered>),
}

/// Streams the entries of one store, yielding `Result<Entry, ReadError>`.
///
/// Memory stays bounded whatever the file size. After a bad record the reader goes on
/// when the format allows it: JSON lines always (next line); log.bipf at the next block;
/// log.offset stops, since nothing after a corrupt frame can be located.
#[derive(Debug)]
pub struct Reader {
    inner: Inner,
    counts: Counts,
}

impl Reader {
    /// Opens `path` (or standard input for `-`) and detects its format.
    ///
    /// # Errors
    /// [`ReadError::Open`] if the file cannot be opened, [`ReadError::Io`] if its first bytes
    /// cannot be read, [`ReadError::UnknownFormat`] if they fit no format.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader, ReadError> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return Reader::detect(io::stdin());
        }
        let file = File::open(path).map_err(|source| ReadError::Open {
            path: path.to_owned(),
            source,
        })?;
        Reader::detect(file)
    }

    /// Reads the first bytes of `input`, detects the format and reads the rest as it.
    ///
    /// # Errors
    /// As [`Reader::open`], except `Open`.
    pub fn detect(mut input: impl Read + Send + 'static) -> Result<Reader, ReadError> {
        let mut head = vec![0; HEAD];
        let got = read_full(&mut input, &mut head).map_err(|source| ReadError::Io {
            pos: Position::Byte(0),
            source,
        })?;
        head.truncate(got);
        let Some(format) = detect(&head) else {
            return Err(ReadError::UnknownFormat {
                head: hex(&head[..got.min(16)]),
            });
        };
        Ok(Reader::with_format(format, Cursor::new(head).chain(input)))
    }

    /// Reads `input` as `format`, without detection.
    pub fn with_format(format: Format, input: impl Read + Send + 'static) -> Reader {
        let input = Input {
            inner: Box::new(input),
            consumed: 0,
        };
        let buffered = |input| BufReader::with_capacity(BUFFER, input);
        let inner = match format {
            Format::JsonLines => Inner::Lines(JsonLines::new(buffered(input))),
            // It reads in blocks of its own, whose slices are its entries.
            Format::OffsetLog => Inner::Offset(OffsetLog::new(input)),
            Format::BipfLog => Inner::Bipf(BipfLog::new(buffered(input))),
        };
        Reader {
            inner,
            counts: Counts::default(),
        }
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Lines(_) => Format::JsonLines,
            Inner::Offset(_) => Format::OffsetLog,
            Inner::Bipf(_) => Format::BipfLog,
        }
    }

    /// Records read, unreadable and deleted so far.
    pub fn counts(&self) -> Counts {
        let deleted = match &self.inner {
            Inner::Bipf(log) => log.deleted,
            _ => 0,
        };
        Counts {
            deleted,
            ..self.counts
        }
    }

    /// Bytes taken from the input so far (a little ahead of the entries yielded, by at most
    /// the read buffer); for progress bars against the file size.
    pub fn bytes_read(&self) -> u64 {
        match &self.inner {
            Inner::Lines(r) => r.input.get_ref().consumed,
            Inner::Offset(r) => r.input.consumed,
            Inner::Bipf(r) => r.input.get_ref().consumed,
        }
    }
}

impl Reader {
    /// Reads up to `max` entries, handing them to `each` `step` at a time (the last step may be
    /// shorter); returns how many were read. A caller that parses a batch step by step holds
    /// only one step of raw entries next to what it has parsed.
    pub fn read_steps(
        &mut self,
        max: usize,
        step: usize,
        mut each: impl FnMut(Vec<Result<Entry, ReadError>>),
    ) -> usize {
        let mut read = 0;
        while read < max {
            let entries: Vec<_> = self.by_ref().take(step.min(max - read)).collect();
            if entries.is_empty() {
                break;
            }
            read += entries.len();
            each(entries);
        }
        read
    }
}

impl Iterator for Reader {
    type Item = Result<Entry, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match &mut self.inner {
            Inner::Lines(r) => r.next(),
            Inner::Offset(r) => r.next(),
            Inner::Bipf(r) => r.next(),
        }?;
        match &item {
            Ok(_) => self.counts.read += 1,
            Err(_) => self.counts.unreadable += 1,
        }
        Some(item)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
