//! Document ids (`_id`), Convex "v6" format (spec §1.6).
//!
//! Binary form: `VInt(table number) ‖ internal id (16 bytes) ‖ footer (2 bytes LE)`, where the
//! VInt is LEB128 (7 bits per byte, low bits first, 1–5 bytes for a u32) and the footer is
//! fletcher16 over everything before it (XOR the format version, 0). The text form is that in
//! [`crate::base32`]: 31, 32, 34, 36 or 37 characters depending on the VInt length.
//!
//! Decoding accepts only canonical ids (the exact string we would issue), so an id can be used
//! as a string key anywhere without normalising it first.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use rand::Rng;

use crate::base32;
use crate::error::IdError;

/// Bytes of the random-plus-date part of an id.
pub const INTERNAL_ID_LEN_BYTES: usize = 16;
/// Most bytes a table number's VInt can take (enough for any u32).
const MAX_VINT_LEN_BYTES: usize = 5;
/// Bytes of the checksum footer.
const FOOTER_LEN_BYTES: usize = 2;
/// Format version, folded into the footer.
const ID_VERSION: u16 = 0;
/// Random bytes at the start of a generated internal id; the last 2 hold the date.
const RANDOM_LEN_BYTES: usize = 14;

/// A table's number inside its deployment. Zero is never a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableNumber(NonZeroU32);

impl TableNumber {
    /// A table number; zero is rejected.
    pub fn new(number: u32) -> Result<Self, IdError> {
        NonZeroU32::new(number)
            .map(Self)
            .ok_or(IdError::ZeroTableNumber)
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// A document id: which table, and which document in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId {
    table_number: TableNumber,
    internal_id: [u8; INTERNAL_ID_LEN_BYTES],
}

impl DocumentId {
    /// An id from its parts.
    pub fn new(table_number: TableNumber, internal_id: [u8; INTERNAL_ID_LEN_BYTES]) -> Self {
        Self {
            table_number,
            internal_id,
        }
    }

    /// A fresh id the way Convex makes them: 14 random bytes, then `days_since_epoch` as 2
    /// big-endian bytes (so ids made on later days tend to sort later).
    pub fn generate<R: Rng + ?Sized>(
        table_number: TableNumber,
        days_since_epoch: u16,
        rng: &mut R,
    ) -> Self {
        let mut internal_id = [0u8; INTERNAL_ID_LEN_BYTES];
        rng.fill(&mut internal_id[..RANDOM_LEN_BYTES]);
        internal_id[RANDOM_LEN_BYTES..].copy_from_slice(&days_since_epoch.to_be_bytes());
        Self {
            table_number,
            internal_id,
        }
    }

    /// The table this document belongs to.
    pub fn table_number(&self) -> TableNumber {
        self.table_number
    }

    /// The document's 16-byte identity within its table.
    pub fn internal_id(&self) -> [u8; INTERNAL_ID_LEN_BYTES] {
        self.internal_id
    }

    /// The id's text form.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(MAX_VINT_LEN_BYTES + INTERNAL_ID_LEN_BYTES + 2);
        write_vint(self.table_number.get(), &mut bytes);
        bytes.extend_from_slice(&self.internal_id);
        let footer = fletcher16(&bytes) ^ ID_VERSION;
        bytes.extend_from_slice(&footer.to_le_bytes());
        base32::encode(&bytes)
    }

    /// Parses an id's text form, accepting only canonical, checksum-valid ids.
    pub fn decode(text: &str) -> Result<Self, IdError> {
        if !matches!(text.len(), 31 | 32 | 34 | 36 | 37) {
            return Err(IdError::WrongLength {
                len_chars: text.len(),
            });
        }
        let bytes = base32::decode(text)?;
        let (table_number, vint_len) = read_vint(&bytes)?;
        let expected_bytes = vint_len + INTERNAL_ID_LEN_BYTES + FOOTER_LEN_BYTES;
        if bytes.len() != expected_bytes {
            return Err(IdError::LengthMismatch {
                expected_bytes,
                actual_bytes: bytes.len(),
            });
        }
        let (body, footer) = bytes.split_at(expected_bytes - FOOTER_LEN_BYTES);
        let found = u16::from_le_bytes([footer[0], footer[1]]);
        let computed = fletcher16(body) ^ ID_VERSION;
        if found != computed {
            return Err(IdError::ChecksumMismatch { found, computed });
        }
        let mut internal_id = [0u8; INTERNAL_ID_LEN_BYTES];
        internal_id.copy_from_slice(&body[vint_len..]);
        Ok(Self {
            table_number: TableNumber::new(table_number)?,
            internal_id,
        })
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for DocumentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(s)
    }
}

