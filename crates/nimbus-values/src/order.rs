//! The Convex total order over values (spec §1.3), as `Ord`, plus the `Eq`/`Hash` that agree
//! with it.
//!
//! undefined (`None` in a [`crate::MaybeValue`]) < null < int64 < float64 < boolean < string
//! (UTF-8 byte order) < bytes < array (lexicographic) < object (lexicographic over sorted
//! `(name, value)` pairs). Floats use IEEE 754 total order (`f64::total_cmp`), so −0 < +0 and
//! NaNs order by sign and bit pattern; consequently two floats are equal exactly when their bit
//! patterns are, which makes `Eq` lawful (NaN == NaN, −0 != +0).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use crate::value::{Object, Value};

impl Value {
    /// Rank of the value's type in the total order. Also the basis of index key tags.
    pub(crate) fn type_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Int64(_) => 1,
            Value::Float64(_) => 2,
            Value::Boolean(_) => 3,
            Value::String(_) => 4,
            Value::Bytes(_) => 5,
            Value::Array(_) => 6,
            Value::Object(_) => 7,
        }
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Int64(a), Value::Int64(b)) => a.cmp(b),
            (Value::Float64(a), Value::Float64(b)) => a.total_cmp(b),
            (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
            // `str` and `[u8]` compare bytewise, which is the UTF-8 byte order Convex uses.
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => a.cmp(b),
            (Value::Object(a), Value::Object(b)) => a.cmp(b),
            _ => self.type_rank().cmp(&other.type_rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.type_rank());
        match self {
            Value::Null => {}
            Value::Int64(i) => i.hash(state),
            // Bits, not value: equal floats are exactly those with equal bits.
            Value::Float64(f) => f.to_bits().hash(state),
            Value::Boolean(b) => b.hash(state),
            Value::String(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Array(items) => items.hash(state),
            Value::Object(object) => object.hash(state),
        }
    }
}

impl Ord for Object {
    fn cmp(&self, other: &Self) -> Ordering {
        // Fields iterate sorted by name, so this is the order over sorted (name, value) pairs.
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Object {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Object {}

impl Hash for Object {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (name, value) in self {
            name.hash(state);
            value.hash(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::MaybeValue;

    fn obj(fields: &[(&str, Value)]) -> Value {
        Value::Object(
            Object::try_from_iter(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())))
                .unwrap(),
        )
    }

    #[test]
    fn types_order_as_the_spec_lists_them() {
        let ascending: Vec<MaybeValue> = vec![
            None,
            Some(Value::Null),
            Some(Value::Int64(i64::MAX)),
            Some(Value::Float64(f64::NEG_INFINITY)),
            Some(Value::Boolean(false)),
            Some(Value::Boolean(true)),
            Some(Value::String(String::new())),
            Some(Value::Bytes(vec![])),
            Some(Value::Array(vec![])),
            Some(obj(&[])),
        ];
        for pair in ascending.windows(2) {
            assert!(pair[0] < pair[1], "{:?} !< {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn floats_use_ieee_total_order() {
        let neg_nan = f64::from_bits(f64::NAN.to_bits() | (1 << 63));
        let ascending = [
            neg_nan,
            f64::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            5e-324,
            1.0,
            f64::INFINITY,
            f64::NAN,
        ];
        for pair in ascending.windows(2) {
            assert!(
                Value::Float64(pair[0]) < Value::Float64(pair[1]),
                "{pair:?}"
            );
        }
        assert_eq!(Value::Float64(f64::NAN), Value::Float64(f64::NAN));
        assert_ne!(Value::Float64(0.0), Value::Float64(-0.0));
    }

    #[test]
    fn strings_compare_by_utf8_bytes_not_utf16() {
        // U+FF61 is below U+1F600 in UTF-8 and code points, but above its surrogates in UTF-16.
        assert!(Value::from("\u{ff61}") < Value::from("\u{1f600}"));
        assert!(Value::from("a") < Value::from("ab"));
        assert!(Value::from("B") < Value::from("a"));
    }

    #[test]
    fn arrays_and_objects_compare_lexicographically() {
        let a = |items: Vec<Value>| Value::Array(items);
        assert!(a(vec![]) < a(vec![Value::Null]));
        assert!(a(vec![Value::Int64(1), Value::Int64(9)]) < a(vec![Value::Int64(2)]));
        assert!(obj(&[]) < obj(&[("a", Value::Null)]));
        assert!(obj(&[("a", Value::Int64(2))]) < obj(&[("b", Value::Int64(1))]));
        assert!(obj(&[("a", Value::Int64(1))]) < obj(&[("a", Value::Int64(2))]));
        assert!(obj(&[("a", Value::Null), ("z", Value::Null)]) < obj(&[("b", Value::Null)]));
    }

    #[test]
    fn hash_agrees_with_eq() {
        use std::collections::HashSet;
        let set: HashSet<Value> = [
            Value::Float64(f64::NAN),
            Value::Float64(f64::NAN),
            Value::Float64(0.0),
            Value::Float64(-0.0),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 3);
    }
}
