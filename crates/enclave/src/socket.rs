//! The process boundary: versioned JSON lines over a Unix socket (mode 0600).
//!
//! Request: `{"v":1,"op":"init_otp","params":{…}}`; response: `{"v":1,"ok":true,"result":…}` or
//! `{"v":1,"ok":false,"error":{"kind":"invalid_input","message":"…"}}`. One request per line,
//! at most [`MAX_REQUEST_BYTES`]; a connection may carry many requests in sequence.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::api::EnclaveApi;
use crate::error::{Error, Result, fill_random};
use crate::jwt::VerificationClaims;
use crate::otp::{
    DeliverOtpRequest, Enclave, InitOtpRequest, InitOtpResponse, Notice, PublicKeys, VerifyOtpRequest,
    VerifyOtpResponse,
};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u64 = 1;
/// Largest request line the enclave reads.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest response line the client reads.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// Default bound on one remote call (delivery may take a while; it has its own timeouts).
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", content = "params", rename_all = "snake_case")]
enum Request {
    PublicKeys,
    InitOtp(InitOtpRequest),
    DeliverOtp(DeliverOtpRequest),
    VerifyOtp(VerifyOtpRequest),
    VerifyToken { token: String, now_ms: u64 },
    SendNotice(Notice),
}

impl Request {
    fn op(&self) -> &'static str {
        match self {
            Request::PublicKeys => "public_keys",
            Request::InitOtp(_) => "init_otp",
            Request::DeliverOtp(_) => "deliver_otp",
            Request::VerifyOtp(_) => "verify_otp",
            Request::VerifyToken { .. } => "verify_token",
            Request::SendNotice(_) => "send_notice",
        }
    }
}

enum Line {
    Complete,
    Eof,
    TooLong,
}

async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    buf.clear();
    let n = (&mut *reader).take(max as u64 + 1).read_until(b'\n', buf).await?;
    if n == 0 {
        Ok(Line::Eof)
    } else if buf.len() > max && buf.last() != Some(&b'\n') {
        Ok(Line::TooLong)
    } else {
        Ok(Line::Complete)
    }
}

/// Binds `path` as a socket only its owner can use: bound under a temporary name, set to 0600,
/// then renamed into place, so it is never reachable with wider permissions. A stale socket
/// at `path` is replaced; any other kind of file there is an error.
pub fn bind_unix(path: &Path) -> Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::InvalidInput(format!("`{}` exists and is not a socket", path.display())));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::InvalidInput(format!("an enclave is already listening on `{}`", path.display())));
        }
    }
    let mut suffix = [0u8; 6];
    fill_random(&mut suffix)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "enclave.sock".into());
    let staging = path.with_file_name(format!(".{name}.{}", hex::encode(suffix)));
    let listener = UnixListener::bind(&staging)?;
    let publish = std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&staging, path));
    if let Err(e) = publish {
        let _ = std::fs::remove_file(&staging);
        return Err(e.into());
    }
    Ok(listener)
}

/// Whose clock decides code and token expiry for requests that arrive over the socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClockSource {
    /// The enclave process's own clock; the caller's `now_ms` is ignored, so a compromised
    /// coordinator cannot stretch a code's or a token's life by lying about the time.
    #[default]
    Enclave,
    /// The caller's `now_ms` (tests with a manual clock).
    Caller,
}

/// Options for serving the enclave on a socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// Whose clock counts.
    pub clock: ClockSource,
}

/// Serves `enclave` on a new socket at `path` (enclave clock) until the task is dropped or accepting fails.
pub async fn serve_unix(enclave: Arc<Enclave>, path: &Path) -> Result<()> {
    serve_unix_with(enclave, path, ServeOptions::default()).await
}

/// [`serve_unix`] with explicit options.
pub async fn serve_unix_with(enclave: Arc<Enclave>, path: &Path, options: ServeOptions) -> Result<()> {
    let listener = bind_unix(path)?;
    tracing::info!(path = %path.display(), version = PROTOCOL_VERSION, clock = ?options.clock, "enclave listening");
    serve_listener(enclave, listener, options).await
}

/// Serves an already bound listener (see [`bind_unix`]).
pub async fn serve_listener(enclave: Arc<dyn EnclaveApi>, listener: UnixListener, options: ServeOptions) -> Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("connection limiter closed".into()))?;
        let (stream, _) = listener.accept().await?;
        let enclave = Arc::clone(&enclave);
        tokio::spawn(async move {
            if let Err(e) = serve_connection(enclave.as_ref(), stream, options).await {
                tracing::debug!(error = %e, "enclave connection ended with an error");
            }
            drop(permit);
        });
    }
}

