//! Repository hygiene checks, run by `cargo test` like any other test.
//!
//! The crate has no runtime code: its tests read `cargo metadata` and the source tree and fail
//! when the layering of Nimbus crates is broken or a module lacks its `//!` header. This file
//! holds the layer table the layering test enforces.

/// Where each Nimbus crate sits. A crate may depend (normally, for dev, or for build) only on
/// Nimbus crates of a strictly lower layer. `nimbus-runtime` is special: it depends on no other
/// Nimbus crate at all, so the isolate layer can be reasoned about (and reused) on its own.
pub const LAYERS: &[(&str, u32)] = &[
    ("nimbus-values", 0),
    ("nimbus-runtime", 0),
    ("nimbus-storage", 1),
    ("nimbus-engine", 2),
    ("nimbus-functions", 3),
    ("nimbus-server", 4),
    ("nimbus-cli", 5),
    ("nimbus-tidy", 6),
];

/// Crates that must not depend on any other Nimbus crate.
pub const STANDALONE: &[&str] = &["nimbus-values", "nimbus-runtime"];

/// The layer of a crate, if it is in the table.
pub fn layer_of(name: &str) -> Option<u32> {
    LAYERS
        .iter()
        .find(|(crate_name, _)| *crate_name == name)
        .map(|(_, layer)| *layer)
}

/// Every layering violation in `cargo metadata` output (`--format-version 1`).
pub fn layering_violations(metadata: &serde_json::Value) -> Vec<String> {
    let mut violations = Vec::new();
    let packages = metadata["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(layer) = layer_of(name) else {
            violations.push(format!(
                "{name} is not in nimbus_tidy::LAYERS; add it with its layer"
            ));
            continue;
        };
        let deps = package["dependencies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for dep in deps {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if !dep_name.starts_with("nimbus-") {
                continue;
            }
            if STANDALONE.contains(&name) {
                violations.push(format!(
                    "{name} must not depend on any Nimbus crate, but depends on {dep_name}"
                ));
                continue;
            }
            match layer_of(dep_name) {
                Some(dep_layer) if dep_layer < layer => {}
                Some(dep_layer) => violations.push(format!(
                    "{name} (layer {layer}) depends on {dep_name} (layer {dep_layer}): \
                     dependencies must point to lower layers"
                )),
                None => violations.push(format!(
                    "{name} depends on {dep_name}, which is not in the layer table"
                )),
            }
        }
    }
    violations
}
