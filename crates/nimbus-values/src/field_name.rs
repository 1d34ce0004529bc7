//! Which strings may be object field names.
//!
//! Same rules as `validateObjectField` in the `convex` npm package, so the client and server
//! reject the same names: at most 1024 characters, printable ASCII only (32..=126), and no
//! leading `$` (reserved for the special encodings like `$integer`). The empty name is allowed,
//! as it is in Convex.

use crate::error::FieldNameError;
use crate::limits::MAX_FIELD_NAME_LEN_CHARS;

/// Checks that `name` may be used as an object field name.
pub fn validate_field_name(name: &str) -> Result<(), FieldNameError> {
    if name.starts_with('$') {
        return Err(FieldNameError::StartsWithDollar);
    }
    if let Some((index, character)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !(' '..='~').contains(c))
    {
        return Err(FieldNameError::InvalidCharacter { character, index });
    }
    // Only ASCII is left, so the byte length is the character count.
    if name.len() > MAX_FIELD_NAME_LEN_CHARS {
        return Err(FieldNameError::TooLong {
            len_chars: name.len(),
            max_chars: MAX_FIELD_NAME_LEN_CHARS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ascii_and_the_empty_name() {
        assert!(validate_field_name("").is_ok());
        assert!(validate_field_name("a b~_!").is_ok());
        assert!(validate_field_name("_id").is_ok());
        assert!(validate_field_name(&"x".repeat(MAX_FIELD_NAME_LEN_CHARS)).is_ok());
    }

    #[test]
    fn rejects_leading_dollar() {
        assert_eq!(
            validate_field_name("$foo"),
            Err(FieldNameError::StartsWithDollar)
        );
        assert!(validate_field_name("a$").is_ok());
    }

    #[test]
    fn rejects_control_and_non_ascii_characters() {
        assert_eq!(
            validate_field_name("a\nb"),
            Err(FieldNameError::InvalidCharacter {
                character: '\n',
                index: 1
            })
        );
        assert_eq!(
            validate_field_name("é"),
            Err(FieldNameError::InvalidCharacter {
                character: 'é',
                index: 0
            })
        );
        assert!(validate_field_name("\u{7f}").is_err());
    }

    #[test]
    fn rejects_overlong_names() {
        let err = validate_field_name(&"x".repeat(MAX_FIELD_NAME_LEN_CHARS + 1)).unwrap_err();
        assert_eq!(
            err,
            FieldNameError::TooLong {
                len_chars: 1025,
                max_chars: 1024
            }
        );
    }
}
