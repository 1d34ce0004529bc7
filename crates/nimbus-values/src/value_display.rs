//! Values rendered for people, in error messages (`Value: {a: 1.0, b: "x"}`), in the style the
//! Convex backend uses so that messages read the same: floats always show a fraction or an
//! exponent (`1.0`), int64s are bare digits, strings are quoted and escaped.
//!
//! This is deliberately not JSON: it must be unambiguous about types (int64 `1` vs float `1.0`)
//! and short. Rendered text is capped at [`MAX_RENDERED_VALUE_CHARS`] so a 1 MiB document cannot
//! turn into a 1 MiB error message.

use std::fmt::Write;

use crate::value::Value;

/// Longest rendering of one value inside an error message, in characters; longer renderings end
/// with `…`. Large enough for any realistic argument object, small enough for a log line.
pub const MAX_RENDERED_VALUE_CHARS: usize = 2048;

/// The value as error messages show it, truncated to [`MAX_RENDERED_VALUE_CHARS`].
pub(crate) fn render_value(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    truncate(out)
}

/// Like [`render_value`], with JavaScript's `undefined` for a missing value.
pub(crate) fn render_maybe_value(value: Option<&Value>) -> String {
    value.map_or_else(|| "undefined".to_owned(), render_value)
}

/// The type's name as the Convex backend spells it in evaluation errors.
pub(crate) fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "Null",
        Some(Value::Int64(_)) => "Int64",
        Some(Value::Float64(_)) => "Float64",
        Some(Value::Boolean(_)) => "Boolean",
        Some(Value::String(_)) => "String",
        Some(Value::Bytes(_)) => "Bytes",
        Some(Value::Array(_)) => "Array",
        Some(Value::Object(_)) => "Object",
    }
}

fn write_value(value: &Value, out: &mut String) {
    // Writing to a String cannot fail, so the fmt::Results below carry no information.
    match value {
        Value::Null => out.push_str("null"),
        Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float64(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        Value::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        Value::Bytes(b) => {
            let _ = write!(out, "ArrayBuffer({} bytes)", b.len());
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
                // Stop early: the rest would be cut off anyway.
                if out.len() > MAX_RENDERED_VALUE_CHARS * 4 {
                    break;
                }
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (index, (name, field)) in object.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push_str(": ");
                write_value(field, out);
                if out.len() > MAX_RENDERED_VALUE_CHARS * 4 {
                    break;
                }
            }
            out.push('}');
        }
    }
}

fn truncate(text: String) -> String {
    match text.char_indices().nth(MAX_RENDERED_VALUE_CHARS) {
        None => text,
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Object;

    #[test]
    fn renders_like_the_convex_backend() {
        let mut object = Object::new();
        object.insert("b", Value::from("x\"y")).unwrap();
        object
            .insert(
                "a",
                Value::Array(vec![Value::Int64(1), Value::Float64(1.0)]),
            )
            .unwrap();
        object.insert("c", Value::Bytes(vec![1, 2])).unwrap();
        object.insert("d", Value::Null).unwrap();
        object.insert("e", Value::Boolean(true)).unwrap();
        assert_eq!(
            render_value(&Value::Object(object)),
            r#"{a: [1, 1.0], b: "x\"y", c: ArrayBuffer(2 bytes), d: null, e: true}"#
        );
        assert_eq!(render_maybe_value(None), "undefined");
        assert_eq!(render_value(&Value::Float64(f64::NAN)), "NaN");
    }

    #[test]
    fn long_renderings_are_truncated_on_a_character_boundary() {
        let text = render_value(&Value::from("é".repeat(MAX_RENDERED_VALUE_CHARS)));
        assert_eq!(text.chars().count(), MAX_RENDERED_VALUE_CHARS + 1);
        assert!(text.ends_with('…'));
        let many = Value::Array(vec![Value::Int64(7); 100_000]);
        assert!(render_value(&many).chars().count() <= MAX_RENDERED_VALUE_CHARS + 1);
    }
}
