//! `twofold key ...`: API key files.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use twofold_client::{ApiKeyPair, Curve};

use crate::CliError;

/// Curves for new keys.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CurveArg {
    /// NIST P-256 (what Turnkey SDKs use).
    P256,
    /// Ed25519.
    Ed25519,
}

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a key pair into a new file (mode 0600) and print its public key.
    Generate {
        /// File to create; refuses to overwrite.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Curve.
        #[arg(long, value_enum, default_value = "p256")]
        curve: CurveArg,
        /// Organization the key will act in (stored in the file as the default).
        #[arg(long)]
        organization_id: Option<String>,
        /// User the key will belong to (informational).
        #[arg(long)]
        user_id: Option<String>,
    },
}

/// Runs a key subcommand.
pub fn run(cmd: KeyCommand) -> Result<(), CliError> {
    match cmd {
        KeyCommand::Generate { out, curve, organization_id, user_id } => {
            let curve = match curve {
                CurveArg::P256 => Curve::P256,
                CurveArg::Ed25519 => Curve::Ed25519,
            };
            let key = ApiKeyPair::generate(curve).map_err(|e| CliError::Runtime(e.to_string()))?;
            key.to_key_file(organization_id, user_id).save_new(&out).map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", key.public_key_hex());
            Ok(())
        }
    }
}
