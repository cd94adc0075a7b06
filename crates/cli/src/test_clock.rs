//! A clock end-to-end tests can move: the system clock plus an offset read from a
//! file. Test-only, and refused unless `TWOFOLD_UNSAFE_TEST_CLOCK=1` is set as well:
//! a server whose clock anyone with write access to a file can move would accept
//! expired sessions and skip grace periods.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use twofold_core::{Clock, SystemClock};

use crate::CliError;

/// The variable that must be `1` for `--unsafe-test-clock-file` to be accepted.
pub const UNSAFE_TEST_CLOCK_ENV: &str = "TWOFOLD_UNSAFE_TEST_CLOCK";

/// The clock a file sets: `<ms>` shifts the system clock by that many milliseconds,
/// `@<ms>` stops it at that instant (ms since the epoch), for tests that need to land
/// exactly on a deadline.
#[derive(Debug)]
struct FileClock {
    file: PathBuf,
    /// The last setting read as `(frozen, ms)`, kept when the file is briefly unreadable.
    frozen: AtomicBool,
    ms: AtomicI64,
}

impl Clock for FileClock {
    fn now_ms(&self) -> i64 {
        // Re-read on every call: a test moves the clock and the very next request sees it.
        if let Ok(text) = std::fs::read_to_string(&self.file) {
            let text = text.trim();
            let (frozen, number) = text.strip_prefix('@').map_or((false, text), |at| (true, at));
            if let Ok(ms) = number.parse::<i64>() {
                self.frozen.store(frozen, Ordering::SeqCst);
                self.ms.store(ms, Ordering::SeqCst);
            }
        }
        let ms = self.ms.load(Ordering::SeqCst);
        if self.frozen.load(Ordering::SeqCst) { ms } else { SystemClock.now_ms().saturating_add(ms) }
    }
}

/// The server's clock: the system clock, or the test clock when the flag and the
/// variable are both given.
pub fn from_flag(file: Option<PathBuf>) -> Result<Arc<dyn Clock>, CliError> {
    let Some(file) = file else { return Ok(Arc::new(SystemClock)) };
    if std::env::var(UNSAFE_TEST_CLOCK_ENV).as_deref() != Ok("1") {
        return Err(CliError::Usage(format!(
            "--unsafe-test-clock-file is for tests only and needs {UNSAFE_TEST_CLOCK_ENV}=1 in the environment"
        )));
    }
    eprintln!(
        "twofold: WARNING: UNSAFE TEST CLOCK: the server's time is set by {}; never use this outside tests",
        file.display()
    );
    tracing::warn!(file = %file.display(), "UNSAFE TEST CLOCK in use: server time follows an offset file");
    Ok(Arc::new(FileClock { file, frozen: AtomicBool::new(false), ms: AtomicI64::new(0) }))
}
