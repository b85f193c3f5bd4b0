//! sluice-import benches: read and decode each medium fixture format (100,000 messages) from
//! memory, with every entry turned into a `serde_json::Value` (parsing JSON text, or BIPF
//! decoding). Throughput is in bytes of the store; entries/s = 100,000 / time.

use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_import::{Format, Reader};

/// The decompressed medium fixture `name`, or `None` (with a note) when it is missing.
fn medium(name: &str) -> Option<&'static [u8]> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fixtures/medium")
        .join(name);
    let Ok(raw) = std::fs::read(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return None;
    };
    let bytes = zstd::decode_all(&raw[..]).expect("zstd fixture");
    Some(bytes.leak())
}

/// Reads and decodes every entry; returns how many there were.
fn read_all(format: Format, bytes: &'static [u8]) -> usize {
    let mut n = 0;
    for item in Reader::with_format(format, Cursor::new(bytes)) {
        black_box(item.unwrap().into_value().unwrap());
        n += 1;
    }
    n
}

fn read_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("import/read_decode");
    group.sample_size(10);
    for (name, file, format) in [
        ("jsonl", "msgs.jsonl.zst", Format::JsonLines),
        ("log.offset", "log.offset.zst", Format::OffsetLog),
        ("log.bipf", "log.bipf.zst", Format::BipfLog),
    ] {
        let Some(bytes) = medium(file) else { continue };
        assert_eq!(read_all(format, bytes), 100_000, "{name}");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| read_all(format, bytes)));
    }
    group.finish();
}

fn read_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("import/read_frames");
    group.sample_size(10);
    for (name, file, format) in [
        ("jsonl", "msgs.jsonl.zst", Format::JsonLines),
        ("log.offset", "log.offset.zst", Format::OffsetLog),
    ] {
        let Some(bytes) = medium(file) else { continue };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        let frames = || {
            Reader::with_format(format, Cursor::new(bytes))
                .map(black_box)
                .count()
        };
        group.bench_function(name, |b| b.iter(frames));
    }
    group.finish();
}

criterion_group!(benches, read_decode, read_only);
criterion_main!(benches);
