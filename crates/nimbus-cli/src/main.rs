//! The `nimbus` binary: one program for the server and the developer loop.
//!
//! `nimbus serve` runs the server. The developer commands (`dev`, `deploy`, `run`, `init`,
//! `logs`, `tenants`, `keys`) arrive with the CLI work; until then they say so and exit with
//! status 2 instead of pretending to work.

mod serve;

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
    /// Develop an app against a local server (not available yet).
    Dev {
        /// App directory.
        dir: Option<String>,
    },
    /// Deploy an app (not available yet; use `npx convex deploy` with CONVEX_SELF_HOSTED_URL).
    Deploy {
        /// App directory.
        dir: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Dev { .. } | Command::Deploy { .. } => {
            eprintln!(
                "nimbus: this command is not available in this build yet. Run `nimbus serve`, create a \
                 tenant through the operator API, and deploy with `npx convex deploy` \
                 (CONVEX_SELF_HOSTED_URL / CONVEX_SELF_HOSTED_ADMIN_KEY)."
            );
            ExitCode::from(2)
        }
    }
}
