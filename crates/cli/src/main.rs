//! The `twofold` binary: the server, and a CLI that talks to it.
#![forbid(unsafe_code)]

mod audit;
mod backup;
mod bench;
mod config;
mod enclave;
mod enclave_child;
mod key;
mod notify;
mod otp;
mod outbox;
mod request;
mod serve;
mod serving;
mod test_clock;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// twofold — MFA-enforcement and authorization-policy server with a Turnkey-compatible API.
#[derive(Parser)]
#[command(name = "twofold", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Box<serve::ServeArgs>),
    /// Manage API key files.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Send a stamped request to a twofold (or Turnkey-compatible) server.
    Request(request::RequestArgs),
    /// Verify or export the tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run the OTP enclave as a separate process on a Unix socket.
    Enclave(enclave::EnclaveArgs),
    /// Read the development outbox (codes the enclave "sent" without SMTP / an SMS webhook).
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Email / SMS one-time codes from the client side: init, verify, login.
    #[command(subcommand)]
    Otp(otp::OtpCommand),
    /// Load a running server and compare with raw P-256 verification (or seed users).
    Bench(Box<bench::BenchArgs>),
    /// Write a consistent snapshot of a SQLite database, safe while the server runs.
    Backup(backup::BackupArgs),
    /// Replace a SQLite database with a snapshot (refused while a server has it open).
    Restore(backup::RestoreArgs),
}

/// Errors that end the CLI, with the exit code they map to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags, config or files: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error: exit 1.
    #[error("{0}")]
    Remote(String),
    /// Start-up or runtime failure of the server: exit 1.
    #[error("{0}")]
    Runtime(String),
    /// The server could not be reached (refused, timed out, unknown host): exit 3.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered, and the activity ended FAILED or REJECTED: exit 4.
    #[error("{0}")]
    ActivityEnded(String),
}

impl From<twofold_client::ClientError> for CliError {
    /// A transport failure is "unreachable"; anything else the client refuses is the answer's.
    fn from(e: twofold_client::ClientError) -> Self {
        match e {
            twofold_client::ClientError::Transport { .. } => CliError::Unreachable(e.to_string()),
            other => CliError::Remote(other.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Key(cmd) => key::run(cmd),
        Command::Request(args) => request::run(args),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Enclave(args) => enclave::run(args),
        Command::Outbox(cmd) => outbox::run(cmd),
        Command::Otp(cmd) => otp::run(cmd),
        Command::Bench(args) => bench::run(*args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twofold: error: {e}");
            match e {
                CliError::Usage(_) => ExitCode::from(2),
                CliError::Remote(_) | CliError::Runtime(_) => ExitCode::from(1),
                CliError::Unreachable(_) => ExitCode::from(3),
                CliError::ActivityEnded(_) => ExitCode::from(4),
            }
        }
    }
}
