//! Value → convex-encoded JSON (`convexToJson`), as a `serde_json::Value`.
//!
//! For exact JavaScript-compatible text use [`Value::to_json_text`] instead: serde_json formats
//! some floats differently from JavaScript (`1e308` vs `1e+308`), and JavaScript objects list
//! array-index keys such as `"10"` before other keys.

use serde_json::{Map, Number, Value as JsonValue};

use crate::special::{
    BYTES_KEY, FLOAT_KEY, INTEGER_KEY, bytes_to_base64, float_to_base64, int64_to_base64,
    is_special_float,
};
use crate::value::Value;

impl Value {
    /// Convex-encoded JSON, the invertible wire encoding. Object keys come out sorted.
    pub fn to_json(&self) -> JsonValue {
        match self {
            Value::Null => JsonValue::Null,
            Value::Int64(i) => special(INTEGER_KEY, int64_to_base64(*i)),
            Value::Float64(f) if is_special_float(*f) => special(FLOAT_KEY, float_to_base64(*f)),
            Value::Float64(f) => JsonValue::Number(float_number(*f)),
            Value::Boolean(b) => JsonValue::Bool(*b),
            Value::String(s) => JsonValue::String(s.clone()),
            Value::Bytes(b) => special(BYTES_KEY, bytes_to_base64(b)),
            Value::Array(items) => JsonValue::Array(items.iter().map(Value::to_json).collect()),
            Value::Object(object) => JsonValue::Object(
                object
                    .iter()
                    .map(|(name, value)| (name.clone(), value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Integers up to 2^53 in magnitude are exactly representable in both f64 and i64.
const MAX_SAFE_INTEGER_F64: f64 = 9_007_199_254_740_992.0;

/// A finite float as a JSON number. Integral values become integer numbers so that
/// `serde_json::to_string` prints `1` like JavaScript does, not `1.0`; decoding turns every
/// JSON number back into the same Float64.
pub(crate) fn float_number(value: f64) -> Number {
    if value.fract() == 0.0 && value.abs() <= MAX_SAFE_INTEGER_F64 {
        // Integral and within ±2^53, so the cast is exact.
        return Number::from(value as i64);
    }
    // Finite (callers handle NaN/±Inf), so from_f64 succeeds; 0 is a safe fallback.
    Number::from_f64(value).unwrap_or_else(|| Number::from(0))
}

/// `{"<key>": "<payload>"}`.
pub(crate) fn special(key: &str, payload: String) -> JsonValue {
    let mut map = Map::new();
    map.insert(key.to_owned(), JsonValue::String(payload));
    JsonValue::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Object;
    use serde_json::json;

    #[test]
    fn scalars_encode_per_spec() {
        assert_eq!(Value::Null.to_json(), json!(null));
        assert_eq!(
            Value::Int64(1).to_json(),
            json!({"$integer": "AQAAAAAAAAA="})
        );
        assert_eq!(
            Value::Int64(-1).to_json(),
            json!({"$integer": "//////////8="})
        );
        assert_eq!(Value::Float64(1.5).to_json(), json!(1.5));
        assert_eq!(Value::Float64(0.0).to_json(), json!(0));
        assert_eq!(Value::Float64(-3.0).to_json(), json!(-3));
        assert_eq!(Value::Float64(1e300).to_json(), json!(1e300));
        assert_eq!(
            Value::Float64(-0.0).to_json(),
            json!({"$float": "AAAAAAAAAIA="})
        );
        assert_eq!(
            Value::Float64(f64::NAN).to_json(),
            json!({"$float": "AAAAAAAA+H8="})
        );
        assert_eq!(
            Value::Float64(f64::INFINITY).to_json(),
            json!({"$float": "AAAAAAAA8H8="})
        );
        assert_eq!(
            Value::Float64(f64::NEG_INFINITY).to_json(),
            json!({"$float": "AAAAAAAA8P8="})
        );
        assert_eq!(Value::Boolean(true).to_json(), json!(true));
        assert_eq!(Value::from("x").to_json(), json!("x"));
        assert_eq!(
            Value::Bytes(vec![1, 2, 3]).to_json(),
            json!({"$bytes": "AQID"})
        );
    }

    #[test]
    fn containers_encode_recursively_with_sorted_keys() {
        let mut object = Object::new();
        object.insert("b", Value::Float64(1.0)).unwrap();
        let array = Value::Array(vec![Value::Null, Value::Boolean(true), Value::from("x")]);
        object.insert("a", array).unwrap();
        let json = Value::Object(object).to_json();
        assert_eq!(json, json!({"a": [null, true, "x"], "b": 1}));
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            r#"{"a":[null,true,"x"],"b":1}"#
        );
    }
}
