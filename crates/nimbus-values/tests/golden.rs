//! Golden vectors produced by the real `convex@1.48.0` npm package (`tests/golden/`): our
//! decoder must accept everything `convexToJson` emits and re-encode it byte for byte, reject
//! what `jsonToConvex` rejects, count sizes like `getConvexSize`, and order values like
//! `compareValues` (also through index keys).

use std::path::PathBuf;

use nimbus_values::{Value, encode_index_key};
use serde_json::Value as JsonValue;

const REGENERATE: &str = "npm ci --prefix tests/golden && node tests/golden/generate.mjs";

fn golden() -> JsonValue {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/values.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read golden vectors at {} ({error}); generate them from the repository root with `{REGENERATE}`",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("values.json is valid JSON")
}

fn list<'a>(golden: &'a JsonValue, key: &str) -> &'a Vec<JsonValue> {
    golden[key].as_array().unwrap_or_else(|| {
        panic!("values.json has no `{key}` array; regenerate with `{REGENERATE}`")
    })
}

fn text<'a>(case: &'a JsonValue, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case {case} has no string `{key}`"))
}

#[test]
fn every_encoded_case_round_trips_byte_for_byte() {
    let golden = golden();
    let cases = list(&golden, "cases");
    assert!(
        cases.len() >= 50,
        "expected the full case list, found {}",
        cases.len()
    );
    for case in cases {
        let (name, encoded) = (text(case, "name"), text(case, "encoded"));
        let value = Value::from_json_text(encoded)
            .unwrap_or_else(|error| panic!("case {name:?}: {encoded} failed to decode: {error}"));
        assert_eq!(
            value.to_json_text(),
            encoded,
            "case {name:?} re-encodes differently"
        );
        // The serde_json route must carry the same value.
        let via_json = Value::from_json(&value.to_json()).expect("to_json output decodes");
        assert_eq!(via_json, value, "case {name:?}: to_json/from_json differs");
    }
}

#[test]
fn sizes_match_get_convex_size() {
    let golden = golden();
    for case in list(&golden, "cases") {
        let name = text(case, "name");
        let value = Value::from_json_text(text(case, "encoded")).expect("decodes");
        let expected = case["size"].as_u64().expect("size is a number");
        assert_eq!(value.size_bytes() as u64, expected, "case {name:?}");
    }
}

#[test]
fn every_rejected_input_is_rejected() {
    let golden = golden();
    let rejected = list(&golden, "rejected");
    assert!(!rejected.is_empty());
    for case in rejected {
        let (name, input) = (text(case, "name"), text(case, "input"));
        let result = Value::from_json_text(input);
        assert!(
            result.is_err(),
            "case {name:?}: {input} was accepted as {result:?}, but convex rejects it with {:?}",
            case["error"]
        );
    }
}

#[test]
fn order_matches_compare_values_and_index_keys() {
    let golden = golden();
    let ordered: Vec<Value> = list(&golden, "ordered")
        .iter()
        .map(|encoded| Value::from_json_text(encoded.as_str().expect("string")).expect("decodes"))
        .collect();
    assert!(ordered.len() >= 50);
    for pair in ordered.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{:?} should sort before {:?}",
            pair[0],
            pair[1]
        );
        let keys = [pair[0].clone(), pair[1].clone()].map(|v| encode_index_key(&[Some(v)]));
        assert!(
            keys[0] < keys[1],
            "index key of {:?} should sort before {:?}",
            pair[0],
            pair[1]
        );
    }
}
