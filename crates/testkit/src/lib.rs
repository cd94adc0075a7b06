//! Shared fixtures for twofold's tests: a real `twofold serve` process on a free
//! port with a fresh SQLite file or a fresh PostgreSQL database, and clients for it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(clippy::expect_used, reason = "test fixtures fail loudly")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use serde_json::Value;
use twofold_client::{ApiKeyPair, Client, Curve, KeyFile};

/// The PostgreSQL server tests use (trust auth).
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Whether this run is CI, where missing services are failures, not skips.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A database for one test: a SQLite file in a temp dir, or a uniquely named
/// PostgreSQL database dropped on drop.
pub enum TestDb {
    /// SQLite file.
    Sqlite {
        /// `sqlite://...` URL.
        url: String,
    },
    /// Another node's database, borrowed: dropping it drops nothing.
    Shared {
        /// The URL.
        url: String,
    },
    /// PostgreSQL database.
    Postgres {
        /// `postgres://...` URL.
        url: String,
        /// Its name, for dropping.
        name: String,
    },
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

async fn pg_admin() -> Result<sqlx::AnyConnection, sqlx::Error> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(PG_ADMIN_URL).await
}

/// Whether PostgreSQL answers. Under CI a missing server panics (tests must fail, not skip).
pub fn postgres_available() -> bool {
    match block_on(pg_admin()) {
        Ok(_) => true,
        Err(e) if is_ci() => panic!("CI=true but PostgreSQL at {PG_ADMIN_URL} is unreachable: {e}"),
        Err(e) => {
            eprintln!("skipping PostgreSQL part: {PG_ADMIN_URL} unreachable ({e}); under CI=true this fails");
            false
        }
    }
}

/// The backends to run a backend-agnostic test on: SQLite always, PostgreSQL when reachable
/// (always under CI).
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if postgres_available() {
        v.push(Backend::Postgres);
    }
    v
}

