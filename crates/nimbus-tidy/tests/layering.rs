//! Reads `cargo metadata` and fails if any Nimbus crate depends "upwards" against the layering,
//! if `nimbus-runtime` (or `nimbus-values`) depends on another Nimbus crate, or if a workspace
//! crate is missing from the layer table.

use std::process::Command;

use nimbus_tidy::layering_violations;
use serde_json::json;

fn workspace_metadata() -> serde_json::Value {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("parsing cargo metadata")
}

#[test]
fn the_workspace_respects_the_layering() {
    let metadata = workspace_metadata();
    let names: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"nimbus-runtime") && names.contains(&"nimbus-values"),
        "{names:?}"
    );
    let violations = layering_violations(&metadata);
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

fn package(name: &str, deps: &[&str]) -> serde_json::Value {
    json!({ "name": name, "dependencies": deps.iter().map(|d| json!({ "name": d })).collect::<Vec<_>>() })
}

#[test]
fn upward_and_runtime_edges_are_reported() {
    let metadata = json!({ "packages": [
        package("nimbus-runtime", &["nimbus-values"]),
        package("nimbus-engine", &["nimbus-storage", "nimbus-server"]),
        package("nimbus-storage", &["nimbus-values", "serde"]),
        package("nimbus-mystery", &[]),
    ]});
    let violations = layering_violations(&metadata);
    assert_eq!(violations.len(), 3, "{violations:#?}");
    assert!(violations[0].contains("nimbus-runtime must not depend"));
    assert!(violations[1].contains("nimbus-engine (layer 2) depends on nimbus-server (layer 4)"));
    assert!(violations[2].contains("nimbus-mystery is not in"));
}
