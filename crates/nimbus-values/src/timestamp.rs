//! Commit timestamps: u64 nanoseconds since the Unix epoch, sent on the wire as base64 of the
//! 8 little-endian bytes (spec §1.7), because JavaScript numbers cannot hold all u64 values.

use std::fmt;
use std::str::FromStr;

use crate::error::TimestampError;
use crate::special::decode_base64;

/// A commit timestamp in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The zero timestamp (the start of every WebSocket session's version).
    pub const ZERO: Timestamp = Timestamp(0);

    /// Nanoseconds since the Unix epoch.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Wire form: base64 of the little-endian bytes.
    pub fn to_wire_string(self) -> String {
        crate::special::bytes_to_base64(&self.0.to_le_bytes())
    }

    /// Parses the wire form.
    pub fn from_wire_string(text: &str) -> Result<Self, TimestampError> {
        let bytes = decode_base64(text).map_err(|source| TimestampError::InvalidBase64 {
            text: text.to_owned(),
            source,
        })?;
        let bytes: [u8; 8] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| TimestampError::WrongLength {
                    text: text.to_owned(),
                    len_bytes: bytes.len(),
                })?;
        Ok(Timestamp(u64::from_le_bytes(bytes)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire_string())
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_wire_string(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_matches_the_spec_examples() {
        assert_eq!(Timestamp(1000).to_wire_string(), "6AMAAAAAAAA=");
        assert_eq!(Timestamp::ZERO.to_wire_string(), "AAAAAAAAAAA=");
        assert_eq!(
            Timestamp::from_wire_string("6AMAAAAAAAA=").unwrap(),
            Timestamp(1000)
        );
        assert_eq!(
            "AAAAAAAAAAA=".parse::<Timestamp>().unwrap(),
            Timestamp::ZERO
        );
    }

    #[test]
    fn round_trips_extremes() {
        for nanos in [0, 1, u64::MAX, 1 << 63, 1_700_000_000_000_000_000] {
            let ts = Timestamp(nanos);
            assert_eq!(Timestamp::from_wire_string(&ts.to_string()).unwrap(), ts);
        }
    }

    #[test]
    fn rejects_bad_wire_strings() {
        assert!(matches!(
            Timestamp::from_wire_string("AQ=="),
            Err(TimestampError::WrongLength { len_bytes: 1, .. })
        ));
        assert!(matches!(
            Timestamp::from_wire_string("not base64"),
            Err(TimestampError::InvalidBase64 { .. })
        ));
        let message = Timestamp::from_wire_string("AQ==").unwrap_err().to_string();
        assert!(message.contains("exactly 8"), "{message}");
    }
}
