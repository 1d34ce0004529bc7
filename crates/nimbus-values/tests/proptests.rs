//! Property tests for the encodings: JSON round trips, index keys preserving the total order,
//! id round trips, and decoders never panicking on arbitrary input; and for the languages over
//! values: filter comparisons agreeing with the total order, validators accepting the values
//! they were built to describe.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde_json::json;

use nimbus_values::{
    DocumentId, Expression, FieldValidator, LiteralValue, MaybeValue, Object, ObjectValidator,
    Presence, TableNumber, Timestamp, Validator, Value, encode_index_key,
};

/// Floats biased towards the awkward ones: NaN payloads, ±0, ±Inf, subnormals, extremes.
fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e21,
            1e-7,
            9_007_199_254_740_993.0,
        ]),
        any::<f64>(),
    ]
}

fn any_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![0, 1, -1, i64::MIN, i64::MAX])
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    "[ -#%-~][ -~]{0,6}|"
}

fn object_of(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(field_name(), values, 0..5)
        .prop_map(|map| Value::Object(Object::try_from(map).expect("strategy makes valid names")))
}

/// Arbitrary values of every type, nested a few levels.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any_int().prop_map(Value::Int64),
        any_float().prop_map(Value::Float64),
        any::<bool>().prop_map(Value::Boolean),
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..10).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            object_of(inner),
        ]
    })
}

/// Values from a tiny domain, so that random pairs are often equal or share long prefixes.
fn close_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        (-2i64..=2).prop_map(Value::Int64),
        prop::sample::select(vec![-0.0, 0.0, 1.0, f64::NAN, f64::NEG_INFINITY])
            .prop_map(Value::Float64),
        any::<bool>().prop_map(Value::Boolean),
        "[a\u{0}\u{1}é]{0,3}".prop_map(Value::String),
        prop::collection::vec(prop::sample::select(vec![0u8, 1, 255]), 0..3).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[ab]{0,1}", inner, 0..3)
                .prop_map(|map| Value::Object(Object::try_from(map).expect("valid names"))),
        ]
    })
}

fn maybe(values: impl Strategy<Value = Value>) -> impl Strategy<Value = MaybeValue> {
    prop::option::weighted(0.85, values)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_round_trips(value in any_value()) {
        prop_assert_eq!(&Value::from_json(&value.to_json()).unwrap(), &value);
        let text = value.to_json_text();
        prop_assert_eq!(&Value::from_json_text(&text).unwrap(), &value);
        // Re-encoding the decoded value is stable, byte for byte.
        prop_assert_eq!(Value::from_json_text(&text).unwrap().to_json_text(), text);
    }

    #[test]
    fn index_keys_preserve_order(a in any_value(), b in any_value()) {
        let keys = (encode_index_key(&[Some(a.clone())]), encode_index_key(&[Some(b.clone())]));
        prop_assert_eq!(a.cmp(&b), keys.0.cmp(&keys.1));
    }

    #[test]
    fn index_keys_preserve_order_of_close_values(a in close_value(), b in close_value()) {
        let keys = (encode_index_key(&[Some(a.clone())]), encode_index_key(&[Some(b.clone())]));
        prop_assert_eq!(a.cmp(&b), keys.0.cmp(&keys.1), "{:?} vs {:?}", a, b);
    }

    #[test]
    fn index_keys_preserve_tuple_order(
        a in prop::collection::vec(maybe(close_value()), 0..4),
        b in prop::collection::vec(maybe(close_value()), 0..4),
    ) {
        prop_assert_eq!(a.cmp(&b), encode_index_key(&a).cmp(&encode_index_key(&b)), "{:?} vs {:?}", a, b);
    }

    #[test]
    fn ids_round_trip(table in 1u32..=u32::MAX, internal in any::<[u8; 16]>()) {
        let id = DocumentId::new(TableNumber::new(table).unwrap(), internal);
        let text = id.encode();
        prop_assert!(matches!(text.len(), 31 | 32 | 34 | 36 | 37));
        prop_assert_eq!(DocumentId::decode(&text).unwrap(), id);
    }

    #[test]
    fn corrupting_one_id_character_is_detected(internal in any::<[u8; 16]>(), position in 0usize..32, replacement in "[0-9a-hjkmnp-tv-z]") {
        let text = DocumentId::new(TableNumber::new(10_001).unwrap(), internal).encode();
        let mut corrupted = text.clone();
        corrupted.replace_range(position..=position, &replacement);
        prop_assume!(corrupted != text);
        prop_assert!(DocumentId::decode(&corrupted).is_err());
    }

    #[test]
    fn id_decoding_never_panics(text in any::<String>(), alphabet_text in "[0-9a-z]{29,38}") {
        let _ = DocumentId::decode(&text);
        let _ = DocumentId::decode(&alphabet_text);
    }

    #[test]
    fn value_decoding_never_panics(text in any::<String>(), jsonish in r#"[\[\]{}",:0-9a-z$ .eE+-]{0,40}"#) {
        let _ = Value::from_json_text(&text);
        let _ = Value::from_json_text(&jsonish);
        let _ = Timestamp::from_wire_string(&text);
    }

    #[test]
    fn special_objects_with_arbitrary_payloads_never_panic(key in "\\$(integer|float|bytes|set|map|undefined|commitTs|x)", payload in "[A-Za-z0-9+/=]{0,16}") {
        let _ = Value::from_json(&serde_json::json!({ key: payload }));
    }

    #[test]
    fn timestamps_round_trip(nanos in any::<u64>()) {
        let ts = Timestamp(nanos);
        prop_assert_eq!(Timestamp::from_wire_string(&ts.to_wire_string()).unwrap(), ts);
    }
}