impl TestDb {
    /// A fresh database of `backend`; SQLite files go under `dir`.
    pub fn new(backend: Backend, dir: &Path) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::Sqlite { url: format!("sqlite://{}", dir.join("twofold.db").display()) },
            Backend::Postgres => {
                let name = format!("twofold_test_{}", uuid::Uuid::new_v4().simple());
                block_on(async {
                    use sqlx::Executor;
                    let mut admin = pg_admin().await.expect("PostgreSQL reachable");
                    admin
                        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .await
                        .expect("create database");
                });
                TestDb::Postgres { url: format!("postgres://postgres@127.0.0.1:5432/{name}"), name }
            }
        }
    }

    /// The URL to pass as `--database-url`.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url } | TestDb::Shared { url } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            let _ = std::thread::spawn(move || {
                block_on(async {
                    use sqlx::Executor;
                    if let Ok(mut admin) = pg_admin().await {
                        let _ = admin
                            .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running `twofold serve` process.
pub struct TestServer {
    binary: PathBuf,
    /// Temp dir holding the data dir (and SQLite file).
    pub dir: tempfile::TempDir,
    /// The database.
    pub db: TestDb,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
    /// Everything the server wrote to stdout so far (start-up lines).
    pub stdout_lines: Vec<String>,
    stderr_path: PathBuf,
    /// The test clock's offset file, when the server runs on one.
    clock_file: Option<PathBuf>,
    /// The test clock's offset (ms), shared with every client of this server.
    clock_offset: Arc<AtomicI64>,
}

impl TestServer {
    /// Starts `binary serve` on a free port with a fresh database of `backend`.
    pub fn start(binary: &str, backend: Backend, extra_args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::new(backend, dir.path());
        let extra_args = extra_args.iter().map(|s| (*s).to_owned()).collect();
        TestServer::launch(PathBuf::from(binary), dir, db, extra_args, None)
    }

    /// Like [`TestServer::start`], on a clock the test moves with [`TestServer::set_clock_offset`]
    /// (`--unsafe-test-clock-file`, enabled by `TWOFOLD_UNSAFE_TEST_CLOCK=1` for this process only).
    pub fn start_with_test_clock(binary: &str, backend: Backend, extra_args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::new(backend, dir.path());
        let file = dir.path().join("clock-offset-ms");
        std::fs::write(&file, "0").expect("clock file");
        let mut args: Vec<String> = extra_args.iter().map(|s| (*s).to_owned()).collect();
        args.extend(["--unsafe-test-clock-file".to_owned(), file.display().to_string()]);
        TestServer::launch(PathBuf::from(binary), dir, db, args, Some(file))
    }

    /// Moves the server's clock (and the `timestampMs` its clients stamp) to `offset_ms`
    /// from real time; the very next request sees it.
    pub fn set_clock_offset(&self, offset_ms: i64) {
        self.write_clock(&offset_ms.to_string());
        self.clock_offset.store(offset_ms, Ordering::SeqCst);
    }

    /// Stops the server's clock at `at_ms` (ms since the epoch) until moved again; clients
    /// stamp `timestampMs` close to it.
    pub fn freeze_clock(&self, at_ms: i64) {
        self.write_clock(&format!("@{at_ms}"));
        self.clock_offset.store(at_ms - real_now_ms(), Ordering::SeqCst);
    }

    fn write_clock(&self, setting: &str) {
        let file = self.clock_file.as_ref().expect("server started with start_with_test_clock");
        let staging = file.with_extension("new");
        std::fs::write(&staging, setting).expect("write clock setting");
        std::fs::rename(&staging, file).expect("move clock setting into place");
    }

    /// A second `twofold serve` process on the same database (its own port and data dir).
    pub fn another_node(&self) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::Shared { url: self.db.url().to_owned() };
        // Nodes of one installation share its secrets key, as an operator would deploy them.
        let mut args = self.extra_args.clone();
        args.push("--secrets-key-file".to_owned());
        args.push(self.data_dir().join("secrets.key").display().to_string());
        let mut node = TestServer::launch(self.binary.clone(), dir, db, args, self.clock_file.clone());
        node.clock_offset = self.clock_offset.clone();
        node
    }

    fn launch(
        binary: PathBuf,
        dir: tempfile::TempDir,
        db: TestDb,
        extra_args: Vec<String>,
        clock_file: Option<PathBuf>,
    ) -> TestServer {
        let stderr_path = dir.path().join("server.log");
        let mut s = TestServer {
            binary,
            dir,
            db,
            extra_args,
            child: None,
            url: String::new(),
            port: 0,
            stdout_lines: Vec::new(),
            stderr_path,
            clock_file,
            clock_offset: Arc::default(),
        };
        s.spawn();
        s
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let listen = format!("127.0.0.1:{}", self.port);
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&self.stderr_path).expect("log file");
        let mut child = Command::new(&self.binary)
            .arg("serve")
            .args(["--listen", &listen, "--database-url", self.db.url()])
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.extra_args)
            .env_remove("TWOFOLD_CONFIG")
            .env("TWOFOLD_UNSAFE_TEST_CLOCK", if self.clock_file.is_some() { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn twofold");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let done = line.strip_prefix("twofold listening on ").map(str::to_owned);
                    self.stdout_lines.push(line);
                    if let Some(url) = done {
                        self.port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
                        self.url = url;
                        break;
                    }
                }
                Err(_) => panic!("twofold did not start; log:\n{}", self.log()),
            }
        }
        self.child = Some(child);
    }

    /// The server process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the server (no graceful shutdown) and waits for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and database.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The bootstrap key file the server wrote.
    pub fn root_key_path(&self) -> PathBuf {
        self.data_dir().join("root-api-key.json")
    }

    /// A client stamped with the bootstrap root key, acting in the root organization.
    pub fn root_client(&self) -> Client {
        let file = KeyFile::load(&self.root_key_path()).expect("bootstrap key file");
        let org = file.organization_id.clone().expect("org id in key file");
        self.client(file.key_pair().expect("key pair"), &org)
    }

    /// A client for `key` acting in `org` (stamping with this server's test clock, if any).
    pub fn client(&self, key: ApiKeyPair, org: &str) -> Client {
        Client::new(&self.url, key, org).with_clock_offset(self.clock_offset.clone())
    }
}

impl TestServer {
    /// Sends SIGTERM (a graceful shutdown) and waits up to `timeout` for the exit status;
    /// `None` if it did not exit in time (it is then killed on drop).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The machine's clock, ms since the epoch.
pub fn real_now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("ms fit in i64")
}

/// A fresh P-256 key pair.
pub fn new_key() -> ApiKeyPair {
    ApiKeyPair::generate(Curve::P256).expect("key")
}

/// Asserts a 2xx answer and returns its body.
#[track_caller]
pub fn ok(resp: twofold_client::Result<twofold_client::ApiResponse>) -> Value {
    let resp = resp.expect("request sent");
    assert!(resp.is_success(), "expected 2xx, got {}: {}", resp.status, resp.body);
    resp.body
}

/// Asserts a completed activity and returns its `result.<key>`.
#[track_caller]
pub fn completed(resp: twofold_client::Result<twofold_client::ApiResponse>, result_key: &str) -> Value {
    let body = ok(resp);
    let activity = &body["activity"];
    assert_eq!(activity["status"], "ACTIVITY_STATUS_COMPLETED", "activity: {activity}");
    activity["result"][result_key].clone()
}

