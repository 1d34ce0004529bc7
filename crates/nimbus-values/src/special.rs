//! The payloads of the special JSON objects `{"$integer": …}`, `{"$bytes": …}` and
//! `{"$float": …}`: standard padded base64 of 8 little-endian bytes (int64, f64) or of the raw
//! bytes. Shared by the JSON encoder, the text writer, the decoder and the export formats.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Key of the special object carrying an int64.
pub(crate) const INTEGER_KEY: &str = "$integer";
/// Key of the special object carrying bytes.
pub(crate) const BYTES_KEY: &str = "$bytes";
/// Key of the special object carrying a NaN, ±Infinity or −0.
pub(crate) const FLOAT_KEY: &str = "$float";

/// Base64 of the int64's 8 little-endian two's-complement bytes.
pub(crate) fn int64_to_base64(value: i64) -> String {
    STANDARD.encode(value.to_le_bytes())
}

/// Standard base64 with padding.
pub(crate) fn bytes_to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Whether a float cannot be written as a plain JSON number without losing it.
pub(crate) fn is_special_float(value: f64) -> bool {
    !value.is_finite() || (value == 0.0 && value.is_sign_negative())
}

/// Base64 of the f64's 8 little-endian IEEE 754 bytes, for [`is_special_float`] values.
pub(crate) fn float_to_base64(value: f64) -> String {
    STANDARD.encode(value.to_le_bytes())
}

/// Strict standard base64 decoding (padding required, no stray bits), like the Convex backend.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_match_the_captured_convex_encodings() {
        assert_eq!(int64_to_base64(1), "AQAAAAAAAAA=");
        assert_eq!(int64_to_base64(-1), "//////////8=");
        assert_eq!(float_to_base64(f64::NAN), "AAAAAAAA+H8=");
        assert_eq!(float_to_base64(f64::INFINITY), "AAAAAAAA8H8=");
        assert_eq!(float_to_base64(f64::NEG_INFINITY), "AAAAAAAA8P8=");
        assert_eq!(float_to_base64(-0.0), "AAAAAAAAAIA=");
        assert_eq!(bytes_to_base64(&[1, 2, 3]), "AQID");
        assert_eq!(bytes_to_base64(&[1]), "AQ==");
    }

    #[test]
    fn only_nan_infinities_and_negative_zero_are_special() {
        for special in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
            assert!(is_special_float(special), "{special}");
        }
        for ordinary in [0.0, 1.5, -1.0, f64::MAX, f64::MIN_POSITIVE, 5e-324] {
            assert!(!is_special_float(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn decoding_is_strict() {
        assert_eq!(decode_base64("AQID").unwrap(), [1, 2, 3]);
        assert!(decode_base64("AQ").is_err(), "missing padding");
        assert!(decode_base64("AR==").is_err(), "non-zero trailing bits");
        assert!(decode_base64("AQ-_").is_err(), "url-safe alphabet");
    }
}
