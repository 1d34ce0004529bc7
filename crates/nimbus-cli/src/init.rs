//! `nimbus init [DIR]`: scaffolds a working app from the templates compiled into the binary.

use std::path::Path;
use std::process::ExitCode;

/// (relative path, contents) of every template file.
const TEMPLATE: &[(&str, &str)] = &[
    (".gitignore", include_str!("../templates/app/.gitignore")),
    ("README.md", include_str!("../templates/app/README.md")),
    (
        "convex/actions.ts",
        include_str!("../templates/app/convex/actions.ts"),
    ),
    (
        "convex/crons.ts",
        include_str!("../templates/app/convex/crons.ts"),
    ),
    (
        "convex/heartbeat.ts",
        include_str!("../templates/app/convex/heartbeat.ts"),
    ),
    (
        "convex/http.ts",
        include_str!("../templates/app/convex/http.ts"),
    ),
    (
        "convex/messages.ts",
        include_str!("../templates/app/convex/messages.ts"),
    ),
    (
        "convex/schema.ts",
        include_str!("../templates/app/convex/schema.ts"),
    ),
    (
        "convex/tsconfig.json",
        include_str!("../templates/app/convex/tsconfig.json"),
    ),
    (
        "package.json",
        include_str!("../templates/app/package.json"),
    ),
    (
        "public/app.js",
        include_str!("../templates/app/public/app.js"),
    ),
    (
        "public/index.html",
        include_str!("../templates/app/public/index.html"),
    ),
];

/// Writes the template into `dir` (which must be empty or missing).
pub fn scaffold(dir: &Path) -> Result<usize, String> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} is not empty; choose a new directory",
            dir.display()
        ));
    }
    if TEMPLATE.is_empty() {
        return Err("the app template is not available in this build".into());
    }
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("app");
    for (path, contents) in TEMPLATE {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&target, contents.replace("__APP_NAME__", name))
            .map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(TEMPLATE.len())
}

/// Entry point of `nimbus init`.
pub fn run(dir: &Path) -> ExitCode {
    match scaffold(dir) {
        Ok(count) => {
            println!(
                "✔ created {} ({count} files)\nnext: nimbus dev {}",
                dir.display(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("nimbus init: {error}");
            ExitCode::from(1)
        }
    }
}
