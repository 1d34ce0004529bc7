//! The `nimbus` binary.
//!
//! Today it only knows its own name: the server, the developer loop (`nimbus dev`) and the
//! deploy commands arrive with the server and CLI work. Every subcommand says so plainly and
//! exits with status 2 instead of pretending to work.

use std::process::ExitCode;

const SUBCOMMANDS: &[&str] = &[
    "serve", "dev", "deploy", "run", "init", "logs", "tenants", "keys",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("nimbus {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(command) if SUBCOMMANDS.contains(&command) => {
            eprintln!(
                "nimbus {command}: not yet available in this build. The runtime and value model \
                 are in place (run the tests to see them work); the server and the developer \
                 loop come next."
            );
            ExitCode::from(2)
        }
        _ => {
            eprintln!("usage: nimbus <{}> [ARGS]", SUBCOMMANDS.join("|"));
            ExitCode::from(2)
        }
    }
}