async fn serve_connection(enclave: &dyn EnclaveApi, stream: UnixStream, options: ServeOptions) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::with_capacity(4096);
    loop {
        let response = match read_line(&mut reader, &mut buf, MAX_REQUEST_BYTES).await? {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                let err = Error::Protocol(format!("request is larger than {MAX_REQUEST_BYTES} bytes"));
                write_line(&mut write, &error_response(&err)).await?;
                return Ok(());
            }
            Line::Complete => match handle(enclave, &buf, options).await {
                Ok(result) => json!({ "v": PROTOCOL_VERSION, "ok": true, "result": result }),
                Err(e) => error_response(&e),
            },
        };
        write_line(&mut write, &response).await?;
    }
}

fn error_response(e: &Error) -> Value {
    json!({ "v": PROTOCOL_VERSION, "ok": false, "error": { "kind": e.kind(), "message": e.detail() } })
}

async fn write_line<W: AsyncWriteExt + Unpin>(w: &mut W, value: &Value) -> Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(|e| Error::Internal(format!("response encoding: {e}")))?;
    bytes.push(b'\n');
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

fn check_version(value: &Value, who: &str) -> Result<()> {
    match value.get("v").and_then(Value::as_u64) {
        Some(PROTOCOL_VERSION) => Ok(()),
        Some(v) => Err(Error::Protocol(format!(
            "protocol version mismatch: this side speaks v{PROTOCOL_VERSION}, the {who} speaks v{v}; \
             run the same twofold version on both sides"
        ))),
        None => Err(Error::Protocol(format!("{who} message has no protocol version `v`"))),
    }
}

fn system_now_ms() -> Result<u64> {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::Internal("system clock is before 1970".into()))?;
    u64::try_from(elapsed.as_millis()).map_err(|_| Error::Internal("system clock is out of range".into()))
}

async fn handle(enclave: &dyn EnclaveApi, line: &[u8], options: ServeOptions) -> Result<Value> {
    let mut value: Value =
        serde_json::from_slice(line).map_err(|e| Error::Protocol(format!("request is not JSON: {e}")))?;
    check_version(&value, "client")?;
    if let Some(map) = value.as_object_mut() {
        map.remove("v");
        // `public_keys` takes no parameters; tolerate clients that send `"params": {}` or null.
        if map.get("op").and_then(Value::as_str) == Some("public_keys") {
            map.remove("params");
        }
    }
    let mut request: Request =
        serde_json::from_value(value).map_err(|e| Error::Protocol(format!("malformed request: {e}")))?;
    if options.clock == ClockSource::Enclave {
        let now = system_now_ms()?;
        match &mut request {
            Request::InitOtp(r) => r.now_ms = now,
            Request::DeliverOtp(r) => r.now_ms = now,
            Request::VerifyOtp(r) => r.now_ms = now,
            Request::VerifyToken { now_ms, .. } => *now_ms = now,
            Request::PublicKeys | Request::SendNotice(_) => {}
        }
    }
    let op = request.op();
    let result = match request {
        Request::PublicKeys => to_value(enclave.public_keys().await?),
        Request::InitOtp(r) => to_value(enclave.init_otp(r).await?),
        Request::DeliverOtp(r) => enclave.deliver_otp(r).await.map(|()| Value::Null),
        Request::VerifyOtp(r) => to_value(enclave.verify_otp(r).await?),
        Request::VerifyToken { token, now_ms } => to_value(enclave.verify_token(token, now_ms).await?),
        Request::SendNotice(n) => enclave.send_notice(n).await.map(|()| Value::Null),
    };
    if let Err(e) = &result {
        tracing::debug!(op, kind = e.kind(), "enclave request refused");
    }
    result
}

fn to_value<T: Serialize>(value: T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("response encoding: {e}")))
}

/// A client for an enclave running in another process, over its Unix socket.
///
/// Each call uses its own connection, so a slow delivery never holds up other calls.
#[derive(Debug, Clone)]
pub struct RemoteEnclave {
    path: PathBuf,
    timeout: Duration,
}

