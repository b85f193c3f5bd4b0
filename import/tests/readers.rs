//! The three readers against the small fixture (the same 1,000 messages in each format),
//! and against damaged copies of it: truncation, garbage lines, bit flips, deletions.

use std::io::Cursor;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;
use sluice_import::{Entry, Format, Position, ReadError, Reader, detect};

const MESSAGES: usize = 1000;

fn fixture(name: &str) -> Vec<u8> {
    let path = sluice_tests::data_dir().join("small").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn read(format: Format, bytes: Vec<u8>) -> (Vec<Result<Entry, ReadError>>, Reader) {
    let mut reader = Reader::with_format(format, Cursor::new(bytes));
    let items = reader.by_ref().collect();
    (items, reader)
}

/// Reads a store that must be entirely good; returns its entries as values.
fn values(format: Format, bytes: Vec<u8>) -> Vec<Value> {
    let (items, _) = read(format, bytes);
    items
        .into_iter()
        .map(|item| item.unwrap().into_value().unwrap())
        .collect()
}

#[test]
fn small_fixture_formats_agree() {
    let lines = values(Format::JsonLines, fixture("msgs.jsonl"));
    let offset = values(Format::OffsetLog, fixture("log.offset"));
    let bipf = values(Format::BipfLog, fixture("log.bipf"));
    assert_eq!(lines.len(), MESSAGES);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(&offset[i], line, "log.offset entry {i}");
        assert_eq!(&bipf[i], line, "log.bipf entry {i}");
        let (a, b) = (&bipf[i]["value"], &line["value"]);
        let order = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert_eq!(order(a), order(b), "log.bipf entry {i} key order");
        assert_eq!(
            order(&a["content"]),
            order(&b["content"]),
            "entry {i} content key order"
        );
    }
}

#[test]
fn counts_and_positions() {
    let mut reader = sluice_import::open(sluice_tests::data_dir().join("small/log.bipf")).unwrap();
    let first = reader.next().unwrap().unwrap();
    assert_eq!(
        first.pos,
        Position::Block {
            block: 0,
            offset: 0
        }
    );
    assert_eq!(first.pos.to_string(), "block 0 offset 0");
    let last = reader.by_ref().last().unwrap().unwrap();
    assert!(matches!(last.pos, Position::Block { block: 12, .. }));
    let counts = reader.counts();
    assert_eq!(
        (counts.read, counts.unreadable, counts.deleted),
        (1000, 0, 0)
    );
    assert_eq!(reader.bytes_read(), fixture("log.bipf").len() as u64);

    let mut reader =
        sluice_import::open(sluice_tests::data_dir().join("small/log.offset")).unwrap();
    assert_eq!(
        reader.next().unwrap().unwrap().pos.to_string(),
        "byte offset 0"
    );
    assert_eq!(reader.next().unwrap().unwrap().pos, Position::Byte(975));
}

#[test]
fn detection_by_content() {
    let head = |name: &str| {
        let mut bytes = fixture(name);
        bytes.truncate(sluice_import::HEAD);
        bytes
    };
    assert_eq!(detect(&head("msgs.jsonl")), Some(Format::JsonLines));
    assert_eq!(detect(&head("log.offset")), Some(Format::OffsetLog));
    assert_eq!(detect(&head("log.bipf")), Some(Format::BipfLog));
    assert_eq!(
        detect(&head("log.offset")[..8]),
        Some(Format::OffsetLog),
        "a short head"
    );
    assert_eq!(
        detect(&head("log.bipf")[..4]),
        Some(Format::BipfLog),
        "a short head"
    );
    assert_eq!(detect(b"\n\n  {\"a\":1}\n"), Some(Format::JsonLines));
    assert_eq!(
        detect(b""),
        Some(Format::JsonLines),
        "empty input is JSON lines, no entries"
    );
    assert_eq!(detect(b"hello world"), None);
    assert_eq!(detect(b"[1,2,3]"), None);
    assert_eq!(detect(&[0, 0, 0, 0, 0, 0]), None);
}

