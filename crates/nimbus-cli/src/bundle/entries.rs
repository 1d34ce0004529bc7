//! Which files under `convex/` are function modules: the Convex CLI's entry-point rules.
//!
//! Every `.ts/.tsx/.js/.jsx/.mjs/.cjs/.mts/.cts` file, except `_generated/`, dotfiles,
//! `schema.*` (bundled on its own), files whose name has more than one dot (`auth.config.ts`,
//! `x.test.ts`), `.d.ts` files and paths with spaces.

use std::path::{Path, PathBuf};

const EXTENSIONS: &[&str] = &["ts", "tsx", "js", "jsx", "mjs", "cjs", "mts", "cts"];
/// Deepest directory nesting walked under `convex/`.
const DEPTH_MAX: usize = 16;

/// A function module's source file and its module path in the bundle (`dir/file.js`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File on disk.
    pub file: PathBuf,
    /// Bundle path.
    pub module: String,
}

/// The bundle path of a file under `convex/`: its relative path with a `.js` extension.
pub fn module_path(convex_dir: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(convex_dir).ok()?;
    let mut text = relative.to_str()?.replace('\\', "/");
    let dot = text.rfind('.')?;
    text.truncate(dot);
    text.push_str(".js");
    Some(text)
}

fn is_entry(name: &str) -> bool {
    if name.starts_with('.')
        || name.starts_with('#')
        || name.contains(' ')
        || name.ends_with(".d.ts")
    {
        return false;
    }
    let Some((stem, extension)) = name.rsplit_once('.') else {
        return false;
    };
    EXTENSIONS.contains(&extension) && !stem.contains('.') && stem != "schema"
}

fn walk(dir: &Path, convex_dir: &Path, depth: usize, out: &mut Vec<Entry>) -> std::io::Result<()> {
    if depth > DEPTH_MAX {
        return Ok(());
    }
    let mut items: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    items.sort_by_key(|e| e.file_name());
    for item in items {
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name == "_generated" || name == "node_modules" || name.starts_with('.') {
                continue;
            }
            walk(&path, convex_dir, depth + 1, out)?;
        } else if is_entry(&name)
            && let Some(module) = module_path(convex_dir, &path)
        {
            out.push(Entry { file: path, module });
        }
    }
    Ok(())
}

/// The function modules of `convex_dir`, sorted by path.
pub fn entries(convex_dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    walk(convex_dir, convex_dir, 0, &mut out)?;
    Ok(out)
}

/// The schema file, if any (`schema.ts` or `schema.js`).
pub fn schema_file(convex_dir: &Path) -> Option<PathBuf> {
    ["schema.ts", "schema.js"]
        .iter()
        .map(|n| convex_dir.join(n))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_convex_cli_rules() {
        for name in ["messages.ts", "a.tsx", "b.mjs", "http.ts"] {
            assert!(is_entry(name), "{name}");
        }
        for name in [
            "schema.ts",
            "auth.config.ts",
            "x.test.ts",
            ".hidden.ts",
            "types.d.ts",
            "with space.ts",
            "notes.md",
        ] {
            assert!(!is_entry(name), "{name}");
        }
        assert_eq!(
            module_path(Path::new("/a/convex"), Path::new("/a/convex/dir/f.ts")).unwrap(),
            "dir/f.js"
        );
    }
}
