//! Tests for filter expressions: parsing (shapes, limits, error locations) and evaluation
//! (field reads, the total order with `undefined`, arithmetic, boolean operators).

use serde_json::{Value as JsonValue, json};

use crate::expression::{Expression, MAX_EXPRESSION_NESTING, MAX_EXPRESSION_NODES};
use crate::expression_error::ExpressionError;
use crate::value::{MaybeValue, Object, Value};

fn doc() -> Object {
    let mut author = Object::new();
    author.insert("name", Value::from("ada")).unwrap();
    let mut doc = Object::new();
    doc.insert("email", Value::from("bw@convex.dev")).unwrap();
    doc.insert("salary", Value::Int64(5)).unwrap();
    doc.insert("score", Value::Float64(2.5)).unwrap();
    doc.insert("author", Value::Object(author)).unwrap();
    doc.insert("nothing", Value::Null).unwrap();
    doc.insert("flag", Value::Boolean(true)).unwrap();
    doc
}

fn int(i: i64) -> JsonValue {
    Value::Int64(i).to_json()
}

fn lit(value: JsonValue) -> JsonValue {
    json!({ "$literal": value })
}

fn field(path: &str) -> JsonValue {
    json!({ "$field": path })
}

fn undefined() -> JsonValue {
    lit(json!({"$undefined": null}))
}

fn eval(json: &JsonValue) -> Result<MaybeValue, ExpressionError> {
    Expression::from_json(json)
        .unwrap_or_else(|e| panic!("{json} should parse: {e}"))
        .evaluate(&doc())
}

#[test]
fn evaluates_like_the_backend() {
    let t = Some(Value::Boolean(true));
    let f = Some(Value::Boolean(false));
    let cases: Vec<(JsonValue, MaybeValue)> = vec![
        (
            json!({"$eq": [lit(json!("foo")), lit(json!("foo"))]}),
            t.clone(),
        ),
        (json!({"$lt": [field("salary"), lit(int(6))]}), t.clone()),
        (json!({"$lt": [field("salary"), lit(int(4))]}), f.clone()),
        (json!({"$gt": [field("salary"), lit(int(4))]}), t.clone()),
        // A missing field is undefined, which sorts before everything.
        (json!({"$gt": [field("level"), lit(int(2))]}), f.clone()),
        (json!({"$neq": [field("level"), lit(int(2))]}), t.clone()),
        (json!({"$eq": [field("level"), undefined()]}), t.clone()),
        (
            json!({"$eq": [field("level"), lit(json!(null))]}),
            f.clone(),
        ),
        (
            json!({"$lt": [field("level"), lit(json!(null))]}),
            t.clone(),
        ),
        (
            json!({"$eq": [field("nothing"), lit(json!(null))]}),
            t.clone(),
        ),
        // Values of different types compare by type: int64 < float64 < string.
        (json!({"$lt": [field("salary"), lit(json!(0))]}), t.clone()),
        (json!({"$lte": [field("email"), lit(json!(1))]}), f.clone()),
        (json!({"$gte": [field("email"), field("email")]}), t.clone()),
        // Nested fields, and paths through non-objects.
        (
            json!({"$eq": [field("author.name"), lit(json!("ada"))]}),
            t.clone(),
        ),
        (
            json!({"$eq": [field("author.missing"), undefined()]}),
            t.clone(),
        ),
        (
            json!({"$eq": [field("email.length"), undefined()]}),
            t.clone(),
        ),
        (field("author.name"), Some(Value::from("ada"))),
        (field("nope.nope"), None),
        (undefined(), None),
        // -((3 * 5) + (5 - 11 % 3)) / 3 = -6
        (
            json!({"$div": [
                {"$neg": {"$add": [
                    {"$mul": [lit(int(3)), lit(int(5))]},
                    {"$sub": [lit(int(5)), {"$mod": [lit(int(11)), lit(int(3))]}]},
                ]}},
                lit(int(3)),
            ]}),
            Some(Value::Int64(-6)),
        ),
        (
            json!({"$add": [field("score"), lit(json!(0.5))]}),
            Some(Value::Float64(3.0)),
        ),
        (
            json!({"$div": [lit(json!(1)), lit(json!(0))]}),
            Some(Value::Float64(f64::INFINITY)),
        ),
        (
            json!({"$mod": [lit(json!(-7)), lit(json!(2))]}),
            Some(Value::Float64(-1.0)),
        ),
        (json!({"$neg": lit(json!(0))}), Some(Value::Float64(-0.0))),
        // Int64 arithmetic wraps.
        (
            json!({"$add": [lit(int(i64::MAX)), lit(int(1))]}),
            Some(Value::Int64(i64::MIN)),
        ),
        (
            json!({"$mul": [lit(int(i64::MIN)), lit(int(-1))]}),
            Some(Value::Int64(i64::MIN)),
        ),
        (
            json!({"$div": [lit(int(i64::MIN)), lit(int(-1))]}),
            Some(Value::Int64(i64::MIN)),
        ),
        (
            json!({"$mod": [lit(int(i64::MIN)), lit(int(-1))]}),
            Some(Value::Int64(0)),
        ),
        (
            json!({"$neg": lit(int(i64::MIN))}),
            Some(Value::Int64(i64::MIN)),
        ),
        (
            json!({"$mod": [lit(int(-7)), lit(int(2))]}),
            Some(Value::Int64(-1)),
        ),
        // Boolean operators, including the empty cases.
        (json!({"$not": field("flag")}), f.clone()),
        (json!({"$and": []}), t.clone()),
        (json!({"$or": []}), f.clone()),
        (
            json!({"$and": [field("flag"), lit(json!(false))]}),
            f.clone(),
        ),
        (
            json!({"$or": [lit(json!(false)), field("flag")]}),
            t.clone(),
        ),
        // Short-circuit: the non-boolean after the deciding operand is never looked at.
        (
            json!({"$and": [lit(json!(false)), lit(json!("x"))]}),
            f.clone(),
        ),
        (json!({"$or": [lit(json!(true)), lit(json!("x"))]}), t),
    ];
    for (json, expected) in cases {
        assert_eq!(eval(&json).unwrap(), expected, "{json}");
    }
}

