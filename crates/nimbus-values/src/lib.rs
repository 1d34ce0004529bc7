//! The Convex value model shared by every Nimbus layer: values and objects, convex-encoded
//! JSON (and the lossy export formats), the total order and order-preserving index keys,
//! document ids, commit timestamps, and the size limits that apply to them; plus the two
//! pure languages over values that Convex clients send: validators (`v.…`) and query filter
//! expressions.
//!
//! This crate knows nothing about storage, JavaScript engines or the network; it is pure data.

pub mod base32;
mod error;
mod export_format;
mod expression;
mod expression_error;
mod expression_eval;
mod field_name;
mod id;
mod index_key;
mod json_decode;
mod json_encode;
mod json_text;
mod limits;
mod order;
mod path;
mod special;
mod timestamp;
mod validation_error;
mod validator;
mod validator_json;
mod value;
mod value_display;

pub use error::{FieldNameError, IdError, TimestampError, ValueError};
pub use export_format::{UnknownFormatError, ValueFormat};
pub use expression::{
    ArithmeticOp, Comparison, Expression, FieldPath, MAX_EXPRESSION_NESTING, MAX_EXPRESSION_NODES,
};
pub use expression_error::ExpressionError;
pub use field_name::validate_field_name;
pub use id::{DocumentId, INTERNAL_ID_LEN_BYTES, TableNumber};
pub use index_key::{encode_index_key, encode_value};
pub use json_decode::{decode_maybe_undefined, decode_patch_fields};
pub use limits::{
    MAX_DOCUMENT_NESTING, MAX_DOCUMENT_SIZE_BYTES, MAX_FIELD_NAME_LEN_CHARS, MAX_OBJECT_FIELDS,
    MAX_VALUE_NESTING, check_document_limits,
};
pub use path::{PathSegment, ValuePath};
pub use timestamp::Timestamp;
pub use validation_error::ValidationError;
pub use validator::{
    FieldValidator, IdTableResolver, LiteralValue, ObjectValidator, Presence, Validator,
};
pub use validator_json::{MAX_VALIDATOR_NESTING, ValidatorParseError};
pub use value::{MaybeValue, Object, Value};
pub use value_display::MAX_RENDERED_VALUE_CHARS;