#[test]
fn unknown_format_and_missing_file_are_clear_errors() {
    let err = Reader::detect(Cursor::new(b"GIF89a....".to_vec())).unwrap_err();
    assert!(matches!(err, ReadError::UnknownFormat { .. }));
    assert!(err.to_string().contains("47 49 46 38"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = sluice_import::open(dir.path().join("nope")).unwrap_err();
    assert!(matches!(err, ReadError::Open { .. }));
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn open_detects_each_file() {
    let dir = sluice_tests::data_dir().join("small");
    for (name, format) in [
        ("msgs.jsonl", Format::JsonLines),
        ("log.offset", Format::OffsetLog),
        ("log.bipf", Format::BipfLog),
    ] {
        let reader = sluice_import::open(dir.join(name)).unwrap();
        assert_eq!(reader.format(), format, "{name}");
        assert_eq!(reader.filter(Result::is_ok).count(), MESSAGES, "{name}");
    }
}

/// Start offsets of every frame of a flumelog-offset file, plus its end.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut at = 0;
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += len + 12;
        starts.push(at);
    }
    starts
}

#[test]
fn truncated_offset_log_reports_the_cut_frame() {
    let bytes = fixture("log.offset");
    let starts = frame_starts(&bytes);
    let last_two = starts[starts.len() - 3];
    for cut in last_two..bytes.len() {
        let (items, reader) = read(Format::OffsetLog, bytes[..cut].to_vec());
        let whole = starts.iter().filter(|&&s| s > 0 && s <= cut).count();
        assert!(items[..whole].iter().all(Result::is_ok), "cut {cut}");
        if starts.contains(&cut) {
            assert_eq!(items.len(), whole, "cut {cut} at a frame boundary");
            continue;
        }
        assert_eq!(items.len(), whole + 1, "cut {cut}");
        let cut_frame = starts[whole] as u64;
        let err = items[whole].as_ref().unwrap_err();
        assert!(
            matches!(err, ReadError::Truncated { pos: Position::Byte(p), .. } if *p == cut_frame),
            "cut {cut}: {err}"
        );
        assert_eq!(reader.counts().unreadable, 1);
    }
}

#[test]
fn inconsistent_offset_frame_ends_the_readable_part() {
    let bytes = fixture("log.offset");
    let starts = frame_starts(&bytes);
    let frame = starts[500];
    let len = starts[501] - frame - 12;
    for (field, what) in [
        (frame + 4 + len, "trailing length"),
        (frame + 8 + len, "trailing offset"),
    ] {
        let mut bad = bytes.clone();
        bad[field + 3] ^= 1;
        let (items, _) = read(Format::OffsetLog, bad);
        assert_eq!(items.len(), 501, "{what}");
        assert!(items[..500].iter().all(Result::is_ok));
        let err = items[500].as_ref().unwrap_err();
        assert!(
            matches!(err, ReadError::BadFrame { pos: Position::Byte(p), .. } if *p == frame as u64)
        );
        assert!(
            err.to_string().contains(what.split(' ').next().unwrap()),
            "{err}"
        );
    }
}

#[test]
fn garbage_lines_are_reported_and_skipped() {
    let good = fixture("msgs.jsonl");
    let good: Vec<&[u8]> = good
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    let long = format!("{{\"x\":\"{}\"}}", "a".repeat(sluice_import::MAX_LINE));
    let mut input = Vec::new();
    for line in [
        good[0],
        b"not json",
        b"",
        b"   \r",
        good[1],
        b"{broken",
        b"[1,2]",
    ]
    .into_iter()
    .chain([
        b"{\"a\":}".as_slice(),
        &[b'{', 0xff, b'}'],
        long.as_bytes(),
        good[2],
    ]) {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    input.extend_from_slice(b"{\"unterminated\": 1"); // no final newline
    let (items, reader) = read(Format::JsonLines, input);
    let lines: Vec<(u64, bool)> = items
        .into_iter()
        .map(|item| match item {
            Ok(entry) => (line_of(entry.pos), entry.into_value().is_ok()),
            Err(err) => (line_of(err.position().unwrap()), false),
        })
        .collect();
    let expected = [
        (1, true),
        (2, false),
        (5, true),
        (6, false),
        (7, false),
        (8, false),
    ];
    let expected = expected
        .into_iter()
        .chain([(9, false), (10, false), (11, true), (12, false)]);
    assert_eq!(lines, expected.collect::<Vec<_>>());
    assert_eq!(reader.counts().unreadable, 5, "{:?}", reader.counts());
}

fn line_of(pos: Position) -> u64 {
    match pos {
        Position::Line(line) => line,
        other => panic!("not a line: {other}"),
    }
}

/// Decoded entries of a log.bipf grouped by block.
fn by_block(items: Vec<Result<Entry, ReadError>>) -> Vec<(u64, Result<Value, ()>)> {
    let block = |pos| match pos {
        Position::Block { block, .. } => block,
        other => panic!("not a block position: {other}"),
    };
    items
        .into_iter()
        .map(|item| match item {
            Ok(entry) => (block(entry.pos), Ok(entry.into_value().unwrap())),
            Err(err) => (block(err.position().unwrap()), Err(())),
        })
        .collect()
}

#[test]
fn bit_flips_in_log_bipf_stay_in_their_block() {
    let bytes = fixture("log.bipf");
    let original = by_block(read(Format::BipfLog, bytes.clone()).0);
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..60 {
        let mut bad = bytes.clone();
        let at = rng.gen_range(0..bad.len());
        bad[at] ^= 1 << rng.gen_range(0..8);
        let hit = (at / 65536) as u64;
        let (items, reader) = read(Format::BipfLog, bad);
        let counts = reader.counts();
        assert_eq!(counts.read + counts.unreadable, items.len() as u64);
        let got = by_block(items);
        let others = |v: &[(u64, Result<Value, ()>)]| {
            v.iter()
                .filter(|(b, _)| *b != hit)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&got), others(&original), "flip at byte {at}");
    }
}

#[test]
fn deleted_bipf_records_are_counted_not_yielded() {
    let mut bytes = fixture("log.bipf");
    let len = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
    bytes[2..2 + len].fill(0);
    assert_eq!(
        detect(&bytes[..100]),
        Some(Format::BipfLog),
        "a deleted first record"
    );
    let (items, reader) = read(Format::BipfLog, bytes);
    assert_eq!(items.len(), MESSAGES - 1);
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(reader.counts().deleted, 1);
}

#[test]
fn medium_fixtures_agree() {
    let Some(lines) = sluice_tests::shared_fixture("fixtures/medium/msgs.jsonl.zst") else {
        return;
    };
    let offset = sluice_tests::shared_fixture("fixtures/medium/log.offset.zst").unwrap();
    let bipf = sluice_tests::shared_fixture("fixtures/medium/log.bipf.zst").unwrap();
    let readers = [
        (Format::JsonLines, lines),
        (Format::OffsetLog, offset),
        (Format::BipfLog, bipf),
    ];
    let [mut a, mut b, mut c] =
        readers.map(|(f, bytes)| Reader::with_format(f, Cursor::new(bytes)));
    let mut n = 0;
    for line in a.by_ref() {
        let line = line.unwrap().into_value().unwrap();
        assert_eq!(
            b.next().unwrap().unwrap().into_value().unwrap(),
            line,
            "log.offset {n}"
        );
        let entry = c.next().unwrap().unwrap().into_value().unwrap();
        assert_eq!(entry, line, "log.bipf {n}");
        n += 1;
    }
    assert!(b.next().is_none() && c.next().is_none());
    assert_eq!(n, 100_000);
}

#[test]
fn records_split_wrapped_and_bare_values() {
    let text = fixture("msgs.jsonl");
    let first = text.split(|&b| b == b'\n').next().unwrap();
    let wrapped: Value = serde_json::from_slice(first).unwrap();
    let bare = serde_json::to_vec(&wrapped["value"]).unwrap();
    let input = [first, b"\n", &bare, b"\n"].concat();
    let (items, _) = read(Format::JsonLines, input);
    let records: Vec<_> = items
        .into_iter()
        .map(|i| i.unwrap().into_record().unwrap())
        .collect();
    assert_eq!(records[0].key.as_deref(), wrapped["key"].as_str());
    assert_eq!(records[0].timestamp, wrapped["timestamp"].as_f64());
    assert_eq!(records[0].value, wrapped["value"]);
    assert_eq!(
        (records[1].key.as_ref(), records[1].timestamp),
        (None, None)
    );
    assert_eq!(records[1].value, wrapped["value"]);
}

#[test]
fn read_steps_hands_over_at_most_max_entries_step_by_step() {
    let bytes = fixture("msgs.jsonl");
    let (all, _) = read(Format::JsonLines, bytes.clone());
    let mut reader = Reader::with_format(Format::JsonLines, Cursor::new(bytes));
    let mut steps = Vec::new();
    assert_eq!(reader.read_steps(250, 64, |s| steps.push(s.len())), 250);
    assert_eq!(steps, [64, 64, 64, 58]);
    steps.clear();
    // The rest: fewer than asked for.
    let rest = reader.read_steps(usize::MAX, 300, |s| steps.push(s.len()));
    assert_eq!(rest, all.len() - 250);
    assert_eq!(steps.iter().sum::<usize>(), rest);
    assert!(steps.iter().all(|&n| n <= 300));
    assert_eq!(reader.read_steps(10, 4, |_| panic!("nothing is left")), 0);
}

/// An input that hands out at most `most` bytes per `read` call, varying the amount.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    most: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.bytes.len() - self.at)
            .min(1 + self.at % self.most);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// One flumelog-offset frame around `data`, which starts at byte `start` of the file.
fn offset_frame(start: usize, data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).unwrap();
    let end = u32::try_from(start + data.len() + 12).unwrap();
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(data);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&end.to_be_bytes());
    frame
}

