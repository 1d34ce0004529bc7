//! The embedded bundler: turns an app's `convex/` folder into the modules Nimbus deploys,
//! following the Convex CLI's entry-point rules, with oxc for parsing, TypeScript stripping,
//! code generation and module resolution.

mod entries;
mod graph;
mod transpile;

use std::path::Path;
use std::time::Instant;

use nimbus_functions::AppModules;
use nimbus_runtime::ModuleSource;

pub use entries::{entries, schema_file};

/// What bundling produced.
#[derive(Debug)]
pub struct Bundled {
    /// The modules.
    pub modules: AppModules,
    /// How many function modules (entry points).
    pub entry_count: usize,
    /// Time taken.
    pub elapsed: std::time::Duration,
}

/// Bundles `app_dir/convex`.
pub fn bundle(app_dir: &Path) -> Result<Bundled, String> {
    let started = Instant::now();
    let convex_dir = app_dir.join("convex");
    if !convex_dir.is_dir() {
        return Err(format!(
            "{} has no convex/ folder; run `nimbus init` to create an app",
            app_dir.display()
        ));
    }
    let entries =
        entries(&convex_dir).map_err(|e| format!("reading {}: {e}", convex_dir.display()))?;
    let mut roots: Vec<_> = entries
        .iter()
        .map(|e| (e.file.clone(), e.module.clone()))
        .collect();
    let schema = schema_file(&convex_dir);
    if let Some(schema) = &schema {
        roots.push((schema.clone(), "schema.js".to_owned()));
    }
    let built = graph::Graph::new(app_dir).build(&roots)?;
    let mut modules = Vec::new();
    let mut schema_module = None;
    for (path, source) in built {
        let module = ModuleSource {
            path: path.clone(),
            source: source.into(),
        };
        if path == "schema.js" && schema.is_some() {
            schema_module = Some(module);
        } else {
            modules.push(module);
        }
    }
    Ok(Bundled {
        modules: AppModules {
            modules,
            schema: schema_module,
        },
        entry_count: entries.len(),
        elapsed: started.elapsed(),
    })
}

/// Bundles a Workers-style app: `main` and everything it imports, paths relative to `app_dir`.
/// Returns the modules and the main module's bundle path.
pub fn bundle_fetch_app(
    app_dir: &Path,
    main: &Path,
) -> Result<(Vec<ModuleSource>, String), String> {
    let graph = graph::Graph::with_base(app_dir, app_dir);
    let main_module = graph.bundle_path(&app_dir.join(main))?;
    let built = graph.build(&[(app_dir.join(main), main_module.clone())])?;
    let modules = built
        .into_iter()
        .map(|(path, source)| ModuleSource {
            path,
            source: source.into(),
        })
        .collect();
    Ok((modules, main_module))
}
