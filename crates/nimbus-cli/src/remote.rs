//! Commands that talk to a running server over HTTP: `deploy` (the push protocol), `run`,
//! `logs` (admin key) and `tenants` / `keys` (operator key). `--json` prints machine-readable
//! output; failures exit non-zero with the server's message.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};

use nimbus_cli::bundle;
use nimbus_cli::codegen;

/// Where the server is and how to authenticate.
#[derive(Debug, Args, Clone)]
pub struct Connection {
    /// Server URL (for tenant commands: the deployment URL, `http://host:port/t/<tenant>`).
    #[arg(
        long,
        global = true,
        env = "NIMBUS_URL",
        default_value = "http://127.0.0.1:3210"
    )]
    pub url: String,
    /// Tenant admin key (`<tenant>|<secret>`).
    #[arg(long, global = true, env = "NIMBUS_ADMIN_KEY")]
    pub admin_key: Option<String>,
    /// Operator key (for `tenants` and `keys`).
    #[arg(long, global = true, env = "NIMBUS_OPERATOR_KEY")]
    pub operator_key: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `nimbus tenants …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (prints its URL and first admin key).
    Create { name: String },
    /// List tenants.
    List,
    /// Refuse a tenant's requests (403) until resumed.
    Suspend { name: String },
    /// Serve a suspended tenant again.
    Resume { name: String },
    /// Delete a tenant and all its data.
    Delete { name: String },
}

/// `nimbus keys …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue another admin key for a tenant.
    Create { tenant: String },
    /// Revoke an admin key by id.
    Revoke { tenant: String, id: String },
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("an HTTP client")
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<Json> {
    let response = request
        .send()
        .await
        .context("cannot reach the server (is it running? check --url)")?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Json = serde_json::from_str(&text).unwrap_or(Json::String(text.clone()));
    if !status.is_success() {
        let message = body["message"].as_str().map(str::to_owned).unwrap_or(text);
        bail!(
            "{} {}: {message}",
            status.as_u16(),
            body["code"].as_str().unwrap_or("")
        );
    }
    Ok(body)
}

fn operator_key(connection: &Connection) -> anyhow::Result<&str> {
    connection.operator_key.as_deref().context(
        "this command needs the operator key: pass --operator-key or set NIMBUS_OPERATOR_KEY",
    )
}

fn admin_key(connection: &Connection) -> anyhow::Result<String> {
    connection
        .admin_key
        .clone()
        .or_else(|| std::env::var("CONVEX_SELF_HOSTED_ADMIN_KEY").ok())
        .context(
            "this command needs the tenant's admin key: pass --admin-key or set NIMBUS_ADMIN_KEY",
        )
}

fn root(url: &str) -> String {
    match url.find("/t/") {
        Some(i) => url[..i].to_owned(),
        None => url.trim_end_matches('/').to_owned(),
    }
}