/// The `users` parameters for one user with one API key.
pub fn user_with_key(name: &str, key: &ApiKeyPair) -> Value {
    serde_json::json!({
        "userName": name,
        "apiKeys": [{ "apiKeyName": format!("{name}-key"), "publicKey": key.public_key_hex(), "curveType": "API_KEY_CURVE_P256" }],
        "authenticators": [],
        "oauthProviders": [],
        "userTags": []
    })
}

/// `v1ApiOnlyUserParams` for an API-only user holding `key` (as @turnkey/http sends it: no curve).
pub fn api_only_user_with_key(name: &str, key: &ApiKeyPair) -> Value {
    serde_json::json!({
        "userName": name,
        "userTags": [],
        "apiKeys": [{ "apiKeyName": format!("{name}-key"), "publicKey": key.public_key_hex() }]
    })
}

/// The claims of the session JWT in a login's answer (`{session}`): whose session it is
/// (`user_id`, `organization_id`), its key and expiry.
pub fn session_claims(login: &Value) -> Value {
    use base64::Engine as _;
    let jwt = login["session"].as_str().unwrap_or_else(|| panic!("a session in {login}"));
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Every table of the schema, for snapshots.
pub const TABLES: &[&str] = &[
    "installation",
    "organizations",
    "users",
    "root_quorum_members",
    "user_tags",
    "user_tag_members",
    "api_keys",
    "activities",
    "votes",
    "policies",
    "policy_evaluations",
    "audit_events",
    "ip_rules",
    "mfa_enforcement",
    "factors",
    "auth_failures",
    "mfa_policies",
    "mfa_proofs",
    "session_profiles",
    "webhook_endpoints",
    "outbox",
    "auth_proxies",
    "cors_origins",
    "oidc_issuers",
    "oauth_providers",
    "spent_oidc_tokens",
    "email_events",
];

impl TestDb {
    /// Runs SQL statements straight against the database (for tampering in tests).
    pub fn execute(&self, statements: &[String]) {
        let url = self.url().to_owned();
        let statements = statements.to_vec();
        block_on(async move {
            use sqlx::{Connection, Executor};
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.expect("open database");
            for sql in statements {
                conn.execute(sqlx::AssertSqlSafe(sql.clone())).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        });
    }

    /// Row counts of every table but the audit log, and the audit log's count.
    pub fn data_and_audit_counts(&self) -> (Vec<(String, i64)>, i64) {
        let mut all = self.row_counts();
        let audit = all.iter().position(|(t, _)| t == "audit_events").map(|i| all.remove(i).1).unwrap_or(0);
        (all, audit)
    }

    /// Row count of every table, read straight from the database.
    pub fn row_counts(&self) -> Vec<(String, i64)> {
        let url = match self {
            TestDb::Sqlite { url } => format!("{url}?mode=ro"),
            TestDb::Shared { url } | TestDb::Postgres { url, .. } => url.clone(),
        };
        block_on(async move {
            use sqlx::{Connection, Row};
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.expect("open database");
            let mut out = Vec::new();
            for t in TABLES {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                out.push(((*t).to_owned(), row.try_get::<i64, _>(0).expect("i64")));
            }
            out
        })
    }
}

/// The activity status in a `{"activity": ...}` answer.
#[track_caller]
pub fn status(body: &Value) -> &str {
    body["activity"]["status"].as_str().expect("activity status")
}

/// Declares two tests that run `$body(backend)`: one on SQLite, one on PostgreSQL
/// (which fails, not skips, under CI=true when PostgreSQL is missing).
#[macro_export]
macro_rules! on_every_backend {
    ($sqlite:ident, $postgres:ident, $body:path) => {
        #[test]
        fn $sqlite() {
            $body($crate::Backend::Sqlite);
        }

        #[test]
        fn $postgres() {
            if $crate::backends().contains(&$crate::Backend::Postgres) {
                $body($crate::Backend::Postgres);
            }
        }
    };
}

/// `tests/interop`: the npm reference clients and the scripts that drive them.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

/// Whether the npm packages are installed; under CI=true their absence is a failure.
pub fn interop_installed() -> bool {
    let modules = interop_dir().join("node_modules/@turnkey/http");
    if modules.exists() {
        return true;
    }
    assert!(!is_ci(), "CI=true but {} is missing: run the README test command", modules.display());
    eprintln!("skipping: npm packages not installed (run `npm ci` in tests/interop)");
    false
}

/// Runs `node tests/interop/<script> <args>` and parses the JSON it prints.
pub fn run_node(script: &str, args: &[&str]) -> Value {
    let out =
        std::process::Command::new("node").arg(interop_dir().join(script)).args(args).output().expect("node runs");
    assert!(out.status.success(), "node {script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("node prints one JSON object")
}

/// Checks the requests and answers a node script recorded (`calls`, from record-calls.mjs)
/// against @turnkey/http's own TypeScript types (`tests/interop/sdk-types.mjs`); returns
/// `{checked, endpoints, errors}`.
pub fn check_sdk_types(calls: &Value) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("calls.json");
    std::fs::write(&file, calls.to_string()).expect("calls file");
    run_node("sdk-types.mjs", &[&file.display().to_string()])
}

/// Runs `node tests/interop/<script>` with `input` on stdin: the JSON it prints, or its stderr
/// when it fails (tests that expect a refusal read the message).
pub fn run_node_stdin(script: &str, input: &Value) -> Result<Value, String> {
    use std::io::Write;
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(interop_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write");
    let out = child.wait_with_output().expect("node finishes");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("node printed JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl TestServer {
    /// Every byte of the SQLite database files (main, WAL), for checking what is on disk.
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        let file = self.db.url().strip_prefix("sqlite://").expect("a SQLite test database").to_owned();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(b) = std::fs::read(format!("{file}{suffix}")) {
                bytes.extend(b);
            }
        }
        assert!(!bytes.is_empty(), "a SQLite database under the data dir");
        bytes
    }
}

/// A real SMTP server for a test: `python3 -m aiosmtpd` on a free port, storing mail in a
/// Maildir. Killed on drop.
pub struct SmtpSink {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// Starts the sink; `None` (a skip) without python3/aiosmtpd, a panic under CI=true.
    pub fn start() -> Option<SmtpSink> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        SmtpSink::start_on(port)
    }

    /// Starts the sink on `port` (a server that was down comes up), as [`SmtpSink::start`].
    pub fn start_on(port: u16) -> Option<SmtpSink> {
        let available =
            Command::new("python3").args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success());
        if !available {
            assert!(!is_ci(), "CI=true but python3 with aiosmtpd is missing: run the README test command");
            eprintln!("skipping: python3 with aiosmtpd is not installed (pip install aiosmtpd==1.4.6)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let sink = SmtpSink { child, port, maildir, _dir: dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "aiosmtpd did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(sink)
    }

    /// `twofold serve` / `twofold enclave` flags that send email through this sink.
    pub fn flags(&self) -> Vec<String> {
        ["--smtp-host", "127.0.0.1", "--smtp-port", &self.port.to_string(), "--smtp-tls", "none"]
            .map(str::to_owned)
            .to_vec()
    }

    /// Every stored message as raw text, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                files.extend(entries.map_while(Result::ok).map(|e| e.path()));
            }
        }
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().map(|p| std::fs::read_to_string(p).expect("mail file")).collect()
    }

    /// The code in the newest message to `to` (the indented line of the body).
    pub fn latest_code_for(&self, to: &str) -> String {
        let messages = self.messages();
        let raw = messages
            .iter()
            .rev()
            .find(|m| m.contains(&format!("X-RcptTo: {to}")))
            .unwrap_or_else(|| panic!("no mail to {to}"));
        otp_code_in(&mail_body(raw))
    }
}

