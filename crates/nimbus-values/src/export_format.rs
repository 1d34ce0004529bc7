//! The lossy output formats of the HTTP API's `format` parameter (spec §1.2), next to the
//! invertible convex-encoded JSON ([`Value::to_json`]).
//!
//! * `json` / `convex_clean_json` ([`Value::to_clean_json`]): what most HTTP clients get by
//!   default; int64 → decimal string, NaN/±Inf → `"NaN"`/`"Infinity"`/`"-Infinity"`, bytes →
//!   bare base64 string.
//! * `export_json` ([`Value::to_export_json`]): int64 → JSON integer, finite floats → JSON
//!   number, non-finite floats and bytes keep `$float`/`$bytes`.

use std::str::FromStr;

use serde_json::Value as JsonValue;

use crate::json_encode::{float_number, special};
use crate::special::{BYTES_KEY, FLOAT_KEY, bytes_to_base64, float_to_base64};
use crate::value::Value;

/// A value output format selectable with the HTTP API's `format` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// `convex_encoded_json` (alias `convex_json`): invertible, what official clients request.
    ConvexEncodedJson,
    /// `json` (alias `convex_clean_json`): lossy, human-friendly.
    CleanJson,
    /// `export_json`: JSON numbers for int64, specials kept for bytes and non-finite floats.
    ExportJson,
}

/// The `format` string named no known format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown value format {0:?}; use one of convex_encoded_json, convex_json, json, convex_clean_json, export_json"
)]
pub struct UnknownFormatError(pub String);

impl FromStr for ValueFormat {
    type Err = UnknownFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "convex_encoded_json" | "convex_json" => Ok(Self::ConvexEncodedJson),
            "json" | "convex_clean_json" => Ok(Self::CleanJson),
            "export_json" => Ok(Self::ExportJson),
            other => Err(UnknownFormatError(other.to_owned())),
        }
    }
}

impl Value {
    /// The value in the given output format.
    pub fn to_format(&self, format: ValueFormat) -> JsonValue {
        match format {
            ValueFormat::ConvexEncodedJson => self.to_json(),
            ValueFormat::CleanJson => self.to_clean_json(),
            ValueFormat::ExportJson => self.to_export_json(),
        }
    }

    /// The lossy `json` format.
    pub fn to_clean_json(&self) -> JsonValue {
        match self {
            Value::Int64(i) => JsonValue::String(i.to_string()),
            Value::Float64(f) if f.is_finite() => JsonValue::Number(float_number(*f)),
            Value::Float64(f) => JsonValue::String(non_finite_name(*f).to_owned()),
            Value::Bytes(b) => JsonValue::String(bytes_to_base64(b)),
            Value::Array(items) => {
                JsonValue::Array(items.iter().map(Value::to_clean_json).collect())
            }
            Value::Object(object) => JsonValue::Object(
                object
                    .iter()
                    .map(|(name, value)| (name.clone(), value.to_clean_json()))
                    .collect(),
            ),
            Value::Null | Value::Boolean(_) | Value::String(_) => self.to_json(),
        }
    }

    /// The `export_json` format.
    pub fn to_export_json(&self) -> JsonValue {
        match self {
            Value::Int64(i) => JsonValue::Number((*i).into()),
            Value::Float64(f) if f.is_finite() => JsonValue::Number(float_number(*f)),
            Value::Float64(f) => special(FLOAT_KEY, float_to_base64(*f)),
            Value::Bytes(b) => special(BYTES_KEY, bytes_to_base64(b)),
            Value::Array(items) => {
                JsonValue::Array(items.iter().map(Value::to_export_json).collect())
            }
            Value::Object(object) => JsonValue::Object(
                object
                    .iter()
                    .map(|(name, value)| (name.clone(), value.to_export_json()))
                    .collect(),
            ),
            Value::Null | Value::Boolean(_) | Value::String(_) => self.to_json(),
        }
    }
}

/// JavaScript's spelling of a NaN or infinite number.
fn non_finite_name(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Object;
    use serde_json::json;

    #[test]
    fn format_names_parse_with_aliases() {
        assert_eq!("convex_json".parse(), Ok(ValueFormat::ConvexEncodedJson));
        assert_eq!(
            "convex_encoded_json".parse(),
            Ok(ValueFormat::ConvexEncodedJson)
        );
        assert_eq!("json".parse(), Ok(ValueFormat::CleanJson));
        assert_eq!("convex_clean_json".parse(), Ok(ValueFormat::CleanJson));
        assert_eq!("export_json".parse(), Ok(ValueFormat::ExportJson));
        assert!(
            "xml"
                .parse::<ValueFormat>()
                .unwrap_err()
                .to_string()
                .contains("xml")
        );
    }

    #[test]
    fn clean_json_is_lossy_and_plain() {
        assert_eq!(Value::Int64(33).to_clean_json(), json!("33"));
        assert_eq!(
            Value::Int64(i64::MIN).to_clean_json(),
            json!("-9223372036854775808")
        );
        assert_eq!(Value::Float64(f64::NAN).to_clean_json(), json!("NaN"));
        assert_eq!(
            Value::Float64(f64::INFINITY).to_clean_json(),
            json!("Infinity")
        );
        assert_eq!(
            Value::Float64(f64::NEG_INFINITY).to_clean_json(),
            json!("-Infinity")
        );
        assert_eq!(Value::Float64(2.5).to_clean_json(), json!(2.5));
        assert_eq!(Value::Bytes(vec![1, 2, 3]).to_clean_json(), json!("AQID"));
        let mut object = Object::new();
        object
            .insert("n", Value::Array(vec![Value::Int64(-1), Value::Null]))
            .unwrap();
        assert_eq!(
            Value::Object(object).to_format(ValueFormat::CleanJson),
            json!({"n": ["-1", null]})
        );
    }

    #[test]
    fn export_json_uses_numbers_and_keeps_specials() {
        assert_eq!(Value::Int64(33).to_export_json(), json!(33));
        assert_eq!(Value::Int64(i64::MIN).to_export_json(), json!(i64::MIN));
        assert_eq!(Value::Float64(2.5).to_export_json(), json!(2.5));
        assert_eq!(
            Value::Float64(f64::NAN).to_export_json(),
            json!({"$float": "AAAAAAAA+H8="})
        );
        assert_eq!(
            Value::Bytes(vec![1]).to_export_json(),
            json!({"$bytes": "AQ=="})
        );
        assert_eq!(
            Value::Array(vec![Value::Int64(1)]).to_format(ValueFormat::ExportJson),
            json!([1])
        );
        assert_eq!(
            Value::Int64(1).to_format(ValueFormat::ConvexEncodedJson),
            json!({"$integer": "AQAAAAAAAAA="})
        );
    }
}
