//! `nimbus dev [DIR]`: the developer loop. Starts an embedded server on SQLite, creates the
//! app's tenant, then over and over: generate `convex/_generated/`, bundle `convex/` with the
//! embedded bundler, deploy, and wait for a file change — printing each step with its timing,
//! errors with their file and line and a hint, and the functions' log lines as they run. The
//! app's `public/` folder is served on the same port, with the `convex` browser client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use nimbus_server::{Server, ServerConfig};
use nimbus_storage::{SqlitePersistence, TenantName};
use notify::{RecursiveMode, Watcher};

use nimbus_cli::bundle;
use nimbus_cli::codegen;

/// Quiet time after the last file change before rebuilding.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Options of `nimbus dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// App directory (with `convex/` and optionally `public/`).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3210")]
    listen: String,
    /// Data directory (defaults to `<DIR>/.nimbus`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Build and deploy once, then exit (for scripts).
    #[arg(long)]
    once: bool,
}

fn tenant_name(app_dir: &Path) -> String {
    let raw = app_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("app")
        .to_ascii_lowercase();
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() {
        "app".into()
    } else {
        trimmed.chars().take(40).collect()
    }
}

fn step(name: &str, started: Instant) {
    println!("  ✔ {name} ({} ms)", started.elapsed().as_millis());
}

/// Runs `npm install` when the app's dependencies are missing.
fn ensure_dependencies(app_dir: &Path) -> anyhow::Result<()> {
    if app_dir.join("node_modules").join("convex").is_dir()
        || !app_dir.join("package.json").is_file()
    {
        return Ok(());
    }
    let started = Instant::now();
    println!("• installing the app's npm dependencies (first run)…");
    let lockfile = app_dir.join("package-lock.json").is_file();
    let status = std::process::Command::new("npm")
        .args(if lockfile {
            vec!["ci", "--no-audit", "--no-fund"]
        } else {
            vec!["install", "--no-audit", "--no-fund"]
        })
        .current_dir(app_dir)
        .status()
        .context("running npm (is Node.js installed?)")?;
    anyhow::ensure!(
        status.success(),
        "npm failed in {}; fix the error above and run again",
        app_dir.display()
    );
    step("npm dependencies", started);
    Ok(())
}

