//! Locations inside a value (`.messages[3].body`), so errors can say *where* something is wrong.

use std::fmt;

/// One step from a container to one of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// An object field, by name.
    Field(String),
    /// An array element, by zero-based position.
    Index(usize),
}

/// The route from the top-level value to a nested one. Empty means the top level itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValuePath {
    segments: Vec<PathSegment>,
}

impl ValuePath {
    /// The path of the top-level value.
    pub fn root() -> Self {
        Self::default()
    }

    /// Number of containers between the top level and this location.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    /// The steps of this path, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    pub(crate) fn push(&mut self, segment: PathSegment) {
        self.segments.push(segment);
    }

    pub(crate) fn pop(&mut self) {
        self.segments.pop();
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("the top level");
        }
        for segment in &self.segments {
            match segment {
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_fields_and_indexes_like_js_paths() {
        let mut path = ValuePath::root();
        assert_eq!(path.to_string(), "the top level");
        path.push(PathSegment::Field("messages".into()));
        path.push(PathSegment::Index(3));
        path.push(PathSegment::Field("body".into()));
        assert_eq!(path.to_string(), ".messages[3].body");
        assert_eq!(path.depth(), 3);
        path.pop();
        assert_eq!(path.to_string(), ".messages[3]");
    }
}