impl RemoteEnclave {
    /// Connects to the enclave at `path` and checks that it speaks this protocol version.
    pub async fn connect(path: impl Into<PathBuf>) -> Result<Self> {
        let remote = RemoteEnclave { path: path.into(), timeout: DEFAULT_CALL_TIMEOUT };
        remote.public_keys().await?;
        Ok(remote)
    }

    /// Bounds every call to `timeout` (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn call<T: for<'de> Deserialize<'de>>(&self, request: Request) -> Result<T> {
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Protocol(format!("enclave did not answer within {:?}", self.timeout))),
        }
    }

    async fn exchange<T: for<'de> Deserialize<'de>>(&self, request: Request) -> Result<T> {
        let mut value = to_value(&request)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("v".into(), json!(PROTOCOL_VERSION));
        }
        let mut bytes = serde_json::to_vec(&value).map_err(|e| Error::Internal(format!("request encoding: {e}")))?;
        bytes.push(b'\n');
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(Error::InvalidInput(format!("request is larger than {MAX_REQUEST_BYTES} bytes")));
        }
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(|e| Error::Protocol(format!("cannot reach the enclave at `{}`: {e}", self.path.display())))?;
        let (read, mut write) = stream.into_split();
        write.write_all(&bytes).await?;
        write.flush().await?;
        let mut reader = BufReader::new(read);
        let mut buf = Vec::new();
        match read_line(&mut reader, &mut buf, MAX_RESPONSE_BYTES).await? {
            Line::Complete => {}
            Line::Eof => return Err(Error::Protocol("enclave closed the connection without answering".into())),
            Line::TooLong => return Err(Error::Protocol("enclave response is too large".into())),
        }
        let response: Value =
            serde_json::from_slice(&buf).map_err(|e| Error::Protocol(format!("response is not JSON: {e}")))?;
        check_version(&response, "enclave")?;
        if response.get("ok").and_then(Value::as_bool) == Some(true) {
            let result = response.get("result").cloned().unwrap_or(Value::Null);
            return serde_json::from_value(result).map_err(|e| Error::Protocol(format!("malformed response: {e}")));
        }
        let error = response.get("error");
        let kind = error.and_then(|e| e.get("kind")).and_then(Value::as_str).unwrap_or("internal");
        let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("no message");
        Err(Error::from_wire(kind, message.to_owned()))
    }
}

#[async_trait]
impl EnclaveApi for RemoteEnclave {
    async fn public_keys(&self) -> Result<PublicKeys> {
        self.call(Request::PublicKeys).await
    }

    async fn init_otp(&self, request: InitOtpRequest) -> Result<InitOtpResponse> {
        self.call(Request::InitOtp(request)).await
    }

    async fn deliver_otp(&self, request: DeliverOtpRequest) -> Result<()> {
        let _: Value = self.call(Request::DeliverOtp(request)).await?;
        Ok(())
    }

    async fn verify_otp(&self, request: VerifyOtpRequest) -> Result<VerifyOtpResponse> {
        self.call(Request::VerifyOtp(request)).await
    }

    async fn verify_token(&self, token: String, now_ms: u64) -> Result<VerificationClaims> {
        self.call(Request::VerifyToken { token, now_ms }).await
    }

    async fn send_notice(&self, notice: Notice) -> Result<()> {
        let _: Value = self.call(Request::SendNotice(notice)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn request_wire_shape() {
        let v = to_value(Request::VerifyToken { token: "t".into(), now_ms: 5 }).unwrap();
        assert_eq!(v, json!({"op": "verify_token", "params": {"token": "t", "now_ms": 5}}));
        assert_eq!(to_value(Request::PublicKeys).unwrap(), json!({"op": "public_keys"}));
    }

    #[tokio::test]
    async fn public_keys_accepts_empty_params() {
        let dir = tempfile::tempdir().unwrap();
        let enclave = Enclave::new(
            crate::EnclaveKeys::generate().unwrap(),
            crate::Deliverer::outbox(dir.path()),
            crate::EnclaveConfig::default(),
        )
        .unwrap();
        for line in [
            r#"{"v":1,"op":"public_keys"}"#,
            r#"{"v":1,"op":"public_keys","params":{}}"#,
            r#"{"v":1,"op":"public_keys","params":null}"#,
        ] {
            let result = handle(&enclave, line.as_bytes(), ServeOptions::default()).await.unwrap();
            assert_eq!(result["signing_public_key"], json!(enclave.public_keys().signing_public_key), "{line}");
        }
    }
}
