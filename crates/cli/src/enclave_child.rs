//! The enclave as a child process of `twofold serve` (the default): `twofold enclave` started
//! from the same binary on a Unix socket in a directory private to the two, with the key
//! file and delivery settings handed to it on its command line, so the coordinator never
//! loads the enclave's keys nor sees a code. The child marks itself non-dumpable (its memory
//! cannot be read through /proc or ptrace by the coordinator), exits when the coordinator's
//! end of its stdin closes (so a SIGKILLed server leaves no enclave behind), and is started
//! again whenever it dies; while it is down `/readyz` answers 503 (`"enclave": "unreachable"`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::CliError;
use crate::enclave::DeliveryArgs;

/// What the child prints once it accepts connections.
const LISTENING: &str = "twofold enclave listening on ";
/// How long one start may take before it counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// First and longest pause between restarts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(10));
/// A child that ran this long resets the backoff.
const STABLE: Duration = Duration::from_secs(60);

/// What the child takes over from the `serve` that starts it.
#[derive(Debug, Clone, Default)]
pub struct Parent {
    /// The log filter.
    pub log: String,
    /// Whether logs are JSON lines.
    pub json_logs: bool,
    /// Whether the server runs on the test clock (then so does the child).
    pub test_clock: bool,
}

/// The running child and its supervisor; dropping it stops both and removes the socket directory.
pub struct EnclaveChild {
    socket: PathBuf,
    dir: PathBuf,
    supervisor: JoinHandle<()>,
}

impl EnclaveChild {
    /// Starts `twofold enclave` for `data_dir` with `delivery` and waits until it listens;
    /// a child that dies later is started again.
    /// The child logs as `parent` says, and takes the server's (test) clock when it runs on one.
    pub async fn start(data_dir: &Path, delivery: &DeliveryArgs, parent: &Parent) -> Result<EnclaveChild, CliError> {
        let dir = private_socket_dir()?;
        let socket = dir.join("enclave.sock");
        let mut args = child_args(data_dir, delivery, &socket);
        args.extend(["--log".into(), parent.log.clone().into()]);
        args.extend(["--log-format".into(), if parent.json_logs { "json" } else { "text" }.into()]);
        if parent.test_clock {
            args.push("--unsafe-caller-clock".into());
        }
        let (ready, started) = oneshot::channel();
        let supervisor = tokio::spawn(supervise(Arc::new(args), socket.clone(), ready));
        let child = EnclaveChild { socket, dir, supervisor };
        match started.await {
            Ok(Ok(())) => Ok(child),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CliError::Runtime("the enclave supervisor stopped before the enclave started".into())),
        }
    }

    /// The socket the coordinator connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for EnclaveChild {
    fn drop(&mut self) {
        // Aborting drops the `Child`, whose kill-on-drop ends the process.
        self.supervisor.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh 0700 directory under the system's temp dir: short enough for a socket path
/// whatever the data directory, and reachable by this user only.
fn private_socket_dir() -> Result<PathBuf, CliError> {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix)
        .map_err(|e| CliError::Runtime(format!("no randomness for the enclave socket: {e}")))?;
    let dir = std::env::temp_dir().join(format!("twofold-enclave-{}-{}", std::process::id(), hex::encode(suffix)));
    twofold_store::private_dir(&dir)
        .map_err(|e| CliError::Runtime(format!("cannot create the enclave socket directory {}: {e}", dir.display())))?;
    Ok(dir)
}

/// `twofold enclave`'s arguments: the socket, the key file and outbox `serve` would have used
/// in-process (so pinned keys and the dev outbox stay where they were), and every delivery flag.
fn child_args(data_dir: &Path, delivery: &DeliveryArgs, socket: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["enclave".into(), "--exit-with-stdin".into(), "--socket".into(), socket.into()];
    args.extend(["--data-dir".into(), data_dir.into()]);
    let key_file = delivery.enclave_key_file.clone().unwrap_or_else(|| data_dir.join("enclave-keys.json"));
    let outbox = delivery.outbox_dir.clone().unwrap_or_else(|| data_dir.join("outbox"));
    args.extend(["--enclave-key-file".into(), key_file.into(), "--outbox-dir".into(), outbox.into()]);
    args.extend(delivery.transport_args());
    args
}

/// Starts the child, reports the first start on `ready`, and starts it again each time it exits.
async fn supervise(args: Arc<Vec<OsString>>, socket: PathBuf, ready: oneshot::Sender<Result<(), CliError>>) {
    let mut ready = Some(ready);
    let mut pause = BACKOFF.0;
    loop {
        let started = tokio::time::Instant::now();
        match spawn(&args, &socket).await {
            Ok(mut child) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
                // Held open while the child runs (`wait` would close it): its end is the child's signal to stop.
                let _stdin = child.stdin.take();
                let pid = child.id().unwrap_or_default();
                tracing::info!(pid, socket = %socket.display(), "enclave process started");
                let status = child.wait().await;
                tracing::error!(pid, ?status, "the enclave process exited; starting it again");
            }
            Err(e) => match ready.take() {
                Some(ready) => {
                    let _ = ready.send(Err(e));
                    return;
                }
                None => tracing::error!(error = %e, "the enclave process did not start; trying again"),
            },
        }
        pause = if started.elapsed() >= STABLE { BACKOFF.0 } else { (pause * 2).min(BACKOFF.1) };
        tokio::time::sleep(pause).await;
    }
}

/// One start: the child runs until it prints that it listens (or fails to within the timeout).
async fn spawn(args: &[OsString], socket: &Path) -> Result<Child, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::Runtime(format!("cannot find the twofold binary: {e}")))?;
    let _ = std::fs::remove_file(socket);
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::Runtime(format!("cannot start the enclave process: {e}")))?;
    let stdout = child.stdout.take().ok_or_else(|| CliError::Runtime("the enclave's stdout is not piped".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let listening = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with(LISTENING) {
                return true;
            }
        }
        false
    };
    match tokio::time::timeout(START_TIMEOUT, listening).await {
        Ok(true) => {
            // Keep reading so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(child)
        }
        Ok(false) => Err(CliError::Runtime(format!(
            "the enclave process exited before listening ({:?}); its log is above",
            child.wait().await
        ))),
        Err(_) => Err(CliError::Runtime(format!("the enclave process did not listen within {START_TIMEOUT:?}"))),
    }
}
