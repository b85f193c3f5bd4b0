//! Writers: JSON lines to any `Write`, and the authors' ssb-keys secret files.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::GenError;
use crate::generator::Generator;

/// Streams every message of `generator` as `{key,value,timestamp}` JSON lines; returns the count.
///
/// Lines are serialised in parallel per wave and written in order (wrap `out` in a
/// `BufWriter` for files); memory holds one wave.
pub fn write_jsonl(generator: &mut Generator, out: &mut impl Write) -> Result<u64, GenError> {
    let mut count = 0u64;
    while let Some(wave) = generator.next_wave()? {
        let lines: Vec<String> = wave.into_par_iter().map(|g| g.json_line()).collect();
        for line in &lines {
            out.write_all(line.as_bytes()).map_err(GenError::Write)?;
            out.write_all(b"\n").map_err(GenError::Write)?;
        }
        count += lines.len() as u64;
    }
    out.flush().map_err(GenError::Write)?;
    Ok(count)
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
