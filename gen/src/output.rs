//! Writers: JSON lines to any `Write`, and the authors' ssb-keys secret files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};

use rayon::prelude::*;

use crate::error::GenError;
use crate::generator::{Generated, Generator};

/// Waves made ahead of the writer: bounds memory while writing overlaps generation.
const WAVES_AHEAD: usize = 2;
/// Messages serialised into one buffer by one task.
const LINES_PER_CHUNK: usize = 128;

/// Streams every message of `generator` as `{key,value,timestamp}` JSON lines; returns the count.
///
/// A helper thread drives the generator (its waves run on rayon) and serialises each wave in
/// parallel, while this thread writes the previous wave, in order (wrap `out` in a `BufWriter`
/// for files); memory holds a few waves.
pub fn write_jsonl(generator: &mut Generator, out: &mut impl Write) -> Result<u64, GenError> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(WAVES_AHEAD);
        let producer = scope.spawn(move || produce(generator, &tx));
        let written = write_buffers(out, rx);
        let produced = match producer.join() {
            Ok(result) => result?,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        written.map_err(GenError::Write)?;
        Ok(produced)
    })
}

/// Makes every wave and sends its JSON lines as buffers; stops early when the writer has
/// given up (it reports why). Returns the number of messages made.
fn produce(generator: &mut Generator, tx: &SyncSender<Vec<Vec<u8>>>) -> Result<u64, GenError> {
    let mut count = 0u64;
    while let Some(wave) = generator.next_wave()? {
        count += wave.len() as u64;
        if tx.send(serialise(&wave)).is_err() {
            break;
        }
    }
    Ok(count)
}

/// The wave's JSON lines (newline-terminated), in order, in a few buffers made in parallel.
fn serialise(wave: &[Generated]) -> Vec<Vec<u8>> {
    wave.par_chunks(LINES_PER_CHUNK)
        .map(|chunk| {
            let mut buf = Vec::with_capacity(chunk.len() * 1024);
            for g in chunk {
                g.write_json_line(&mut buf);
                buf.push(b'\n');
            }
            buf
        })
        .collect()
}

/// Writes the buffers as they arrive, then flushes. Dropping `rx` on an error stops the
/// producer at its next wave.
fn write_buffers(out: &mut impl Write, rx: Receiver<Vec<Vec<u8>>>) -> std::io::Result<()> {
    for wave in rx {
        for buf in &wave {
            out.write_all(buf)?;
        }
    }
    out.flush()
}

/// The path of author `index`'s secret file inside `dir`.
pub fn secret_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("author-{index:04}.secret"))
}

/// Writes one ssb-keys `secret` file per author into `dir` (created if needed), never
/// overwriting an existing file; returns the paths in author order (main feed first).
pub fn write_secrets(generator: &Generator, dir: &Path) -> Result<Vec<PathBuf>, GenError> {
    std::fs::create_dir_all(dir).map_err(|source| GenError::SecretsDir {
        path: dir.to_owned(),
        source,
    })?;
    generator
        .keys()
        .iter()
        .enumerate()
        .map(|(i, keys)| {
            let path = secret_path(dir, i);
            keys.write_secret_file(&path)
                .map_err(|source| GenError::Secret {
                    path: path.clone(),
                    source,
                })?;
            Ok(path)
        })
        .collect()
}