/// One build-and-deploy round; errors are printed, not fatal.
async fn build_and_deploy(server: &Server, app_dir: &Path, tenant: &TenantName) -> bool {
    let round = Instant::now();
    let convex_dir = app_dir.join("convex");
    let started = Instant::now();
    let entries = match bundle::entries(&convex_dir) {
        Ok(entries) => entries,
        Err(error) => {
            eprintln!("  ✖ cannot read {}: {error}", convex_dir.display());
            return false;
        }
    };
    let modules: Vec<String> = entries.iter().map(|e| e.module.clone()).collect();
    if let Err(error) = codegen::generate(
        app_dir,
        &modules,
        bundle::schema_file(&convex_dir).is_some(),
    ) {
        eprintln!("  ✖ writing convex/_generated: {error}");
        return false;
    }
    step("generated convex/_generated", started);
    let bundled = match bundle::bundle(app_dir) {
        Ok(bundled) => bundled,
        Err(error) => {
            eprintln!(
                "  ✖ bundling failed:\n    {error}\n    hint: fix the file and save; nimbus dev rebuilds on every change"
            );
            return false;
        }
    };
    println!(
        "  ✔ bundled {} function modules, {} modules in all ({} ms)",
        bundled.entry_count,
        bundled.modules.modules.len(),
        bundled.elapsed.as_millis()
    );
    let started = Instant::now();
    match server
        .runner()
        .deploy(tenant, bundled.modules, Default::default())
        .await
    {
        Ok(deployment) => {
            server.schedule_changed(tenant);
            step(
                &format!("deployed {} functions", deployment.functions.len()),
                started,
            );
            println!("✔ ready in {} ms", round.elapsed().as_millis());
            true
        }
        Err(error) => {
            eprintln!(
                "  ✖ deploy failed: {}\n    hint: the previous version keeps serving; fix the error and save",
                error.message
            );
            false
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn serve_file(path: &Path) -> Response {
    match std::fs::read(path) {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, content_type(&path.to_string_lossy()))],
            bytes,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The app's page: `public/` files, the convex browser client, and the page's configuration.
fn page_routes(app_dir: PathBuf, convex_url: String) -> Router {
    let public = app_dir.join("public");
    let client = app_dir.join("node_modules/convex/dist/browser.bundle.js");
    let index = public.join("index.html");
    Router::new()
        .route("/", get(move || std::future::ready(serve_file(&index))))
        .route(
            "/_nimbus/convex.js",
            get(move || std::future::ready(serve_file(&client))),
        )
        .route(
            "/_nimbus/config.js",
            get(move || {
                let body = format!(
                    "window.NIMBUS = {{ convexUrl: {} }};\n",
                    serde_json::Value::String(convex_url.clone())
                );
                std::future::ready(
                    (
                        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                        body,
                    )
                        .into_response(),
                )
            }),
        )
        .route(
            "/{file}",
            get(move |UrlPath(file): UrlPath<String>| {
                let response = if file.contains("..") || file.contains('/') || file.starts_with('.')
                {
                    (StatusCode::NOT_FOUND, "not found").into_response()
                } else {
                    serve_file(&public.join(&file))
                };
                std::future::ready(response)
            }),
        )
}

async fn stream_logs(server: Server, tenant: String) {
    let mut cursor = 0.0;
    loop {
        let (entries, next) = server
            .function_logs(&tenant, cursor, Duration::from_secs(30))
            .await;
        cursor = next;
        for entry in entries {
            let name = entry["identifier"].as_str().unwrap_or("?");
            for line in entry["logLines"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                println!("  [{name}] {}", line.as_str().unwrap_or_default());
            }
            if let Some(error) = entry["error"].as_str() {
                println!(
                    "  [{name}] failed: {}",
                    error.lines().next().unwrap_or(error)
                );
            }
        }
    }
}

async fn dev(args: DevArgs) -> anyhow::Result<bool> {
    let app_dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("no app directory at {}", args.dir.display()))?;
    println!("nimbus dev {}", app_dir.display());
    ensure_dependencies(&app_dir)?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| app_dir.join(".nimbus"));
    std::fs::create_dir_all(&data_dir)?;
    let started = Instant::now();
    let persistence = Arc::new(
        SqlitePersistence::open(data_dir.join("tenants")).context("opening SQLite storage")?,
    );
    let operator_key = hex::encode(rand::random::<[u8; 16]>());
    let server = Server::new(persistence, ServerConfig::new(operator_key))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let tenant = tenant_name(&app_dir);
    let admin_key = server
        .ensure_tenant(&tenant)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {} (is another nimbus running?)", args.listen))?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");
    let convex_url = format!("{base}/t/{tenant}");
    step(
        &format!(
            "embedded server on {base} (SQLite in {})",
            data_dir.display()
        ),
        started,
    );
    let tenant_name_typed = TenantName::new(&tenant).map_err(|e| anyhow::anyhow!("{e}"))?;
    let serving = tokio::spawn(server.clone().serve_with(
        listener,
        page_routes(app_dir.clone(), convex_url.clone()),
        std::future::pending(),
    ));
    let ok = build_and_deploy(&server, &app_dir, &tenant_name_typed).await;
    if ok {
        println!("ready: {base}/");
    } else {
        println!("not ready: the first build failed (see above); fix it and save, or press Ctrl-C");
    }
    println!(
        "  deployment URL {convex_url}   (tenant \"{tenant}\", admin key {}…)",
        &admin_key[..admin_key.len().min(tenant.len() + 9)]
    );
    if args.once {
        return Ok(ok);
    }
    tokio::spawn(stream_logs(server.clone(), tenant.clone()));
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<()>();
    let generated = app_dir.join("convex").join("_generated");
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| !p.starts_with(&generated))
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            let _ = events_tx.send(());
        }
    })?;
    watcher.watch(&app_dir.join("convex"), RecursiveMode::Recursive)?;
    println!("watching convex/ for changes (Ctrl-C to stop)");
    let mut ctrl_c = Box::pin(crate::serve::shutdown_signal());
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            event = events.recv() => {
                if event.is_none() {
                    break;
                }
                // Debounce: editors save in bursts.
                while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, events.recv()).await {}
                println!("• change detected, rebuilding…");
                build_and_deploy(&server, &app_dir, &tenant_name_typed).await;
            }
        }
    }
    drop(watcher);
    serving.abort();
    println!("nimbus dev stopped");
    Ok(true)
}

/// Entry point of `nimbus dev`.
pub fn run(args: DevArgs) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nimbus: cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dev(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(error) => {
            eprintln!("nimbus dev: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