/// The decoded text body of a raw mail (7bit or base64).
pub fn mail_body(raw: &str) -> String {
    let sep = if raw.contains("\r\n\r\n") { "\r\n\r\n" } else { "\n\n" };
    let (head, body) = raw.split_once(sep).unwrap_or((raw, ""));
    if head.to_ascii_lowercase().contains("content-transfer-encoding: base64") {
        use base64::Engine as _;
        let compact: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).expect("base64 body"))
            .expect("utf-8 body")
    } else {
        body.to_owned()
    }
}

/// The one-time code in a delivered email body: the line indented by four spaces.
pub fn otp_code_in(body: &str) -> String {
    body.lines().find(|l| l.starts_with("    ")).expect("a code line").trim().to_owned()
}

/// A running `twofold enclave --socket` process. Killed on drop.
pub struct TestEnclave {
    child: Child,
    /// Its socket.
    pub socket: PathBuf,
    /// Its data dir (key file, outbox).
    pub dir: tempfile::TempDir,
    log_path: PathBuf,
}

impl TestEnclave {
    /// Starts `binary enclave` on a socket in a fresh temp dir, with `extra_args`.
    pub fn start(binary: &str, extra_args: &[String]) -> TestEnclave {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("enclave.sock");
        let log_path = dir.path().join("enclave.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = Command::new(binary)
            .arg("enclave")
            .arg("--socket")
            .arg(&socket)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn twofold enclave");
        let stdout = child.stdout.take().expect("stdout");
        let line = BufReader::new(stdout).lines().next();
        assert!(
            matches!(&line, Some(Ok(l)) if l.starts_with("twofold enclave listening")),
            "enclave did not start: {line:?}\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        TestEnclave { child, socket, dir, log_path }
    }

    /// The enclave's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for TestEnclave {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
