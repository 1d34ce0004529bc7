//! The `nimbus` binary: one program for the server and the developer loop.
//!
//! `serve` runs the server; `dev` runs an app against an embedded server with live reload;
//! `init` scaffolds an app; `deploy`, `run` and `logs` talk to a tenant; `tenants` and `keys`
//! administer the server. Exit codes: 0 success, 1 the operation failed (the message says
//! why), 2 bad usage.

mod dev;
mod init;
mod remote;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Nimbus: many tenants' Convex-compatible backends in one binary.
#[derive(Debug, Parser)]
#[command(name = "nimbus", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Run an app against an embedded server, rebuilding on every change.
    Dev(dev::DevArgs),
    /// Create a new app from the starter template.
    Init {
        /// Directory to create (must be empty or missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Bundle an app and deploy it to a tenant (`--url http://host:port/t/<tenant> --admin-key …`).
    Deploy {
        /// App directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        connection: remote::Connection,
    },
    /// Run a function: `nimbus run messages:list '{}'`.
    Run {
        /// `module:function`.
        function: String,
        /// Arguments as a JSON object.
        args: Option<String>,
        #[command(flatten)]
        connection: remote::Connection,
    },
    /// Follow a tenant's function logs.
    Logs {
        #[command(flatten)]
        connection: remote::Connection,
    },
    /// Deploy Workers-style fetch apps to a tenant (admin key).
    Apps {
        #[command(subcommand)]
        command: remote::AppCommand,
        #[command(flatten)]
        connection: remote::Connection,
    },
    /// Administer tenants (operator key).
    Tenants {
        #[command(subcommand)]
        command: remote::TenantCommand,
        #[command(flatten)]
        connection: remote::Connection,
    },
    /// Issue and revoke tenant admin keys (operator key).
    Keys {
        #[command(subcommand)]
        command: remote::KeyCommand,
        #[command(flatten)]
        connection: remote::Connection,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Init { dir } => init::run(&dir),
        Command::Deploy { dir, connection } => remote::block_on(remote::deploy(connection, dir)),
        Command::Run {
            function,
            args,
            connection,
        } => remote::block_on(remote::run_function(connection, function, args)),
        Command::Logs { connection } => remote::block_on(remote::logs(connection)),
        Command::Apps {
            command,
            connection,
        } => remote::block_on(remote::apps(connection, command)),
        Command::Tenants {
            command,
            connection,
        } => remote::block_on(remote::tenants(connection, command)),
        Command::Keys {
            command,
            connection,
        } => remote::block_on(remote::keys(connection, command)),
    }
}