/// `{"$literal": v}`, with `undefined` as `{"$undefined": null}`.
fn literal_json(value: &MaybeValue) -> serde_json::Value {
    let encoded = value
        .as_ref()
        .map_or_else(|| json!({"$undefined": null}), Value::to_json);
    json!({ "$literal": encoded })
}

/// A validator that describes exactly the shape of `value` (strings and booleans as literals,
/// every object field required), so it must accept `value`.
fn shape_validator(value: &Value) -> Validator {
    match value {
        Value::Null => Validator::Null,
        Value::Int64(_) => Validator::Int64,
        // Float literals are left out: a NaN literal is not `==` to itself under `PartialEq`.
        Value::Float64(_) => Validator::Float64,
        Value::Boolean(b) => Validator::Literal(LiteralValue::Boolean(*b)),
        Value::String(s) => Validator::Union(vec![
            Validator::Literal(LiteralValue::String(s.clone())),
            Validator::String,
        ]),
        Value::Bytes(_) => Validator::Bytes,
        Value::Array(items) => Validator::Array(Box::new(Validator::Union(
            items.iter().map(shape_validator).collect(),
        ))),
        Value::Object(object) => {
            let fields: BTreeMap<String, FieldValidator> = object
                .iter()
                .map(|(name, field)| {
                    let validator = shape_validator(field);
                    let presence = Presence::Required;
                    (
                        name.clone(),
                        FieldValidator {
                            validator,
                            presence,
                        },
                    )
                })
                .collect();
            Validator::Object(ObjectValidator { fields })
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn eq_of_a_literal_with_itself_is_true(value in maybe(any_value())) {
        let literal = literal_json(&value);
        let expression = Expression::from_json(&json!({ "$eq": [literal, literal] })).unwrap();
        prop_assert!(expression.matches(&Object::new()).unwrap());
    }

    #[test]
    fn a_field_equals_the_value_stored_in_it(value in any_value()) {
        let mut document = Object::new();
        document.insert("x", value.clone()).unwrap();
        let filter = json!({ "$eq": [{ "$field": "x" }, literal_json(&Some(value))] });
        prop_assert!(Expression::from_json(&filter).unwrap().matches(&document).unwrap());
    }

    #[test]
    fn comparisons_agree_with_the_total_order(a in maybe(close_value()), b in maybe(close_value())) {
        let ordering = a.cmp(&b);
        let expected = [
            ("$eq", ordering == Ordering::Equal),
            ("$neq", ordering != Ordering::Equal),
            ("$lt", ordering == Ordering::Less),
            ("$lte", ordering != Ordering::Greater),
            ("$gt", ordering == Ordering::Greater),
            ("$gte", ordering != Ordering::Less),
        ];
        for (operator, result) in expected {
            let filter = json!({ operator: [literal_json(&a), literal_json(&b)] });
            prop_assert_eq!(
                Expression::from_json(&filter).unwrap().matches(&Object::new()).unwrap(),
                result,
                "{} {:?} {:?}", operator, a, b
            );
        }
    }

    #[test]
    fn validators_accept_the_values_they_describe_and_round_trip(value in any_value()) {
        let validator = shape_validator(&value);
        let tables: HashMap<TableNumber, String> = HashMap::new();
        prop_assert!(validator.validate(&value, &tables).is_ok(), "{}", validator.describe());
        prop_assert_eq!(&Validator::from_json(&validator.to_json()).unwrap(), &validator);
    }

    #[test]
    fn objects_missing_a_described_field_are_rejected(value in any_value()) {
        let Value::Object(object) = &value else { return Ok(()) };
        let Some((name, _)) = object.iter().next() else { return Ok(()) };
        let mut smaller = object.clone();
        smaller.remove(&name.clone());
        let tables: HashMap<TableNumber, String> = HashMap::new();
        let error = shape_validator(&value).validate(&Value::Object(smaller), &tables).unwrap_err();
        let expected = format!("Object is missing the required field `{name}`.");
        prop_assert!(error.message().starts_with(&expected), "{}", error);
    }
}
