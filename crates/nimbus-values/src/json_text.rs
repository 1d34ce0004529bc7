//! Convex-encoded JSON as text, byte-for-byte what JavaScript's
//! `JSON.stringify(convexToJson(v))` produces.
//!
//! Clients, caches and golden tests compare the text, so it has to match JavaScript exactly:
//! keys sorted, no whitespace, numbers formatted like `Number.prototype.toString` (`1e+308`,
//! `5e-324`, `1` rather than serde_json's `1e308`/`1.0`; done by `ryu-js`), and strings
//! escaped like `JSON.stringify` (only `"`, `\`, and control characters below U+0020 —
//! serde_json's string escaping is identical, so we reuse it; Rust strings cannot hold the lone
//! surrogates JavaScript would also escape).
//!
//! One JavaScript quirk matters for objects: although `convexToJson` sorts keys, JavaScript
//! objects always enumerate array-index keys (`"0"`, `"9"`, `"10"`, … up to 2^32−2) first, in
//! numeric order, before all other keys. `JSON.stringify` follows that, so we do too.

use std::fmt::Write as _;

use crate::special::{
    BYTES_KEY, FLOAT_KEY, INTEGER_KEY, bytes_to_base64, float_to_base64, int64_to_base64,
    is_special_float,
};
use crate::value::Value;

impl Value {
    /// Convex-encoded JSON text, identical to `JSON.stringify(convexToJson(v))` in JavaScript.
    pub fn to_json_text(&self) -> String {
        let mut out = String::new();
        write_value(self, &mut out);
        out
    }
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int64(i) => write_special(INTEGER_KEY, &int64_to_base64(*i), out),
        Value::Float64(f) if is_special_float(*f) => {
            write_special(FLOAT_KEY, &float_to_base64(*f), out);
        }
        Value::Float64(f) => out.push_str(ryu_js::Buffer::new().format_finite(*f)),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => write_string(s, out),
        Value::Bytes(b) => write_special(BYTES_KEY, &bytes_to_base64(b), out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            let mut fields: Vec<_> = object.iter().collect();
            // Stable sort: non-index keys keep their byte order after the index keys.
            fields.sort_by_key(|(name, _)| {
                array_index(name).map_or(ArrayIndexFirst::No, ArrayIndexFirst::Yes)
            });
            for (index, (name, item)) in fields.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

/// Sort key putting JavaScript array-index keys first, in numeric order.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum ArrayIndexFirst {
    Yes(u32),
    No,
}

/// The key's value if JavaScript treats it as an array index: the canonical decimal spelling
/// (no sign, no leading zeros) of an integer below 2^32 − 1.
fn array_index(key: &str) -> Option<u32> {
    let canonical =
        key == "0" || (!key.starts_with('0') && key.bytes().all(|b| b.is_ascii_digit()));
    if !canonical || key.is_empty() {
        return None;
    }
    key.parse::<u32>().ok().filter(|&index| index != u32::MAX)
}

fn write_special(key: &str, payload: &str, out: &mut String) {
    // Keys and base64 payloads never need escaping.
    let _ = write!(out, "{{\"{key}\":\"{payload}\"}}");
}

fn write_string(s: &str, out: &mut String) {
    match serde_json::to_string(s) {
        Ok(escaped) => out.push_str(&escaped),
        // Serializing a &str cannot fail; keep the output well-formed regardless.
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Object;

    #[test]
    fn numbers_format_like_javascript() {
        let cases = [
            (1.0, "1"),
            (0.0, "0"),
            (1.5, "1.5"),
            (-2.0, "-2"),
            (1e308, "1e+308"),
            (5e-324, "5e-324"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (number, text) in cases {
            assert_eq!(Value::Float64(number).to_json_text(), text, "{number:e}");
        }
        assert_eq!(
            Value::Float64(-0.0).to_json_text(),
            r#"{"$float":"AAAAAAAAAIA="}"#
        );
    }

    #[test]
    fn strings_escape_like_json_stringify() {
        let text = Value::from("q\"b\\\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}\u{2028}é😀").to_json_text();
        assert_eq!(
            text,
            "\"q\\\"b\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}\u{2028}é😀\""
        );
    }

    #[test]
    fn array_index_keys_come_first_like_javascript_objects() {
        let mut object = Object::new();
        for name in [
            "b",
            "10",
            "9",
            "01",
            "-1",
            "4294967295",
            "4294967294",
            " ",
            "",
        ] {
            object.insert(name, Value::Null).unwrap();
        }
        assert_eq!(
            Value::Object(object).to_json_text(),
            r#"{"9":null,"10":null,"4294967294":null,"":null," ":null,"-1":null,"01":null,"4294967295":null,"b":null}"#
        );
    }

    #[test]
    fn containers_have_sorted_keys_and_no_whitespace() {
        let mut object = Object::new();
        object.insert("b", Value::Int64(1)).unwrap();
        object
            .insert("a", Value::Array(vec![Value::Null, Value::Boolean(false)]))
            .unwrap();
        object.insert("c", Value::Bytes(vec![1, 2, 3])).unwrap();
        assert_eq!(
            Value::Object(object).to_json_text(),
            r#"{"a":[null,false],"b":{"$integer":"AQAAAAAAAAA="},"c":{"$bytes":"AQID"}}"#
        );
    }
}
