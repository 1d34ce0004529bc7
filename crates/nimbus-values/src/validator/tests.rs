//! Tests for validators: parsing and writing validator JSON, `v.…` descriptions, validation
//! rules, and the exact wording of validation errors.

use std::collections::HashMap;

use serde_json::{Value as JsonValue, json};

use crate::id::{DocumentId, TableNumber};
use crate::validation_error::ValidationError;
use crate::validator::{IdTableResolver, Validator};
use crate::validator_json::{MAX_VALIDATOR_NESTING, ValidatorParseError};
use crate::value::{Object, Value};

const USERS: u32 = 10_001;
const MESSAGES: u32 = 10_002;
const SCHEDULED: u32 = 600;

fn tables() -> HashMap<TableNumber, String> {
    [
        (USERS, "users"),
        (MESSAGES, "messages"),
        (SCHEDULED, "_scheduled_functions"),
    ]
    .into_iter()
    .map(|(number, name)| (TableNumber::new(number).unwrap(), name.to_owned()))
    .collect()
}

fn id_text(table: u32) -> String {
    DocumentId::new(TableNumber::new(table).unwrap(), [7; 16]).encode()
}

fn id(table: u32) -> Value {
    Value::String(id_text(table))
}

fn validator(json: JsonValue) -> Validator {
    Validator::from_json(&json).unwrap_or_else(|e| panic!("{json} should parse: {e}"))
}

fn obj(fields: &[(&str, Value)]) -> Value {
    Value::Object(
        Object::try_from_iter(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone()))).unwrap(),
    )
}

fn field(validator: JsonValue, optional: bool) -> JsonValue {
    json!({"fieldType": validator, "optional": optional})
}

fn check(validator: &Validator, value: &Value) -> Result<(), ValidationError> {
    validator.validate(value, &tables() as &dyn IdTableResolver)
}

#[test]
fn every_json_form_round_trips() {
    let forms = [
        json!({"type": "null"}),
        json!({"type": "number"}),
        json!({"type": "bigint"}),
        json!({"type": "boolean"}),
        json!({"type": "string"}),
        json!({"type": "bytes"}),
        json!({"type": "any"}),
        json!({"type": "literal", "value": "abc"}),
        json!({"type": "literal", "value": {"$integer": "AQAAAAAAAAA="}}),
        json!({"type": "literal", "value": {"$float": "AAAAAAAA+H8="}}),
        json!({"type": "id", "tableName": "users"}),
        json!({"type": "array", "value": {"type": "string"}}),
        json!({"type": "record", "keys": {"type": "id", "tableName": "users"},
               "values": field(json!({"type": "number"}), false)}),
        json!({"type": "object", "value": {
            "author": field(json!({"type": "string"}), false),
            "tags": field(json!({"type": "array", "value": {"type": "string"}}), true),
        }}),
        json!({"type": "union", "value": [{"type": "string"}, {"type": "null"}]}),
        json!({"type": "union", "value": []}),
    ];
    for form in forms {
        assert_eq!(validator(form.clone()).to_json(), form);
    }
}

#[test]
fn legacy_map_and_set_mean_any_and_extra_keys_are_ignored() {
    assert_eq!(validator(json!({"type": "map"})), Validator::Any);
    assert_eq!(validator(json!({"type": "set"})), Validator::Any);
    assert_eq!(
        validator(json!({"type": "string", "future": 1})),
        Validator::String
    );
}

#[test]
fn descriptions_match_the_backend() {
    let cases = [
        (
            json!({"type": "id", "tableName": "tableName"}),
            r#"v.id("tableName")"#,
        ),
        (json!({"type": "literal", "value": 123}), "v.literal(123.0)"),
        (json!({"type": "literal", "value": 0.5}), "v.literal(0.5)"),
        (
            json!({"type": "literal", "value": {"$integer": "ewAAAAAAAAA="}}),
            "v.literal(<bigint>)",
        ),
        (
            json!({"type": "literal", "value": {"$float": "AAAAAAAA+H8="}}),
            "v.literal(<number>)",
        ),
        (
            json!({"type": "literal", "value": "abc"}),
            r#"v.literal("abc")"#,
        ),
        (json!({"type": "literal", "value": true}), "v.literal(true)"),
        (
            json!({"type": "array", "value": {"type": "string"}}),
            "v.array(v.string())",
        ),
        (
            json!({"type": "object", "value": {
                "required": field(json!({"type": "string"}), false),
                "optional": field(json!({"type": "number"}), true),
            }}),
            "v.object({optional: v.optional(v.float64()), required: v.string()})",
        ),
        (
            json!({"type": "union", "value": [{"type": "string"}, {"type": "number"}]}),
            "v.union(v.string(), v.float64())",
        ),
        (
            json!({"type": "record", "keys": {"type": "string"},
                   "values": field(json!({"type": "bigint"}), false)}),
            "v.record(v.string(), v.int64())",
        ),
        (json!({"type": "any"}), "v.any()"),
        (json!({"type": "bytes"}), "v.bytes()"),
        (json!({"type": "null"}), "v.null()"),
        (json!({"type": "boolean"}), "v.boolean()"),
    ];
    for (json, expected) in cases {
        assert_eq!(validator(json).describe(), expected);
    }
}

