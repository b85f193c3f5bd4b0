//! The fuzz target's body on the dataset messages and simple mutations of them.

#[path = "support/fuzz_roundtrip.rs"]
mod fuzz_roundtrip;

/// The dataset's messages as JSON text (compact, and pretty when asked).
fn dataset_texts(pretty: bool) -> Vec<Vec<u8>> {
    let path = sluice_tests::data_dir().join("validation/data.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for case in &cases {
        out.push(serde_json::to_vec(&case["message"]).unwrap());
        if pretty {
            out.push(serde_json::to_vec_pretty(&case["message"]).unwrap());
        }
    }
    out
}

/// Runs `body` on `text`, on truncations of it and on single-byte flips, every `step` bytes.
fn with_mutations(text: &[u8], step: usize, body: impl Fn(&[u8])) {
    body(text);
    for cut in (0..text.len()).step_by(step) {
        body(&text[..cut]);
        let mut flipped = text.to_vec();
        flipped[cut] ^= 0x01;
        body(&flipped);
    }
}

#[test]
fn fuzz_body_holds_on_dataset_messages_and_mutations() {
    for text in dataset_texts(false) {
        with_mutations(&text, 97, fuzz_roundtrip::roundtrip);
    }
    fuzz_roundtrip::roundtrip(br#"{"1e2":1e400,"x":[-0,1e-7,"\u0000\ud83d\ude00"]}"#);
}

#[path = "support/fuzz_fast.rs"]
mod fuzz_fast;

/// Dataset messages (compact and pretty), their truncations and byte flips, and hand-made
/// content that exercises each thing the tree-free path copies, rewrites or gives up on.
#[test]
fn fast_path_agrees_with_tree_path() {
    for text in dataset_texts(true) {
        with_mutations(&text, 53, fuzz_fast::fast_vs_tree);
    }
    let contents: &[&str] = &[
        r#"{"type":"post","text":"plain"}"#,
        r#"{"type":"post","text":"esc \" \\ \/ \b\f\n\r\t \u0001 \u001f \u007f \u00e9 \u2028 \ud83d\ude00 é 😀"}"#,
        r#"{"type":"post","text":"lone \ud83d"}"#,
        r#"{"type":"post","text":"lone \ude00 low"}"#,
        r#"{"type":"post","text":"raw control 	tab"}"#,
        r#"{"type":"p\u006fst"}"#,
        r#"{"type":"x"}"#,
        r#"{"type":"a type that is longer than fifty-two utf-16 code units, surely"}"#,
        r#"{"type":7}"#,
        r#"{"text":"no type"}"#,
        r#"{"type":"post","n":[0,-0,-0.0,1.0,1.5,1e21,1e20,1e-7,0.000001,123456789012345,1234567890123456,12345678901234567890,123456789012345678901234567890,-9007199254740993,5e-324,1E+2]}"#,
        r#"{"type":"post","big":1e400}"#,
        r#"{"type":"post","neg":-1e400}"#,
        r#"{"type":"post","1":"index key","b":2,"0":3}"#,
        r#"{"type":"post","4294967295":"not an index","01":"nor this"}"#,
        r#"{"type":"post","dup":1,"dup":2}"#,
        r#"{"type":"post","type":"vote"}"#,
        r#"{"type":"post","k\"ey":1,"k\u0065y":2}"#,
        r#"{ "type" : "post" , "a" : [ 1 , { } , [ ] , { "b" : null } ] , "t" : true , "f" : false }"#,
        r#"{"type":"post","deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        r#""AAAA.box""#,
        r#"".box""#,
        r#""AAAA.box\nx""#,
        r#""not encrypted""#,
        r#"null"#,
        r#"[1,2]"#,
        r#"{"type":"post",}"#,
        r#"{"type":"post"} trailing"#,
        r#"{"type":"post","x":01}"#,
        r#"{"type":"post","x":1.}"#,
        r#"{"type":"post","x":.5}"#,
        r#"{"type":"post","x":tru}"#,
    ];
    for content in contents {
        fuzz_fast::fast_vs_tree(content.as_bytes());
    }
    let deep = format!(
        r#"{{"type":"post","d":{}1{}}}"#,
        "[".repeat(140),
        "]".repeat(140)
    );
    fuzz_fast::fast_vs_tree(deep.as_bytes());
}
