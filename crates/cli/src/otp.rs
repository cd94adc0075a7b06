//! `twofold otp init|verify|login`: the client side of email/SMS one-time codes. `verify`
//! checks the target bundle's signature against the enclave key the server publishes
//! (`query/get_enclave_keys`, or a key pinned with `--enclave-public-key`) before
//! encrypting the code to it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use twofold_client::otp::StartedOtp;
use twofold_client::{ApiKeyPair, Curve, KeyFile};

use crate::CliError;
use crate::request::ConnectArgs;

/// How the code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Channel {
    /// Email.
    Email,
    /// SMS.
    Sms,
}

/// `twofold otp ...`.
#[derive(Debug, Subcommand)]
pub enum OtpCommand {
    /// Send a code (INIT_OTP_V3); prints `{otpId, otpEncryptionTargetBundle}`.
    Init {
        /// Email address or E.164 phone number.
        #[arg(long)]
        contact: String,
        /// Email or SMS.
        #[arg(long, value_enum, default_value = "email")]
        channel: Channel,
        /// Application name shown in the message.
        #[arg(long, default_value = "twofold")]
        app_name: String,
        /// Code length, 6–9 [default: 9].
        #[arg(long)]
        otp_length: Option<u32>,
        /// Digits only instead of Crockford base32.
        #[arg(long)]
        numeric: bool,
        /// Code lifetime in seconds, at most 600 [default: 300].
        #[arg(long)]
        expiration_seconds: Option<u64>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Verify a code (VERIFY_OTP_V2); prints `{verificationToken}`.
    Verify {
        /// The flow from `otp init`.
        #[arg(long)]
        otp_id: String,
        /// The `otpEncryptionTargetBundle` from `otp init`.
        #[arg(long)]
        bundle: String,
        /// The code from the message.
        #[arg(long)]
        code: String,
        /// Key the token is bound to; created (0600) if missing.
        #[arg(long)]
        client_key_file: PathBuf,
        /// Pin this enclave signing key (uncompressed hex) instead of asking the server.
        #[arg(long)]
        enclave_public_key: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Log in with a verification token (OTP_LOGIN_V2); prints the session.
    Login {
        /// The token from `otp verify`.
        #[arg(long)]
        token: String,
        /// The key the token is bound to (signs the login).
        #[arg(long)]
        client_key_file: PathBuf,
        /// The session key [default: the client key].
        #[arg(long)]
        session_key_file: Option<PathBuf>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

fn key_pair(path: &Path, create: bool) -> Result<ApiKeyPair, CliError> {
    if create && !path.exists() {
        let key = ApiKeyPair::generate(Curve::P256).map_err(|e| CliError::Runtime(e.to_string()))?;
        key.to_key_file(None, None).save_new(path).map_err(|e| CliError::Usage(e.to_string()))?;
        return Ok(key);
    }
    KeyFile::load(path).and_then(|f| f.key_pair()).map_err(|e| CliError::Usage(e.to_string()))
}

fn remote(e: twofold_client::ClientError) -> CliError {
    CliError::from(e)
}

/// Runs an OTP command and prints its JSON result.
pub fn run(cmd: OtpCommand) -> Result<(), CliError> {
    let out: Value = match cmd {
        OtpCommand::Init { contact, channel, app_name, otp_length, numeric, expiration_seconds, connect } => {
            let otp_type = match channel {
                Channel::Email => "OTP_TYPE_EMAIL",
                Channel::Sms => "OTP_TYPE_SMS",
            };
            let mut params = json!({ "otpType": otp_type, "contact": contact, "appName": app_name });
            if let Some(n) = otp_length {
                params["otpLength"] = json!(n);
            }
            if numeric {
                params["alphanumeric"] = json!(false);
            }
            if let Some(s) = expiration_seconds {
                params["expirationSeconds"] = json!(s.to_string());
            }
            let started = connect.client()?.init_otp(params).map_err(remote)?;
            json!({ "otpId": started.otp_id, "otpEncryptionTargetBundle": started.target_bundle })
        }
        OtpCommand::Verify { otp_id, bundle, code, client_key_file, enclave_public_key, connect } => {
            let client = connect.client()?;
            let pinned = match enclave_public_key {
                Some(key) => key,
                None => client.enclave_signing_key().map_err(remote)?,
            };
            let key = key_pair(&client_key_file, true)?;
            let started = StartedOtp { otp_id, target_bundle: bundle };
            json!({ "verificationToken": client.verify_otp(&started, &pinned, &code, &key).map_err(remote)? })
        }
        OtpCommand::Login { token, client_key_file, session_key_file, connect } => {
            let key = key_pair(&client_key_file, false)?;
            let session_key = match &session_key_file {
                Some(path) => key_pair(path, false)?.public_key_hex(),
                None => key.public_key_hex(),
            };
            connect.client()?.otp_login(&token, &key, &session_key).map_err(remote)?
        }
    };
    let _ = writeln!(std::io::stdout().lock(), "{out}");
    Ok(())
}