fn print(connection: &Connection, value: &Json, text: impl FnOnce() -> String) {
    if connection.json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

/// Runs an async command and maps its outcome to an exit code.
pub fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nimbus: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nimbus: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// `nimbus tenants …`.
pub async fn tenants(connection: Connection, command: TenantCommand) -> anyhow::Result<()> {
    let key = operator_key(&connection)?.to_owned();
    let base = format!("{}/_nimbus/tenants", root(&connection.url));
    let http = client();
    let body = match &command {
        TenantCommand::Create { name } => {
            send(
                http.post(&base)
                    .bearer_auth(&key)
                    .json(&json!({ "name": name })),
            )
            .await?
        }
        TenantCommand::List => send(http.get(&base).bearer_auth(&key)).await?,
        TenantCommand::Suspend { name } => {
            send(
                http.post(format!("{base}/{name}/suspend"))
                    .bearer_auth(&key),
            )
            .await?
        }
        TenantCommand::Resume { name } => {
            send(http.post(format!("{base}/{name}/resume")).bearer_auth(&key)).await?
        }
        TenantCommand::Delete { name } => {
            send(http.delete(format!("{base}/{name}")).bearer_auth(&key)).await?
        }
    };
    print(&connection, &body, || match command {
        TenantCommand::Create { .. } => format!(
            "created tenant {}\n  url:       {}\n  admin key: {}",
            body["name"].as_str().unwrap_or(""),
            body["url"].as_str().unwrap_or(""),
            body["adminKey"].as_str().unwrap_or("")
        ),
        TenantCommand::List => body["tenants"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|t| {
                        format!(
                            "{}\t{}",
                            t["name"].as_str().unwrap_or(""),
                            t["status"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        other => format!("done: {other:?}"),
    });
    Ok(())
}

/// `nimbus keys …`.
pub async fn keys(connection: Connection, command: KeyCommand) -> anyhow::Result<()> {
    let key = operator_key(&connection)?.to_owned();
    let base = format!("{}/_nimbus/tenants", root(&connection.url));
    let http = client();
    let body = match &command {
        KeyCommand::Create { tenant } => {
            send(http.post(format!("{base}/{tenant}/keys")).bearer_auth(&key)).await?
        }
        KeyCommand::Revoke { tenant, id } => {
            send(
                http.delete(format!("{base}/{tenant}/keys/{id}"))
                    .bearer_auth(&key),
            )
            .await?
        }
    };
    print(&connection, &body, || match command {
        KeyCommand::Create { .. } => format!(
            "admin key {} (id {})",
            body["adminKey"].as_str().unwrap_or(""),
            body["id"].as_str().unwrap_or("")
        ),
        KeyCommand::Revoke { id, .. } => format!("revoked {id}"),
    });
    Ok(())
}

/// `nimbus run FUNCTION [ARGS_JSON]`.
pub async fn run_function(
    connection: Connection,
    function: String,
    args: Option<String>,
) -> anyhow::Result<()> {
    let args: Json = match args {
        Some(text) => serde_json::from_str(&text)
            .with_context(|| format!("ARGS_JSON is not valid JSON: {text}"))?,
        None => json!({}),
    };
    anyhow::ensure!(
        args.is_object(),
        "ARGS_JSON must be a JSON object, e.g. '{{\"body\": \"hi\"}}'"
    );
    let mut request = client()
        .post(format!(
            "{}/api/function",
            connection.url.trim_end_matches('/')
        ))
        .json(&json!({ "path": function, "args": args, "format": "json" }));
    if let Ok(key) = admin_key(&connection) {
        request = request.header("authorization", format!("Convex {key}"));
    }
    let body = send(request).await?;
    if body["status"] == "success" {
        print(&connection, &body, || {
            serde_json::to_string_pretty(&body["value"]).unwrap_or_default()
        });
        Ok(())
    } else {
        if connection.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
        }
        bail!(
            "{}",
            body["errorMessage"]
                .as_str()
                .unwrap_or("the function failed")
        )
    }
}

/// `nimbus logs`: follows the tenant's function logs.
pub async fn logs(connection: Connection) -> anyhow::Result<()> {
    let key = admin_key(&connection)?;
    let http = client();
    let mut cursor = 0.0f64;
    loop {
        let url = format!(
            "{}/api/stream_function_logs?cursor={cursor}",
            connection.url.trim_end_matches('/')
        );
        let body = send(
            http.get(&url)
                .header("authorization", format!("Convex {key}")),
        )
        .await?;
        cursor = body["newCursor"].as_f64().unwrap_or(cursor);
        for entry in body["entries"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if connection.json {
                println!("{entry}");
                continue;
            }
            let name = entry["identifier"].as_str().unwrap_or("?");
            for line in entry["logLines"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                println!("[{name}] {}", line.as_str().unwrap_or_default());
            }
            if let Some(error) = entry["error"].as_str() {
                println!("[{name}] failed: {error}");
            }
        }
    }
}

/// `nimbus deploy [DIR]`: bundles the app and pushes it with the push protocol.
pub async fn deploy(connection: Connection, dir: PathBuf) -> anyhow::Result<()> {
    let key = admin_key(&connection)?;
    let app_dir = std::fs::canonicalize(&dir)
        .with_context(|| format!("no app directory at {}", dir.display()))?;
    let convex_dir = app_dir.join("convex");
    let entries = bundle::entries(&convex_dir)
        .with_context(|| format!("reading {}", convex_dir.display()))?;
    let modules: Vec<String> = entries.iter().map(|e| e.module.clone()).collect();
    codegen::generate(
        &app_dir,
        &modules,
        bundle::schema_file(&convex_dir).is_some(),
    )?;
    let bundled =
        bundle::bundle(&app_dir).map_err(|e| anyhow::anyhow!("bundling failed:\n  {e}"))?;
    let changed: Vec<Json> = bundled
        .modules
        .modules
        .iter()
        .map(
            |m| json!({ "path": m.path, "source": m.source.to_string(), "environment": "isolate" }),
        )
        .collect();
    let schema = bundled.modules.schema.as_ref().map(
        |m| json!({ "path": m.path, "source": m.source.to_string(), "environment": "isolate" }),
    );
    let base = connection.url.trim_end_matches('/').to_owned();
    let http = client();
    let auth = format!("Convex {key}");
    let start = send(
        http.post(format!("{base}/api/deploy2/start_push")).header("authorization", &auth).json(&json!({
            "adminKey": key, "dryRun": false, "functions": "convex/",
            "appDefinition": { "definition": null, "dependencies": [], "schema": schema, "changedModules": changed, "unchangedModuleHashes": [], "udfServerVersion": "1.48.0" },
            "componentDefinitions": [], "nodeDependencies": [],
        })),
    )
    .await?;
    send(
        http.post(format!("{base}/api/deploy2/finish_push"))
            .header("authorization", &auth)
            .json(&json!({ "adminKey": key, "startPush": start, "dryRun": false })),
    )
    .await?;
    let functions: usize = start["analysis"][""]["functions"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|v| v["functions"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    let summary =
        json!({ "url": base, "modules": bundled.modules.modules.len(), "functions": functions });
    print(&connection, &summary, || {
        format!(
            "✔ deployed {functions} functions ({} modules) to {base}",
            bundled.modules.modules.len()
        )
    });
    Ok(())
}

/// `nimbus apps …`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Bundle a Workers-style app (`export default { fetch }`) and deploy it to the tenant at
    /// `--url`.
    Deploy {
        /// App directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// App name (lower-case letters, digits, dashes); defaults to the directory name.
        #[arg(long)]
        name: Option<String>,
        /// Main module, relative to the directory.
        #[arg(long, default_value = "index.js")]
        main: PathBuf,
        /// Hostnames that reach the app (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Environment variables `NAME=value` (repeatable).
        #[arg(long = "env")]
        env: Vec<String>,
    },
}

/// `nimbus apps deploy`.
pub async fn apps(connection: Connection, command: AppCommand) -> anyhow::Result<()> {
    let AppCommand::Deploy {
        dir,
        name,
        main,
        hosts,
        env,
    } = command;
    let key = admin_key(&connection)?;
    let app_dir = std::fs::canonicalize(&dir)
        .with_context(|| format!("no app directory at {}", dir.display()))?;
    let name = name.unwrap_or_else(|| {
        app_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("app")
            .to_ascii_lowercase()
    });
    let (modules, main_module) = bundle::bundle_fetch_app(&app_dir, &main)
        .map_err(|e| anyhow::anyhow!("bundling failed:\n  {e}"))?;
    let mut variables = serde_json::Map::new();
    for pair in env {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("--env takes NAME=value, got {pair}"))?;
        variables.insert(k.to_owned(), Json::String(v.to_owned()));
    }
    let body = json!({
        "main": main_module,
        "modules": modules.iter().map(|m| json!({ "path": m.path, "source": m.source.to_string() })).collect::<Vec<_>>(),
        "env": variables,
        "hostnames": hosts,
    });
    let url = format!(
        "{}/api/nimbus/apps/{name}",
        connection.url.trim_end_matches('/')
    );
    let result = send(
        client()
            .put(url)
            .header("authorization", format!("Convex {key}"))
            .json(&body),
    )
    .await?;
    print(&connection, &result, || {
        format!(
            "✔ deployed app {name} ({} modules): {}",
            modules.len(),
            result["url"].as_str().unwrap_or("")
        )
    });
    Ok(())
}
