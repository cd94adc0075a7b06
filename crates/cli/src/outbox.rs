//! `twofold outbox list|show`: read the development outbox, where the enclave writes the
//! codes it would have sent when no SMTP server or SMS webhook is configured.

use std::io::Write;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use twofold_enclave::{Outbox, OutboxMessage};

use crate::CliError;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines for people.
    Human,
    /// JSON.
    Json,
}

/// `twofold outbox ...`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the messages, oldest first.
    List {
        /// The outbox directory.
        #[arg(long, env = "TWOFOLD_OUTBOX_DIR", default_value = "twofold-data/outbox")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Show one message: a file name or path, or `latest`.
    Show {
        /// Which message.
        #[arg(default_value = "latest")]
        message: String,
        /// The outbox directory.
        #[arg(long, env = "TWOFOLD_OUTBOX_DIR", default_value = "twofold-data/outbox")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
}

fn describe(m: &OutboxMessage, with_body: bool) -> Value {
    let mut v = json!({
        "path": m.path.display().to_string(),
        "channel": m.channel.as_str(),
        "to": m.to,
        "subject": m.subject,
        "date": m.date,
        "code": m.code(),
    });
    if with_body {
        v["body"] = json!(m.body);
    }
    v
}

fn read(path: &std::path::Path) -> Result<OutboxMessage, CliError> {
    Outbox::read(path).map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))
}

fn print(text: &str) {
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Runs an outbox command.
pub fn run(cmd: OutboxCommand) -> Result<(), CliError> {
    match cmd {
        OutboxCommand::List { dir, output } => {
            let paths = Outbox::list(&dir).map_err(|e| CliError::Runtime(format!("{}: {e}", dir.display())))?;
            let messages = paths.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>()?;
            match output {
                Output::Json => print(&Value::Array(messages.iter().map(|m| describe(m, false)).collect()).to_string()),
                Output::Human => {
                    for m in &messages {
                        let name = m.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        print(&format!("{name}  {}  {}  {}", m.channel.as_str(), m.to, m.subject));
                    }
                }
            }
            Ok(())
        }
        OutboxCommand::Show { message, dir, output } => {
            let path = if message == "latest" {
                Outbox::list(&dir)
                    .map_err(|e| CliError::Runtime(format!("{}: {e}", dir.display())))?
                    .pop()
                    .ok_or_else(|| CliError::Usage(format!("the outbox {} is empty", dir.display())))?
            } else if std::path::Path::new(&message).exists() {
                PathBuf::from(&message)
            } else {
                dir.join(&message)
            };
            let m = read(&path)?;
            match output {
                Output::Json => print(&describe(&m, true).to_string()),
                Output::Human => print(&format!(
                    "To: {} ({})\nSubject: {}\nDate: {}\n\n{}",
                    m.to,
                    m.channel.as_str(),
                    m.subject,
                    m.date,
                    m.body
                )),
            }
            Ok(())
        }
    }
}
