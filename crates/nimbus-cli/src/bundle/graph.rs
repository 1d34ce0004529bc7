//! The module graph: from the entry points, transpile every file and follow its imports —
//! relative ones and npm packages (resolved by `oxc_resolver` with the Convex CLI's conditions
//! `convex`, `module`) — giving each file a path in the bundle and rewriting its imports to
//! point there.
//!
//! Unlike esbuild, files are not concatenated into chunks: the runtime loads ES modules by
//! path, so every file stays its own module (npm files under `_deps/node_modules/…`). Module
//! semantics are the same; only the file layout differs.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};

use oxc_resolver::{ResolveOptions, Resolver};

use crate::bundle::transpile::transpile;

/// Most modules one app may pull in.
pub const MODULES_MAX: usize = 5_000;

/// A built bundle: module path → JavaScript source.
pub type Modules = BTreeMap<String, String>;

const ASYNC_HOOKS_SHIM: &str = "_deps/async_hooks.js";
const ASYNC_HOOKS_SOURCE: &str = "export const AsyncLocalStorage = globalThis.AsyncLocalStorage;\nexport const AsyncResource = globalThis.AsyncResource;\nexport default { AsyncLocalStorage, AsyncResource };\n";

/// Resolves and transpiles the graph reachable from `roots` (file, bundle path).
pub struct Graph {
    app_dir: PathBuf,
    convex_dir: PathBuf,
    resolver: Resolver,
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to the directory of `from`, both bundle paths, as an import specifier.
fn relative_specifier(from: &str, to: &str) -> String {
    let from_dir: Vec<&str> =
        from.split('/').collect::<Vec<_>>()[..from.split('/').count() - 1].to_vec();
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from_dir
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".into(); from_dir.len() - common];
    parts.extend(to_parts[common..].iter().map(|s| (*s).to_owned()));
    let joined = parts.join("/");
    if joined.starts_with("..") {
        joined
    } else {
        format!("./{joined}")
    }
}

fn js_path(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext))
            if ["ts", "tsx", "jsx", "mts", "cts", "mjs", "cjs", "json"].contains(&ext) =>
        {
            format!("{stem}.js")
        }
        Some(_) => path.to_owned(),
        None => format!("{path}.js"),
    }
}

impl Graph {
    /// A graph for the app in `app_dir` (its functions in `app_dir/convex`).
    pub fn new(app_dir: &Path) -> Self {
        Self::with_base(app_dir, &app_dir.join("convex"))
    }

    /// A graph whose files under `base_dir` keep their relative paths (fetch apps use the app
    /// directory itself).
    pub fn with_base(app_dir: &Path, base_dir: &Path) -> Self {
        let resolver = Resolver::new(ResolveOptions {
            condition_names: vec![
                "convex".into(),
                "module".into(),
                "import".into(),
                "default".into(),
            ],
            extensions: [".ts", ".tsx", ".js", ".jsx", ".mjs", ".mts", ".json"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            extension_alias: vec![(
                ".js".into(),
                vec![".ts".into(), ".tsx".into(), ".js".into()],
            )],
            main_fields: vec!["module".into(), "main".into()],
            builtin_modules: true,
            ..ResolveOptions::default()
        });
        Self {
            app_dir: app_dir.to_path_buf(),
            convex_dir: base_dir.to_path_buf(),
            resolver,
        }
    }

    /// Where a file lives in the bundle.
    pub fn bundle_path(&self, file: &Path) -> Result<String, String> {
        let file = normalize(file);
        if let Ok(relative) = file.strip_prefix(normalize(&self.convex_dir)) {
            return Ok(js_path(&relative.to_string_lossy().replace('\\', "/")));
        }
        let text = file.to_string_lossy().replace('\\', "/");
        if let Some(i) = text.rfind("/node_modules/") {
            return Ok(js_path(&format!(
                "_deps/node_modules/{}",
                &text[i + "/node_modules/".len()..]
            )));
        }
        if let Ok(relative) = file.strip_prefix(normalize(&self.app_dir)) {
            return Ok(js_path(&format!(
                "_deps/app/{}",
                relative.to_string_lossy().replace('\\', "/")
            )));
        }
        Err(format!(
            "{} is outside the app directory and node_modules; it cannot be bundled",
            file.display()
        ))
    }

    /// Builds the modules reachable from `roots`.
    pub fn build(&self, roots: &[(PathBuf, String)]) -> Result<Modules, String> {
        let mut modules = Modules::new();
        let mut queue: VecDeque<(PathBuf, String)> = roots.iter().cloned().collect();
        while let Some((file, module)) = queue.pop_front() {
            if modules.contains_key(&module) {
                continue;
            }
            if modules.len() >= MODULES_MAX {
                return Err(format!(
                    "the app pulls in more than {MODULES_MAX} modules; trim its dependencies"
                ));
            }
            let source = std::fs::read_to_string(&file)
                .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
            if file.extension().is_some_and(|e| e == "json") {
                modules.insert(module, format!("export default {};\n", source.trim()));
                continue;
            }
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let mut found = Vec::new();
            let code = transpile(&file, &source, |specifier| {
                if specifier == "async_hooks" || specifier == "node:async_hooks" {
                    found.push(None);
                    return Ok(relative_specifier(&module, ASYNC_HOOKS_SHIM));
                }
                if specifier.starts_with("node:") {
                    return Err(format!(
                        "imports the Node.js built-in \"{specifier}\"; functions run in an isolate without Node built-ins (\"use node\" actions are not supported)"
                    ));
                }
                let resolved = self
                    .resolver
                    .resolve(&dir, specifier)
                    .map_err(|e| format!("cannot resolve import \"{specifier}\": {e} (is the package installed? run `npm install`)"))?;
                let target = resolved.full_path();
                let target_module = self.bundle_path(&target)?;
                let specifier = relative_specifier(&module, &target_module);
                found.push(Some((target, target_module)));
                Ok(specifier)
            })
            .map_err(|e| e.message)?;
            for dependency in found {
                match dependency {
                    Some(pair) => queue.push_back(pair),
                    None => {
                        modules
                            .entry(ASYNC_HOOKS_SHIM.to_owned())
                            .or_insert_with(|| ASYNC_HOOKS_SOURCE.to_owned());
                    }
                }
            }
            modules.insert(module, code);
        }
        Ok(modules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_specifiers_between_bundle_paths() {
        assert_eq!(
            relative_specifier(
                "messages.js",
                "_deps/node_modules/convex/dist/esm/server/index.js"
            ),
            "./_deps/node_modules/convex/dist/esm/server/index.js"
        );
        assert_eq!(relative_specifier("dir/a.js", "b.js"), "../b.js");
        assert_eq!(
            relative_specifier("_deps/node_modules/x/a.js", "_deps/node_modules/x/lib/b.js"),
            "./lib/b.js"
        );
        assert_eq!(js_path("a/b.ts"), "a/b.js");
        assert_eq!(js_path("a/b.json"), "a/b.js");
    }
}