fn write_vint(mut number: u32, out: &mut Vec<u8>) {
    loop {
        let low = (number & 0x7f) as u8;
        number >>= 7;
        if number == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Reads a minimal LEB128 u32, returning it and its length in bytes.
fn read_vint(bytes: &[u8]) -> Result<(u32, usize), IdError> {
    let mut number: u64 = 0;
    for (index, &byte) in bytes.iter().take(MAX_VINT_LEN_BYTES).enumerate() {
        number |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            // A zero final byte after the first would be padding: another spelling of the
            // same number, so not canonical.
            if byte == 0 && index > 0 {
                return Err(IdError::NonMinimalTableNumber);
            }
            let number = u32::try_from(number).map_err(|_| IdError::TableNumberOverflow)?;
            return Ok((number, index + 1));
        }
    }
    Err(IdError::TableNumberOverflow)
}

/// Fletcher-16 with mod-256 sums, as the id footer uses it.
fn fletcher16(bytes: &[u8]) -> u16 {
    let (mut c0, mut c1) = (0u8, 0u8);
    for &byte in bytes {
        c0 = c0.wrapping_add(byte);
        c1 = c1.wrapping_add(c0);
    }
    (u16::from(c1) << 8) | u16::from(c0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SPEC_INTERNAL_ID: [u8; 16] = [
        0x0b, 0x30, 0x55, 0x7a, 0x9f, 0xc4, 0xe9, 0x0e, 0x33, 0x58, 0x7d, 0xa2, 0xc7, 0xec, 0x11,
        0x36,
    ];
    const SPEC_ID: &str = "j570pc2nfafw9t8e6dc7v8p7xg8kdsw0";

    fn table(number: u32) -> TableNumber {
        TableNumber::new(number).unwrap()
    }

    /// Builds an id string from raw binary parts, to craft invalid ids.
    fn raw_id(vint: &[u8], internal: &[u8], footer: Option<u16>) -> String {
        let mut bytes = vint.to_vec();
        bytes.extend_from_slice(internal);
        let footer = footer.unwrap_or_else(|| fletcher16(&bytes));
        bytes.extend_from_slice(&footer.to_le_bytes());
        base32::encode(&bytes)
    }

    #[test]
    fn encodes_the_spec_example() {
        let id = DocumentId::new(table(10001), SPEC_INTERNAL_ID);
        assert_eq!(id.encode(), SPEC_ID);
        let decoded: DocumentId = SPEC_ID.parse().unwrap();
        assert_eq!(decoded, id);
        assert_eq!(decoded.table_number().get(), 10001);
        assert_eq!(decoded.internal_id(), SPEC_INTERNAL_ID);
    }

    #[test]
    fn length_grows_with_the_table_number() {
        for (number, len) in [
            (1, 31),
            (127, 31),
            (128, 32),
            (16_384, 34),
            (1 << 21, 36),
            (1 << 28, 37),
            (u32::MAX, 37),
        ] {
            let id = DocumentId::new(table(number), [7; 16]);
            let text = id.encode();
            assert_eq!(text.len(), len, "table {number}");
            assert_eq!(DocumentId::decode(&text).unwrap(), id);
        }
    }

    #[test]
    fn generate_puts_the_day_last_and_randomness_first() {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(7);
        let a = DocumentId::generate(table(10001), 0x4e2b, &mut rng);
        let b = DocumentId::generate(table(10001), 0x4e2b, &mut rng);
        assert_eq!(a.internal_id()[14..], [0x4e, 0x2b]);
        assert_ne!(a.internal_id()[..14], b.internal_id()[..14]);
        assert_eq!(DocumentId::decode(&a.encode()).unwrap(), a);
    }

    #[test]
    fn zero_table_number_is_invalid() {
        assert_eq!(TableNumber::new(0), Err(IdError::ZeroTableNumber));
        assert_eq!(
            DocumentId::decode(&raw_id(&[0], &[1; 16], None)),
            Err(IdError::ZeroTableNumber)
        );
    }

    #[test]
    fn rejects_wrong_lengths() {
        for len_chars in [0, 1, 30, 33, 35, 38, 100] {
            assert_eq!(
                DocumentId::decode(&"0".repeat(len_chars)),
                Err(IdError::WrongLength { len_chars })
            );
        }
    }

    #[test]
    fn rejects_characters_outside_the_alphabet() {
        let upper = SPEC_ID.to_uppercase();
        assert_eq!(
            DocumentId::decode(&upper),
            Err(IdError::InvalidCharacter {
                character: 'J',
                position: 0
            })
        );
        let with_i = format!("{}i{}", &SPEC_ID[..5], &SPEC_ID[6..]);
        assert_eq!(
            DocumentId::decode(&with_i),
            Err(IdError::InvalidCharacter {
                character: 'i',
                position: 5
            })
        );
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // 32 chars hold 160 bits, exactly 20 bytes: no spare bits. 31 chars carry 3 spare bits.
        let id = DocumentId::new(table(1), [9; 16]).encode();
        let last = id.chars().last().unwrap();
        let index = base32::ID_ALPHABET.find(last).unwrap();
        let bumped = base32::ID_ALPHABET.as_bytes()[index + 1] as char;
        let tampered = format!("{}{bumped}", &id[..30]);
        assert_eq!(DocumentId::decode(&tampered), Err(IdError::NonCanonical));
    }

    #[test]
    fn rejects_checksum_mismatch() {
        let mut text: Vec<u8> = SPEC_ID.as_bytes().to_vec();
        text[10] = if text[10] == b'0' { b'1' } else { b'0' };
        let err = DocumentId::decode(std::str::from_utf8(&text).unwrap()).unwrap_err();
        assert!(matches!(err, IdError::ChecksumMismatch { .. }), "{err}");
        let wrong_footer = raw_id(&[0x91, 0x4e], &SPEC_INTERNAL_ID, Some(0x1234));
        assert!(matches!(
            DocumentId::decode(&wrong_footer),
            Err(IdError::ChecksumMismatch { found: 0x1234, .. })
        ));
    }

    #[test]
    fn rejects_malformed_table_numbers() {
        // Table 1 spelled with a redundant second VInt byte: 20 bytes, a valid 32-char length.
        let padded = raw_id(&[0x81, 0x00], &[1; 16], None);
        assert_eq!(
            DocumentId::decode(&padded),
            Err(IdError::NonMinimalTableNumber)
        );
        // A 5-byte VInt above u32::MAX.
        let too_big = raw_id(&[0xff, 0xff, 0xff, 0xff, 0x7f], &[1; 16], None);
        assert_eq!(
            DocumentId::decode(&too_big),
            Err(IdError::TableNumberOverflow)
        );
        // A VInt that never ends within 5 bytes.
        let endless = raw_id(&[0xff; 5], &[1; 16], None);
        assert_eq!(
            DocumentId::decode(&endless),
            Err(IdError::TableNumberOverflow)
        );
    }

    #[test]
    fn rejects_lengths_inconsistent_with_the_table_number() {
        // 2-byte VInt, but only 17 bytes follow it in a 20-byte id... make it 19 bytes total
        // (31 chars) with a VInt that claims 2 bytes.
        let short = raw_id(&[0x91, 0x4e], &[1; 15], None);
        assert_eq!(short.len(), 31);
        assert_eq!(
            DocumentId::decode(&short),
            Err(IdError::LengthMismatch {
                expected_bytes: 20,
                actual_bytes: 19
            })
        );
    }

    #[test]
    fn errors_say_what_to_do() {
        let message = DocumentId::decode("abc").unwrap_err().to_string();
        assert!(message.contains("31, 32, 34, 36 or 37"), "{message}");
    }
}
