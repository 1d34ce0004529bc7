//! The validated name of a tenant. Validation is strict because the name becomes a file name
//! (SQLite) and part of a schema identifier (PostgreSQL).

use std::fmt;

use crate::{MAX_TENANT_NAME_LEN_CHARS, StorageError};

/// A tenant's name: 1 to [`MAX_TENANT_NAME_LEN_CHARS`] characters of `[a-z0-9-]`, not
/// starting or ending with `-`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantName(String);

impl TenantName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, StorageError> {
        let name = name.into();
        match problem_with(&name) {
            None => Ok(Self(name)),
            Some(reason) => Err(StorageError::InvalidTenantName { name, reason }),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Says what is wrong with `name`, if anything.
fn problem_with(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.len() > MAX_TENANT_NAME_LEN_CHARS {
        return Some("it is too long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("it contains a character other than a-z, 0-9 and '-'");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("it starts or ends with '-'");
    }
    None
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantName({:?})", self.0)
    }
}

impl std::str::FromStr for TenantName {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for name in [
            "a",
            "0",
            "acme",
            "acme-prod-2",
            &"a".repeat(MAX_TENANT_NAME_LEN_CHARS),
        ] {
            assert_eq!(TenantName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_invalid_names_with_a_reason() {
        let long = "a".repeat(MAX_TENANT_NAME_LEN_CHARS + 1);
        for name in ["", "-a", "a-", "A", "a_b", "a.b", "a/b", "é", long.as_str()] {
            let err = TenantName::new(name).unwrap_err();
            assert!(
                matches!(err, StorageError::InvalidTenantName { .. }),
                "{name:?}"
            );
            assert!(err.to_string().contains("a-z, 0-9"), "{err}");
        }
    }
}
