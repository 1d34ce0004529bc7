//! The base32 dialect of Convex ids: alphabet `0123456789abcdefghjkmnpqrstvwxyz` (no i, l, o,
//! u), most-significant bit first (big-endian, RFC 4648 bit layout), no padding.
//!
//! Built on the `data-encoding` crate rather than hand-written: it supports custom alphabets
//! with this bit order, and by default rejects non-zero trailing bits and impossible lengths,
//! which is exactly the canonical-decoding rule ids need.

use std::sync::LazyLock;

use data_encoding::{DecodeKind, Encoding, Specification};

use crate::error::IdError;

/// The 32 symbols, in value order.
pub const ID_ALPHABET: &str = "0123456789abcdefghjkmnpqrstvwxyz";

static ENCODING: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str(ID_ALPHABET);
    // The defaults (MSB-first, trailing-bit check, no padding) are what ids need.
    // The specification is a constant, so failure is a programming error every test catches.
    spec.encoding()
        .expect("the id base32 specification is valid")
});

/// Encodes bytes to id base32.
pub fn encode(bytes: &[u8]) -> String {
    ENCODING.encode(bytes)
}

/// Decodes id base32, accepting only the canonical spelling (lower case, zero trailing bits).
pub fn decode(text: &str) -> Result<Vec<u8>, IdError> {
    ENCODING
        .decode(text.as_bytes())
        .map_err(|error| match error.kind {
            DecodeKind::Symbol => {
                // `position` is a byte offset; report the whole (possibly multi-byte) character.
                let character = text
                    .get(error.position..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                IdError::InvalidCharacter {
                    character,
                    position: error.position,
                }
            }
            DecodeKind::Trailing => IdError::NonCanonical,
            DecodeKind::Length | DecodeKind::Padding => IdError::WrongLength {
                len_chars: text.len(),
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_the_convex_alphabet_msb_first() {
        assert_eq!(encode(&[0x00]), "00");
        assert_eq!(encode(&[0xff]), "zw");
        assert_eq!(encode(&[0x08, 0x42]), "1110");
        assert_eq!(decode("1110").unwrap(), [0x08, 0x42]);
    }

    #[test]
    fn rejects_characters_outside_the_alphabet() {
        for bad in ["i0", "l0", "o0", "u0", "A0", "0="] {
            let err = decode(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    IdError::InvalidCharacter {
                        position: 0 | 1,
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            decode("0é0").unwrap_err(),
            IdError::InvalidCharacter {
                character: 'é',
                position: 1
            }
        );
    }

    #[test]
    fn rejects_non_canonical_trailing_bits_and_impossible_lengths() {
        assert_eq!(decode("zz").unwrap_err(), IdError::NonCanonical);
        assert_eq!(
            decode("0").unwrap_err(),
            IdError::WrongLength { len_chars: 1 }
        );
    }
}