#[test]
fn parse_errors_name_the_bad_part() {
    let deep = (0..MAX_VALIDATOR_NESTING).fold(
        json!({"type": "string"}),
        |inner, _| json!({"type": "array", "value": inner}),
    );
    let record = |keys: JsonValue, optional: bool| json!({"type": "record", "keys": keys, "values": field(json!({"type": "number"}), optional)});
    let in_object =
        |inner: JsonValue| json!({"type": "object", "value": {"a": field(inner, false)}});
    let cases: Vec<(JsonValue, &str)> = vec![
        (
            json!("string"),
            "expected a validator object at the top level but found a string",
        ),
        (
            json!({}),
            "validator at the top level needs key `type` holding a string",
        ),
        (
            in_object(json!({"type": "nope"})),
            r#"unknown validator type "nope" at .value.a.fieldType"#,
        ),
        (
            json!({"type": "commitTs"}),
            r#"validator type "commitTs" at the top level is not supported"#,
        ),
        (
            json!({"type": "object", "value": {"a": {"fieldType": {"type": "string"}}}}),
            "validator at .value.a needs key `optional` holding a boolean",
        ),
        (
            json!({"type": "object", "value": {"$a": field(json!({"type": "string"}), false)}}),
            r#"invalid field name "$a" in object validator at .value"#,
        ),
        (
            json!({"type": "literal", "value": null}),
            "literal validator at .value holds Null",
        ),
        (
            json!({"type": "literal", "value": {"$integer": 1}}),
            "literal validator at .value has an invalid value",
        ),
        (
            json!({"type": "id"}),
            "validator at the top level needs key `tableName`",
        ),
        (
            json!({"type": "union", "value": {"type": "string"}}),
            "needs key `value` holding an array of validators",
        ),
        (
            json!({"type": "union", "value": [{"type": "string"}, {"type": 1}]}),
            "validator at .value[1] needs key `type`",
        ),
        (
            record(json!({"type": "number"}), false),
            "Records can only have string keys. Your validator contains a record with key typed as `v.float64()`, which is not a subtype of `v.string()`",
        ),
        (
            record(json!({"type": "any"}), false),
            "key typed as `v.any()`",
        ),
        (
            record(json!({"type": "literal", "value": "abc"}), false),
            "Records cannot have string literal keys",
        ),
        (
            record(
                json!({"type": "union", "value": [{"type": "string"}, {"type": "literal", "value": "a"}]}),
                false,
            ),
            "Records cannot have string literal keys",
        ),
        (
            record(json!({"type": "string"}), true),
            "Records cannot have optional values",
        ),
        (deep, "nested deeper than the limit of 64"),
    ];
    for (json, expected) in cases {
        let error: ValidatorParseError = Validator::from_json(&json).expect_err(&json.to_string());
        assert!(
            error.to_string().contains(expected),
            "{json}: {error:?} does not contain {expected:?}"
        );
    }
}

#[test]
fn record_keys_may_be_strings_ids_or_unions_of_them() {
    for keys in [
        json!({"type": "string"}),
        json!({"type": "id", "tableName": "users"}),
        json!({"type": "union", "value": [{"type": "string"}, {"type": "id", "tableName": "users"}]}),
    ] {
        validator(json!({"type": "record", "keys": keys,
                         "values": field(json!({"type": "number"}), false)}));
    }
}

