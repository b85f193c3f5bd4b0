//! The fuzz target's body on the dataset messages and simple mutations of them.

#[path = "support/fuzz_roundtrip.rs"]
mod fuzz_roundtrip;

#[test]
fn fuzz_body_holds_on_dataset_messages_and_mutations() {
    let path = sluice_tests::data_dir().join("validation/data.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for case in &cases {
        let text = serde_json::to_vec(&case["message"]).unwrap();
        fuzz_roundtrip::roundtrip(&text);
        // Truncations and single-byte flips.
        for cut in (0..text.len()).step_by(97) {
            fuzz_roundtrip::roundtrip(&text[..cut]);
            let mut flipped = text.clone();
            flipped[cut] ^= 0x01;
            fuzz_roundtrip::roundtrip(&flipped);
        }
    }
    fuzz_roundtrip::roundtrip(br#"{"1e2":1e400,"x":[-0,1e-7,"\u0000\ud83d\ude00"]}"#);
}
