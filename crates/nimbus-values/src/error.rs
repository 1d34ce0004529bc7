//! Every way a value, id or timestamp can be rejected. Each message says what was wrong,
//! where (a path such as `.messages[3].body`) and what to do instead.

use crate::path::ValuePath;

/// Why a string is not a valid object field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldNameError {
    /// `$` starts the special encodings (`$integer`, `$bytes`, ...), so user fields may not.
    #[error("field names may not start with '$' (reserved for Convex encodings); rename the field")]
    StartsWithDollar,
    /// Field names are limited to printable ASCII.
    #[error(
        "character {character:?} at position {index} is not allowed; field names may only contain printable ASCII (space to '~')"
    )]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its position, in characters.
        index: usize,
    },
    /// Field names have a length limit.
    #[error(
        "field name is {len_chars} characters long, more than the limit of {max_chars}; use a shorter name"
    )]
    TooLong {
        /// Length of the rejected name.
        len_chars: usize,
        /// The limit ([`crate::MAX_FIELD_NAME_LEN_CHARS`]).
        max_chars: usize,
    },
}

/// Why a value (usually convex-encoded JSON) was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// An object key is not a valid field name.
    #[error("invalid field name {name:?} at {path}: {source}")]
    InvalidFieldName {
        /// The object containing the field.
        path: ValuePath,
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        #[source]
        source: FieldNameError,
    },
    /// `{"$integer": ...}`, `{"$bytes": ...}` or `{"$float": ...}` whose payload is not a string.
    #[error(
        "{key} at {path} must hold a base64 string but holds {found}; write {{\"{key}\": \"<base64>\"}}"
    )]
    SpecialNotString {
        /// Where the special object is.
        path: ValuePath,
        /// `$integer`, `$bytes` or `$float`.
        key: &'static str,
        /// The JSON type found instead.
        found: &'static str,
    },
    /// The base64 payload of a special object does not decode.
    #[error("{key} at {path} is not valid base64 ({source}); use standard base64 with '=' padding")]
    InvalidBase64 {
        /// Where the special object is.
        path: ValuePath,
        /// `$integer`, `$bytes` or `$float`.
        key: &'static str,
        /// The decoder's complaint.
        #[source]
        source: base64::DecodeError,
    },
    /// `$integer`/`$float` must carry exactly 8 bytes.
    #[error("{key} at {path} decodes to {len_bytes} bytes but must be exactly 8 (little-endian)")]
    WrongPayloadLength {
        /// Where the special object is.
        path: ValuePath,
        /// `$integer` or `$float`.
        key: &'static str,
        /// The decoded length.
        len_bytes: usize,
    },
    /// `$float` is only for NaN, ±Infinity and -0; anything else must be a plain JSON number.
    #[error(
        "$float at {path} encodes the ordinary number {value}, which must be sent as a plain JSON number; $float is only for NaN, Infinity, -Infinity and -0"
    )]
    FloatShouldBeNumber {
        /// Where the special object is.
        path: ValuePath,
        /// The number it encodes.
        value: f64,
    },
    /// `{"$undefined": null}` outside the places that allow it.
    #[error(
        "{{\"$undefined\": null}} at {path} is not a value; omit the field instead (undefined is only accepted as a filter literal or patch field)"
    )]
    Undefined {
        /// Where it was found.
        path: ValuePath,
    },
    /// `{"$set": ...}` / `{"$map": ...}` from very old clients.
    #[error(
        "{{\"{key}\": ...}} at {path} is a {kind}, which is no longer a Convex type; send an array or object instead"
    )]
    UnsupportedLegacyType {
        /// Where it was found.
        path: ValuePath,
        /// `$set` or `$map`.
        key: &'static str,
        /// `Set` or `Map`.
        kind: &'static str,
    },
    /// `{"$commitTs": null}` is only meaningful inside a mutation's writes, resolved at commit.
    #[error(
        "{{\"$commitTs\": null}} at {path} is an unresolved commit timestamp; it is not supported here, write an explicit int64 instead"
    )]
    CommitTsPlaceholder {
        /// Where it was found.
        path: ValuePath,
    },
    /// Arrays/objects nested beyond the limit.
    #[error(
        "value at {path} is nested deeper than the limit of {max} arrays/objects; flatten the structure"
    )]
    TooDeep {
        /// The container that crossed the limit.
        path: ValuePath,
        /// The limit that applied.
        max: usize,
    },
    /// An object with more fields than allowed.
    #[error(
        "object at {path} has {count} fields, more than the limit of {max}; split it up or use an array"
    )]
    TooManyFields {
        /// The object.
        path: ValuePath,
        /// Its field count.
        count: usize,
        /// The limit ([`crate::MAX_OBJECT_FIELDS`]).
        max: usize,
    },
    /// A document larger than the storage limit.
    #[error(
        "document is {size_bytes} bytes, more than the limit of {max_bytes}; store large data in file storage instead"
    )]
    DocumentTooLarge {
        /// Its size as counted by [`crate::Value::size_bytes`].
        size_bytes: usize,
        /// The limit ([`crate::MAX_DOCUMENT_SIZE_BYTES`]).
        max_bytes: usize,
    },
    /// An object was required (for example a patch value) but something else was given.
    #[error("expected an object at {path} but found {found}; send a JSON object")]
    NotAnObject {
        /// Where it was found.
        path: ValuePath,
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A JSON number serde_json could not turn into an f64 (only with exotic serde features).
    #[error("JSON number at {path} cannot be represented as a 64-bit float")]
    UnrepresentableNumber {
        /// Where it was found.
        path: ValuePath,
    },
    /// The input text is not JSON at all.
    #[error("input is not valid JSON ({0}); send syntactically valid JSON text")]
    InvalidJsonText(#[from] serde_json::Error),
}

/// Why a string is not a valid document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Ids are 31, 32, 34, 36 or 37 characters long.
    #[error("id is {len_chars} characters long; valid ids are 31, 32, 34, 36 or 37 characters")]
    WrongLength {
        /// Length of the rejected string, in bytes.
        len_chars: usize,
    },
    /// Ids use the alphabet `0123456789abcdefghjkmnpqrstvwxyz` (lower case, no i, l, o, u).
    #[error(
        "character {character:?} at position {position} is not in the id alphabet (0-9 and lower-case a-z without i, l, o, u)"
    )]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its byte position.
        position: usize,
    },
    /// The last character has bits set that encode nothing: not the canonical spelling.
    #[error(
        "id is not in canonical form (its last character carries non-zero padding bits); ids must be used exactly as issued"
    )]
    NonCanonical,
    /// The table number's variable-length integer runs past 5 bytes or past `u32`.
    #[error(
        "id's table number is malformed (variable-length integer too long or larger than 2^32-1); the id is corrupt"
    )]
    TableNumberOverflow,
    /// The table number uses more bytes than needed.
    #[error("id's table number is not minimally encoded; ids must be used exactly as issued")]
    NonMinimalTableNumber,
    /// Table number zero never names a table.
    #[error("id names table number 0, which is never a valid table")]
    ZeroTableNumber,
    /// The length of the decoded bytes does not match the table number's encoding.
    #[error(
        "id decodes to {actual_bytes} bytes but its table number implies {expected_bytes}; the id is truncated or corrupt"
    )]
    LengthMismatch {
        /// Bytes the layout requires.
        expected_bytes: usize,
        /// Bytes actually decoded.
        actual_bytes: usize,
    },
    /// The fletcher16 footer does not match: a typo or a corrupted id.
    #[error(
        "id checksum mismatch (footer {found:#06x}, computed {computed:#06x}); the id was mistyped or corrupted"
    )]
    ChecksumMismatch {
        /// Footer stored in the id.
        found: u16,
        /// Footer computed from the id's contents.
        computed: u16,
    },
}

/// Why a wire timestamp string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not standard padded base64.
    #[error(
        "timestamp {text:?} is not valid base64 ({source}); send base64 of the 8 little-endian bytes"
    )]
    InvalidBase64 {
        /// The rejected text.
        text: String,
        /// The decoder's complaint.
        #[source]
        source: base64::DecodeError,
    },
    /// Decoded to something other than 8 bytes.
    #[error(
        "timestamp {text:?} decodes to {len_bytes} bytes but must be exactly 8 (u64 little-endian)"
    )]
    WrongLength {
        /// The rejected text.
        text: String,
        /// The decoded length.
        len_bytes: usize,
    },
}
