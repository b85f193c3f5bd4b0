//! Conformance: the 126 cases of the ssb-validation-dataset give the same verdicts as JS.

use serde_json::Value;
use sluice_msg::{FeedState, HmacKey, Message, ValidationError, validate};

/// The verdict for one case: the HMAC key, the state and the message, in that order of checks.
fn verdict(case: &Value) -> Result<Message, ValidationError> {
    let hmac = match &case["hmacKey"] {
        Value::Null => None,
        Value::String(s) => Some(s.parse::<HmacKey>()?),
        _ => return Err(ValidationError::HmacKey),
    };
    let state = case["state"].as_object().map(|s| FeedState {
        id: s["id"]
            .as_str()
            .expect("state id")
            .parse()
            .expect("state id is a msg id"),
        sequence: s["sequence"].as_u64().expect("state sequence"),
        timestamp: s.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0),
    });
    let msg = Message::from_value(case["message"].clone())?;
    validate(state.as_ref(), &msg, hmac.as_ref())?;
    Ok(msg)
}

#[test]
fn every_dataset_case_matches_js() {
    let path = sluice_tests::data_dir().join("validation/data.json");
    let cases: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(cases.len(), 126);
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let want = case["valid"].as_bool().unwrap();
        let got = verdict(case);
        if got.is_ok() != want {
            failures.push(format!(
                "case {i}: want valid={want}, got {got:?}; js error {}",
                case["error"]
            ));
        }
        if let (Ok(msg), Some(id)) = (&got, case["id"].as_str()) {
            assert_eq!(msg.id().to_string(), id, "case {i}: id");
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn dataset_covers_state_cases() {
    let path = sluice_tests::data_dir().join("validation/data.json");
    let cases: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let with_state = cases.iter().filter(|c| !c["state"].is_null()).count();
    assert_eq!(with_state, 3);
}