#[test]
fn and_and_or_agree_with_rust_for_every_combination() {
    for bits in 0..8u8 {
        let (a, b, c) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        let operands = json!([lit(json!(a)), lit(json!(b)), lit(json!(c))]);
        assert_eq!(
            eval(&json!({ "$and": operands })).unwrap(),
            Some(Value::Boolean(a && b && c))
        );
        assert_eq!(
            eval(&json!({ "$or": operands })).unwrap(),
            Some(Value::Boolean(a || b || c))
        );
    }
}

#[test]
fn evaluation_errors_use_the_backend_wording() {
    let cases: Vec<(JsonValue, &str)> = vec![
        (
            json!({"$add": [field("email"), lit(json!(1))]}),
            r#"Cannot add "bw@convex.dev" (type String) and 1.0 (type Float64)"#,
        ),
        (
            json!({"$sub": [field("salary"), lit(json!(1))]}),
            "Cannot subtract 5 (type Int64) and 1.0 (type Float64)",
        ),
        (
            json!({"$mul": [field("missing"), lit(int(1))]}),
            "Cannot multiply undefined (type undefined) and 1 (type Int64)",
        ),
        (
            json!({"$div": [lit(int(1)), lit(int(0))]}),
            "Cannot divide 1 (type Int64) by zero",
        ),
        (
            json!({"$mod": [lit(int(1)), lit(int(0))]}),
            "Cannot mod 1 (type Int64) by zero",
        ),
        (
            json!({"$neg": lit(json!("x"))}),
            r#"Cannot negate "x" (type String)"#,
        ),
        (
            json!({"$not": field("nothing")}),
            "Cannot use value null (type Null) as a Boolean",
        ),
        (
            json!({"$and": [lit(json!(true)), lit(int(1))]}),
            "Cannot use value 1 (type Int64) as a Boolean",
        ),
        (
            json!({"$or": [field("missing")]}),
            "Cannot use value undefined (type undefined) as a Boolean",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(eval(&json).unwrap_err().to_string(), expected, "{json}");
    }
}

#[test]
fn a_filter_matches_only_booleans() {
    let matches = |json: JsonValue| Expression::from_json(&json).unwrap().matches(&doc());
    assert!(matches(json!({"$eq": [field("salary"), lit(int(5))]})).unwrap());
    assert!(!matches(json!({"$eq": [field("salary"), lit(json!(5))]})).unwrap());
    let error = matches(field("salary")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Cannot use value 5 (type Int64) as a Boolean"
    );
}

#[test]
fn parse_errors_name_the_bad_part() {
    let cases: Vec<(JsonValue, &str)> = vec![
        (json!(1), "expected a filter expression at the top level"),
        (
            json!({"$eq": [field("a"), lit(json!(1))], "$neq": []}),
            "but found an object with 2 keys",
        ),
        (
            json!({"$xor": []}),
            r#"unknown filter operator "$xor" at .$xor"#,
        ),
        (
            json!({"$eq": [field("a")]}),
            "operator $eq at .$eq needs an array of 2 expressions",
        ),
        (
            json!({"$add": field("a")}),
            "operator $add at .$add needs an array of 2",
        ),
        (
            json!({"$and": field("a")}),
            "operator $and at .$and needs an array of expressions",
        ),
        (
            json!({"$and": [field("a"), {"$field": 1}]}),
            "operator $field at .$and[1].$field needs a string",
        ),
        (
            json!({"$or": [{"$not": {"$field": "a..b"}}]}),
            r#"invalid field path "a..b" at .$or[0].$not.$field"#,
        ),
        (json!({"$field": ""}), "without empty parts"),
        (
            json!({"$field": "a.$b"}),
            r#"segment "$b" is not a valid field name"#,
        ),
        (
            json!({"$neg": lit(json!({"$integer": 5}))}),
            "invalid $literal at .$neg.$literal",
        ),
        (
            lit(json!([{"$undefined": null}])),
            "invalid $literal at .$literal",
        ),
    ];
    for (json, expected) in cases {
        let error = Expression::from_json(&json).expect_err(&json.to_string());
        assert!(
            error.to_string().contains(expected),
            "{json}: {error} does not contain {expected:?}"
        );
    }
}

#[test]
fn nesting_and_size_are_limited() {
    let nested = |levels: usize| (0..levels).fold(field("a"), |inner, _| json!({ "$not": inner }));
    assert!(Expression::from_json(&nested(MAX_EXPRESSION_NESTING - 1)).is_ok());
    let error = Expression::from_json(&nested(MAX_EXPRESSION_NESTING)).unwrap_err();
    assert!(
        matches!(error, ExpressionError::TooDeep { max: 64, .. }),
        "{error}"
    );

    let wide = |operands: usize| json!({ "$or": vec![lit(json!(true)); operands] });
    assert!(Expression::from_json(&wide(MAX_EXPRESSION_NODES - 1)).is_ok());
    let error = Expression::from_json(&wide(MAX_EXPRESSION_NODES)).unwrap_err();
    assert!(matches!(error, ExpressionError::TooLarge { .. }), "{error}");
}
