//! Pagination cursors: opaque strings naming a position in an index.
//!
//! A cursor is the boundary between what a page returned and what comes next: for ascending
//! order the next page starts *at* the boundary key, for descending order it ends just before
//! it. Positions are index keys, not offsets, so inserts before the cursor never shift later
//! pages. The text form is URL-safe base64 of a tag byte and the key; `"_end_"` means the end
//! of the range has been reached.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::EngineError;

const END: &str = "_end_";

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The boundary key.
    At(Vec<u8>),
    /// Nothing is left.
    End,
}

impl Cursor {
    /// The text form.
    pub fn encode(&self) -> String {
        match self {
            Cursor::End => END.to_owned(),
            Cursor::At(key) => {
                let mut bytes = Vec::with_capacity(key.len() + 1);
                bytes.push(1);
                bytes.extend_from_slice(key);
                URL_SAFE_NO_PAD.encode(bytes)
            }
        }
    }

    /// Reads the text form.
    pub fn decode(text: &str) -> Result<Self, EngineError> {
        if text == END {
            return Ok(Cursor::End);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| EngineError::InvalidCursor(format!("\"{text}\" is not a cursor")))?;
        match bytes.split_first() {
            Some((1, key)) => Ok(Cursor::At(key.to_vec())),
            _ => Err(EngineError::InvalidCursor(format!(
                "\"{text}\" is not a cursor"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        for cursor in [Cursor::End, Cursor::At(vec![]), Cursor::At(vec![0, 255, 7])] {
            assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        }
        assert!(Cursor::decode("not a cursor!").is_err());
        assert!(Cursor::decode("AA").is_err());
    }
}