#[test]
fn offset_frames_across_reads_and_bigger_than_a_read_come_out_whole() {
    // The reader reads 256 KiB at a time: a 600 KiB frame spans three of its reads, and the
    // input hands out at most 4,093 bytes per call.
    let big = format!(
        r#"{{"key":"%big","value":{{"text":"{}"}}}}"#,
        "x".repeat(600 << 10)
    );
    let datas: Vec<Vec<u8>> = (0..300)
        .map(|i| match i {
            150 => big.clone().into_bytes(),
            _ => format!(r#"{{"key":"%{i}","value":{{"n":{}}}}}"#, "7".repeat(i * 13)).into_bytes(),
        })
        .collect();
    let mut file = Vec::new();
    let mut starts = Vec::new();
    for data in &datas {
        starts.push(file.len());
        file.extend(offset_frame(file.len(), data));
    }
    let input = Trickle {
        bytes: file.clone(),
        at: 0,
        most: 4093,
    };
    let items: Vec<_> = Reader::with_format(Format::OffsetLog, input).collect();
    assert_eq!(items.len(), datas.len());
    for ((item, data), start) in items.into_iter().zip(&datas).zip(&starts) {
        let entry = item.unwrap();
        assert_eq!(entry.pos, Position::Byte(*start as u64));
        let sluice_import::Data::Json(bytes) = entry.data else {
            panic!("log.offset entries are JSON text");
        };
        assert_eq!(&bytes[..], &data[..], "frame at {start}");
    }
    // Cut inside the big frame: everything before it, then that frame reported as cut short.
    let cut = starts[150] + 400_000;
    let (items, _) = read(Format::OffsetLog, file[..cut].to_vec());
    assert_eq!(items.len(), 151);
    assert!(items[..150].iter().all(Result::is_ok));
    let err = items[150].as_ref().unwrap_err();
    assert!(
        matches!(err, ReadError::Truncated { pos: Position::Byte(p), have: 400_000, .. }
            if *p == starts[150] as u64),
        "{err}"
    );
}