#[test]
fn values_are_checked_against_each_validator_type() {
    let user_id = id(USERS);
    let message_id = id(MESSAGES);
    let nan = Value::Float64(f64::NAN);
    // (validator, accepted values, rejected values)
    let cases: Vec<(JsonValue, Vec<Value>, Vec<Value>)> = vec![
        (
            json!({"type": "null"}),
            vec![Value::Null],
            vec![Value::Boolean(false)],
        ),
        (
            json!({"type": "number"}),
            vec![Value::Float64(1.0), nan.clone()],
            vec![Value::Int64(1), Value::Null],
        ),
        (
            json!({"type": "bigint"}),
            vec![Value::Int64(1)],
            vec![Value::Float64(1.0)],
        ),
        (
            json!({"type": "boolean"}),
            vec![Value::Boolean(true)],
            vec![Value::Null],
        ),
        (
            json!({"type": "string"}),
            vec![Value::from("")],
            vec![Value::Bytes(vec![])],
        ),
        (
            json!({"type": "bytes"}),
            vec![Value::Bytes(vec![1])],
            vec![Value::from("AQ==")],
        ),
        (
            json!({"type": "any"}),
            vec![Value::Null, obj(&[("a", Value::Null)])],
            vec![],
        ),
        (
            json!({"type": "literal", "value": "a"}),
            vec![Value::from("a")],
            vec![Value::from("b"), Value::Null],
        ),
        (
            json!({"type": "literal", "value": {"$float": "AAAAAAAA+H8="}}),
            vec![nan.clone()],
            vec![Value::Float64(0.0)],
        ),
        (
            json!({"type": "literal", "value": 0}),
            vec![Value::Float64(0.0)],
            vec![Value::Float64(-0.0), Value::Int64(0)],
        ),
        (
            json!({"type": "id", "tableName": "users"}),
            vec![user_id.clone()],
            vec![
                message_id.clone(),
                id(99),
                Value::from("not an id"),
                Value::Null,
            ],
        ),
        (
            json!({"type": "array", "value": {"type": "bigint"}}),
            vec![Value::Array(vec![]), Value::Array(vec![Value::Int64(1)])],
            vec![Value::Array(vec![Value::Float64(1.0)]), Value::Null],
        ),
        (
            json!({"type": "record", "keys": {"type": "id", "tableName": "users"},
                   "values": field(json!({"type": "number"}), false)}),
            vec![obj(&[]), obj(&[(&id_text(USERS), Value::Float64(1.0))])],
            vec![obj(&[("hello", Value::Float64(1.0))]), Value::Array(vec![])],
        ),
        (
            json!({"type": "object", "value": {
                "a": field(json!({"type": "string"}), false),
                "b": field(json!({"type": "number"}), true),
            }}),
            vec![
                obj(&[("a", Value::from("x"))]),
                obj(&[("a", Value::from("x")), ("b", Value::Float64(1.0))]),
            ],
            vec![
                obj(&[]),
                obj(&[("a", Value::from("x")), ("c", Value::Null)]),
                obj(&[("a", Value::from("x")), ("b", Value::Null)]),
                Value::Null,
            ],
        ),
        (
            json!({"type": "union", "value": [{"type": "string"}, {"type": "null"}]}),
            vec![Value::Null, Value::from("x")],
            vec![Value::Int64(0)],
        ),
        (
            json!({"type": "union", "value": []}),
            vec![],
            vec![Value::Null],
        ),
    ];
    for (json, accepted, rejected) in cases {
        let validator = validator(json.clone());
        for value in accepted {
            assert!(
                check(&validator, &value).is_ok(),
                "{json} should accept {value:?}"
            );
        }
        for value in rejected {
            assert!(
                check(&validator, &value).is_err(),
                "{json} should reject {value:?}"
            );
        }
    }
}

#[test]
fn record_values_are_reported_at_their_key() {
    let user = id_text(USERS);
    let validator = validator(
        json!({"type": "record", "keys": {"type": "id", "tableName": "users"},
                                     "values": field(json!({"type": "number"}), false)}),
    );
    let error = check(&validator, &obj(&[(&user, Value::Boolean(true))])).unwrap_err();
    assert_eq!(error.path().to_string(), format!(".{user}"));
    let error = check(&validator, &obj(&[("hello", Value::Float64(1.0))])).unwrap_err();
    assert_eq!(
        error.message(),
        "Value does not match validator.\nPath: .hello\nValue: \"hello\"\nValidator: v.id(\"users\")"
    );
}

