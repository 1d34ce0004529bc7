//! Prefix scans over text keys as a range `[prefix, upper)`, so a database can answer them
//! with one bounded walk of its index instead of `LIKE` (whose `%` and `_` would need escaping).

/// The smallest string above every string that starts with `prefix`, in byte (code point)
/// order; `None` when no such bound exists (empty prefix, or only `char::MAX`s).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // `char::from_u32` fails only on surrogates; skip past them to the next valid char.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_every_extension_of_the_prefix() {
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let upper = prefix_upper_bound("tbl/").unwrap();
        assert!("tbl/\u{10FFFF}zzz" < upper.as_str() && "tbl0" >= upper.as_str());
    }
}
