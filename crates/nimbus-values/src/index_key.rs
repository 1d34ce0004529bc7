//! Order-preserving byte encoding of value tuples, for index keys in byte-ordered storage.
//!
//! For any tuples `a` and `b` of [`MaybeValue`]s, `encode_index_key(a).cmp(&encode_index_key(b))`
//! equals `a.cmp(b)` (the Convex total order, lexicographic over the tuple, shorter prefix
//! first). That works because every element's encoding is *prefix-free* (no encoding is a
//! proper prefix of another), so concatenating them compares element by element.
//!
//! Layout of one element: a type tag byte, then a payload.
//!
//! | tag | type | payload |
//! |---|---|---|
//! | `0x01` | undefined (`None`) | — |
//! | `0x02` | null | — |
//! | `0x03` | int64 | 8 bytes big-endian with the sign bit flipped (negatives first) |
//! | `0x04` | float64 | 8 bytes big-endian of the IEEE total-order transform: negative → all bits flipped, positive → sign bit set |
//! | `0x05` / `0x06` | false / true | — |
//! | `0x07` | string | UTF-8 bytes, `0x00` escaped as `0x00 0xFF`, terminated by `0x00 0x00` |
//! | `0x08` | bytes | as string |
//! | `0x09` | array | each element encoded (tag + payload), then `0x00` |
//! | `0x0A` | object | per field in name order: the name encoded as a string (tag `0x07` included) then the value; then `0x00` |
//!
//! The escape makes a shorter string sort first (`0x00 0x00` < `0x00 0xFF` < any other byte
//! after the real content), and the `0x00` container terminator is below every tag, so shorter
//! arrays/objects sort first. Tags follow the order of §1.3. Object names carry their tag so
//! that the empty name (`0x07 0x00 0x00`) cannot be mistaken for the terminator.

use crate::value::{MaybeValue, Value};

const TAG_END: u8 = 0x00;
const TAG_UNDEFINED: u8 = 0x01;
const TAG_NULL: u8 = 0x02;
const TAG_INT64: u8 = 0x03;
const TAG_FLOAT64: u8 = 0x04;
const TAG_FALSE: u8 = 0x05;
const TAG_TRUE: u8 = 0x06;
const TAG_STRING: u8 = 0x07;
const TAG_BYTES: u8 = 0x08;
const TAG_ARRAY: u8 = 0x09;
const TAG_OBJECT: u8 = 0x0a;

/// Byte that follows an escaped `0x00` inside a string or bytes payload.
const ESCAPED_ZERO: u8 = 0xff;

/// Encodes a tuple of possibly-undefined values so that byte order equals value order.
pub fn encode_index_key(values: &[MaybeValue]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        match value {
            None => out.push(TAG_UNDEFINED),
            Some(value) => encode_value(value, &mut out),
        }
    }
    out
}

/// Appends one value's encoding.
pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Int64(i) => {
            out.push(TAG_INT64);
            out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes());
        }
        Value::Float64(f) => {
            out.push(TAG_FLOAT64);
            out.extend_from_slice(&total_order_bits(*f).to_be_bytes());
        }
        Value::Boolean(false) => out.push(TAG_FALSE),
        Value::Boolean(true) => out.push(TAG_TRUE),
        Value::String(s) => encode_escaped(TAG_STRING, s.as_bytes(), out),
        Value::Bytes(b) => encode_escaped(TAG_BYTES, b, out),
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            for item in items {
                encode_value(item, out);
            }
            out.push(TAG_END);
        }
        Value::Object(object) => {
            out.push(TAG_OBJECT);
            for (name, item) in object {
                encode_escaped(TAG_STRING, name.as_bytes(), out);
                encode_value(item, out);
            }
            out.push(TAG_END);
        }
    }
}

/// Maps f64 bits to a u64 whose unsigned order is `f64::total_cmp` order.
fn total_order_bits(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn encode_escaped(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    for &byte in bytes {
        out.push(byte);
        if byte == 0 {
            out.push(ESCAPED_ZERO);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Object;

    fn key(value: Value) -> Vec<u8> {
        encode_index_key(&[Some(value)])
    }

    #[test]
    fn layout_is_as_documented() {
        assert_eq!(encode_index_key(&[None]), [TAG_UNDEFINED]);
        assert_eq!(key(Value::Null), [TAG_NULL]);
        assert_eq!(key(Value::Int64(0)), [TAG_INT64, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            key(Value::Int64(-1)),
            [TAG_INT64, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            key(Value::Float64(0.0)),
            [TAG_FLOAT64, 0x80, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            key(Value::Float64(-0.0)),
            [TAG_FLOAT64, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            key(Value::from("a\0b")),
            [TAG_STRING, b'a', 0, 0xff, b'b', 0, 0]
        );
        assert_eq!(key(Value::Bytes(vec![])), [TAG_BYTES, 0, 0]);
        assert_eq!(
            key(Value::Array(vec![Value::Null])),
            [TAG_ARRAY, TAG_NULL, TAG_END]
        );
        let mut object = Object::new();
        object.insert("", Value::Boolean(true)).unwrap();
        assert_eq!(
            key(Value::Object(object)),
            [TAG_OBJECT, TAG_STRING, 0, 0, TAG_TRUE, TAG_END]
        );
    }

    #[test]
    fn byte_order_matches_value_order_on_tricky_pairs() {
        let mut empty_name = Object::new();
        empty_name.insert("", Value::Null).unwrap();
        let ascending = [
            vec![None],
            vec![Some(Value::Null)],
            vec![Some(Value::Int64(i64::MIN))],
            vec![Some(Value::Int64(-1))],
            vec![Some(Value::Int64(i64::MAX))],
            vec![Some(Value::Float64(f64::NEG_INFINITY))],
            vec![Some(Value::Float64(-0.0))],
            vec![Some(Value::Float64(0.0))],
            vec![Some(Value::Float64(f64::NAN))],
            vec![Some(Value::Boolean(false))],
            vec![Some(Value::Boolean(true))],
            vec![Some(Value::from("")), Some(Value::Null)],
            vec![Some(Value::from("\0"))],
            vec![Some(Value::from("\0\0"))],
            vec![Some(Value::from("\u{1}"))],
            vec![Some(Value::Bytes(vec![]))],
            vec![Some(Value::Array(vec![])), Some(Value::Int64(5))],
            vec![Some(Value::Array(vec![Value::Null]))],
            vec![Some(Value::Object(Object::new())), Some(Value::Null)],
            vec![Some(Value::Object(empty_name))],
        ];
        for pair in ascending.windows(2) {
            assert!(pair[0] < pair[1], "values {:?} !< {:?}", pair[0], pair[1]);
            assert!(
                encode_index_key(&pair[0]) < encode_index_key(&pair[1]),
                "keys of {:?} !< {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}
