//! A clock end-to-end tests can move: the system clock plus an offset read from a
//! file. Test-only, and refused unless `TWOFOLD_UNSAFE_TEST_CLOCK=1` is set as well:
//! a server whose clock anyone with write access to a file can move would accept
//! expired sessions and skip grace periods.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use twofold_core::{Clock, SystemClock};

use crate::CliError;

/// The variable that must be `1` for `--unsafe-test-clock-file` to be accepted.
pub const UNSAFE_TEST_CLOCK_ENV: &str = "TWOFOLD_UNSAFE_TEST_CLOCK";

/// The system clock shifted by the offset (ms, a decimal integer) in a file.
#[derive(Debug)]
struct OffsetFileClock {
    file: PathBuf,
    /// The last offset read, kept when the file is briefly unreadable mid-write.
    last: AtomicI64,
}

impl Clock for OffsetFileClock {
    fn now_ms(&self) -> i64 {
        // Re-read on every call: a test moves the clock and the very next request sees it.
        let offset = std::fs::read_to_string(&self.file).ok().and_then(|s| s.trim().parse::<i64>().ok());
        if let Some(offset) = offset {
            self.last.store(offset, Ordering::SeqCst);
        }
        SystemClock.now_ms().saturating_add(self.last.load(Ordering::SeqCst))
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
        "twofold: WARNING: UNSAFE TEST CLOCK: the server's time is shifted by the offset in {}; never use this \
         outside tests",
        file.display()
    );
    tracing::warn!(file = %file.display(), "UNSAFE TEST CLOCK in use: server time follows an offset file");
    Ok(Arc::new(OffsetFileClock { file, last: AtomicI64::new(0) }))
}
