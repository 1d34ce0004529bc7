//! Function paths: `messages:list`, `dir/file:fn`, `messages` (the default export), with or
//! without `.js` — all normalised to a module path and an export name.

use crate::error::FunctionError;

/// A normalised function path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionPath {
    /// Module path inside the bundle, always ending in `.js` (`messages.js`).
    pub module: String,
    /// Export name (`default` when the path names none).
    pub export: String,
}

impl FunctionPath {
    /// Parses `module:export`.
    pub fn parse(text: &str) -> Result<Self, FunctionError> {
        let (module, export) = match text.rsplit_once(':') {
            Some((module, export)) => (module, export),
            None => (text, "default"),
        };
        let module = module.trim_start_matches("./").trim_start_matches('/');
        let bad = || {
            FunctionError::user(format!(
                "Invalid function path \"{text}\": expected \"module:function\", e.g. \"messages:list\""
            ))
        };
        if module.is_empty() || export.is_empty() || module.contains("..") || module.contains(' ') {
            return Err(bad());
        }
        let module = if module.ends_with(".js") {
            module.to_owned()
        } else {
            format!("{module}.js")
        };
        if module.starts_with("_deps/") {
            return Err(FunctionError::not_found(format!(
                "Could not find public function for '{text}'."
            )));
        }
        Ok(Self {
            module,
            export: export.to_owned(),
        })
    }

    /// Convex's canonical display form: `messages:list` (`messages.js` → `messages`).
    pub fn canonical(&self) -> String {
        let module = self.module.strip_suffix(".js").unwrap_or(&self.module);
        if self.export == "default" {
            module.to_owned()
        } else {
            format!("{module}:{}", self.export)
        }
    }
}

impl std::fmt::Display for FunctionPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        let p = FunctionPath::parse("messages:list").unwrap();
        assert_eq!(
            (p.module.as_str(), p.export.as_str()),
            ("messages.js", "list")
        );
        assert_eq!(
            FunctionPath::parse("dir/a.js:f").unwrap().canonical(),
            "dir/a:f"
        );
        assert_eq!(FunctionPath::parse("messages").unwrap().export, "default");
        assert!(FunctionPath::parse("../x:y").is_err());
        assert!(FunctionPath::parse(":x").is_err());
        assert!(FunctionPath::parse("_deps/abc:x").is_err());
    }
}
