//! Deterministic record contents derived from the record's offset, so a reader can check any
//! record it sees without knowing what the writer wrote.

/// The bytes written at `offset`: 1..=1500 bytes of a pattern seeded by the offset.
pub fn payload(offset: u64) -> Vec<u8> {
    let seed = offset.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let len = 1 + (seed >> 40) % 1500;
    (0..len)
        .map(|i| (seed.rotate_left((i % 64) as u32) as u8) ^ (i as u8))
        .collect()
}

/// Appends the payload for the next offset and returns that offset.
pub fn append_next(log: &sluice_log::Log, next: &mut u64) -> u64 {
    let bytes = payload(*next);
    let offset = log.append(&bytes).expect("append");
    assert_eq!(offset, *next, "offsets are predicted from frame sizes");
    *next += sluice_log::format::frame_len(bytes.len()) as u64;
    offset
}
