//! `nimbus serve`: the server on embedded SQLite (default) or PostgreSQL, with a clean
//! shutdown on SIGTERM/SIGINT (in-flight requests and commits finish; nothing acknowledged is
//! lost, because a commit is acknowledged only once durable).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use nimbus_server::{Server, ServerConfig};
use nimbus_storage::{Persistence, PostgresPersistence, SqlitePersistence};

/// Options of `nimbus serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3210", env = "NIMBUS_LISTEN")]
    listen: String,
    /// Directory for data (SQLite files) and the generated operator key.
    #[arg(long, default_value = "nimbus-data", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// `sqlite` (embedded, one file per tenant) or a `postgres://` URL.
    #[arg(long, default_value = "sqlite", env = "NIMBUS_STORAGE")]
    storage: String,
    /// Base domain for `<tenant>.<domain>` routing (`<tenant>.localhost` always works).
    #[arg(long, env = "NIMBUS_DOMAIN")]
    domain: Option<String>,
    /// Tenant for requests that name none (single-tenant setups).
    #[arg(long, env = "NIMBUS_DEFAULT_TENANT")]
    default_tenant: Option<String>,
    /// Seconds a tenant may go unused (no request, socket or subscription) before it is closed
    /// and its connections, threads and caches freed; its next request reopens it.
    #[arg(long, default_value_t = 30, env = "NIMBUS_TENANT_IDLE_CLOSE_SECS")]
    tenant_idle_close_secs: u64,
}

/// The operator key: `NIMBUS_OPERATOR_KEY`, else one generated once and kept in the data dir.
fn operator_key(data_dir: &Path) -> anyhow::Result<(String, String)> {
    if let Ok(key) = std::env::var("NIMBUS_OPERATOR_KEY")
        && !key.is_empty()
    {
        return Ok((key, "from NIMBUS_OPERATOR_KEY".into()));
    }
    let path = data_dir.join("operator-key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        return Ok((
            key.trim().to_owned(),
            format!("stored in {}", path.display()),
        ));
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    std::fs::write(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((key, format!("generated and stored in {}", path.display())))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let persistence: Arc<dyn Persistence> = if args.storage == "sqlite" {
        Arc::new(
            SqlitePersistence::open(args.data_dir.join("tenants"))
                .context("opening SQLite storage")?,
        )
    } else if args.storage.starts_with("postgres://") || args.storage.starts_with("postgresql://") {
        Arc::new(
            PostgresPersistence::connect(&args.storage)
                .await
                .context("connecting to PostgreSQL")?,
        )
    } else {
        anyhow::bail!(
            "--storage must be `sqlite` or a postgres:// URL, got {:?}",
            args.storage
        );
    };
    let (key, key_origin) = operator_key(&args.data_dir)?;
    let mut config = ServerConfig::new(key.clone());
    config.domain = args.domain.clone();
    config.default_tenant = args.default_tenant.clone();
    config.tenant_idle_close = std::time::Duration::from_secs(args.tenant_idle_close_secs.max(1));
    let server = Server::new(persistence, config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    println!("nimbus listening on http://{address}");
    println!(
        "storage: {} (data in {})",
        args.storage,
        args.data_dir.display()
    );
    println!(
        "operator key {key_origin} (starts with {}…)",
        &key[..key.len().min(4)]
    );
    server.serve(listener, shutdown_signal()).await?;
    println!("nimbus stopped");
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// Entry point of `nimbus serve`.
pub fn run(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NIMBUS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nimbus: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nimbus: {error:#}");
            ExitCode::FAILURE
        }
    }
}