#[test]
fn messages_use_the_convex_wording() {
    let message = validator(json!({"type": "object", "value": {
        "author": field(json!({"type": "string"}), false),
        "body": field(json!({"type": "string"}), false),
    }}));
    let wrapped = Validator::Object(crate::validator::ObjectValidator {
        fields: [(
            "message".to_owned(),
            crate::validator::FieldValidator {
                validator: message.clone(),
                presence: crate::validator::Presence::Required,
            },
        )]
        .into(),
    });
    let user_text = id_text(USERS);
    let cases: Vec<(Validator, Value, String)> = vec![
        (
            message.clone(),
            obj(&[("body", Value::from("hi"))]),
            "Object is missing the required field `author`. Consider wrapping the field validator \
             in `v.optional(...)` if this is expected.\n\nObject: {body: \"hi\"}\n\
             Validator: v.object({author: v.string(), body: v.string()})"
                .to_owned(),
        ),
        (
            wrapped,
            obj(&[(
                "message",
                obj(&[
                    ("author", Value::from("a")),
                    ("body", Value::from("b")),
                    ("x", Value::Int64(1)),
                ]),
            )]),
            "Object contains extra field `x` that is not in the validator.\nPath: .message\n\
             Object: {author: \"a\", body: \"b\", x: 1}\n\
             Validator: v.object({author: v.string(), body: v.string()})"
                .to_owned(),
        ),
        (
            validator(json!({"type": "array", "value": {"type": "string"}})),
            Value::Array(vec![Value::from("a"), Value::Float64(2.0)]),
            "Value does not match validator.\nPath: [1]\nValue: 2.0\nValidator: v.string()"
                .to_owned(),
        ),
        (
            Validator::String,
            Value::Int64(5),
            "Value does not match validator.\n\nValue: 5\nValidator: v.string()".to_owned(),
        ),
        (
            validator(json!({"type": "literal", "value": "a"})),
            Value::from("b"),
            "`\"b\"` does not match literal validator `v.literal(\"a\")`.\n".to_owned(),
        ),
        (
            Validator::Id("messages".to_owned()),
            id(USERS),
            format!(
                "Found ID \"{user_text}\" from table `users`, which does not match the table name \
                 in validator `v.id(\"messages\")`.\n"
            ),
        ),
        (
            Validator::Id("messages".to_owned()),
            id(SCHEDULED),
            format!(
                "Found ID \"{}\" from a system table, which does not match the table name in \
                 validator `v.id(\"messages\")`.\n",
                id_text(SCHEDULED)
            ),
        ),
    ];
    for (validator, value, expected) in cases {
        let error = check(&validator, &value).unwrap_err();
        assert_eq!(error.message(), expected);
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn failed_unions_list_why_each_member_failed() {
    let validator = validator(json!({"type": "union", "value": [
        {"type": "string"},
        {"type": "object", "value": {"kind": field(json!({"type": "literal", "value": "a"}), false)}},
    ]}));
    let error = check(&validator, &obj(&[("kind", Value::from("b"))])).unwrap_err();
    assert_eq!(
        error.message(),
        "Value does not match validator.\n\nValue: {kind: \"b\"}\n\
         Validator: v.union(v.string(), v.object({kind: v.literal(\"a\")}))\n\
         No member of the union matched:\n\
         - v.string(): Value does not match validator.\n\
         - v.object({kind: v.literal(\"a\")}): `\"b\"` does not match literal validator \
         `v.literal(\"a\")`. (Path: .kind)"
    );
    // A one-member union reports its member's own error.
    let single = self::validator(json!({"type": "union", "value": [{"type": "bigint"}]}));
    let error = check(&single, &Value::Null).unwrap_err();
    assert!(
        matches!(error, ValidationError::NoMatch { ref validator, .. } if *validator == Validator::Int64)
    );
}

#[test]
fn errors_inside_union_members_do_not_leak_into_later_paths() {
    let validator = validator(json!({"type": "union", "value": [
        {"type": "array", "value": {"type": "string"}},
        {"type": "array", "value": {"type": "bigint"}},
    ]}));
    let error = check(&validator, &Value::Array(vec![Value::Null])).unwrap_err();
    let ValidationError::NoMatch { union_failures, .. } = error else {
        panic!("expected a union mismatch, got {error:?}");
    };
    let paths: Vec<String> = union_failures
        .iter()
        .map(|e| e.path().to_string())
        .collect();
    assert_eq!(paths, ["[0]", "[0]"]);
}
