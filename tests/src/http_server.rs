//! [`FlakyServer`]: a loopback HTTP/1.1 server for the outbound-HTTP tests, failing its first
//! requests on purpose.
//!
//! It listens on `127.0.0.1` at a port the OS picks, reads each request head (up to
//! `\r\n\r\n`), answers with `Content-Length` and `Connection: close`, and counts every request
//! it read. Routes:
//!
//! - `/data`: `503` while the server has seen at most `fail_first` requests, then `200` with
//!   `{"value": 42}`;
//! - `/big`: `200` with a [`BIG_BODY_BYTES`] body;
//! - `/slow`: `200` after [`SLOW_DELAY`];
//! - anything else: `404`.
//!
//! Everything is bounded: at most [`MAX_CONNECTIONS`] connections at once, a request head of at
//! most [`MAX_HEAD_BYTES`] read within [`IO_TIMEOUT`], answers written within [`IO_TIMEOUT`].
//! Dropping the [`FlakyServer`] aborts the server task and, with it, every connection task.
//! HTTP parsing is only what these tests need; this is no general server.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Size of the `/big` body, in bytes.
pub const BIG_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How long `/slow` waits before answering.
pub const SLOW_DELAY: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed unanswered.
pub const MAX_CONNECTIONS: usize = 64;
/// Longest request head read, in bytes; a longer one is answered `431`.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Time allowed to read a request head and, separately, to write an answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// The JSON body `/data` answers with once it stops failing.
const DATA_BODY: &[u8] = br#"{"value": 42}"#;

/// A running loopback server; stops when dropped.
#[derive(Debug)]
pub struct FlakyServer {
    addr: SocketAddr,
    requests: Arc<AtomicU32>,
    task: JoinHandle<()>,
}

impl FlakyServer {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime; `/data` answers
    /// `503` to the first `fail_first` requests the server reads.
    ///
    /// # Panics
    /// When the loopback listener cannot be bound.
    pub async fn start(fail_first: u32) -> FlakyServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap_or_else(|e| panic!("bind a loopback test server: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("test server address: {e}"));
        let requests = Arc::new(AtomicU32::new(0));
        let task = tokio::spawn(serve(listener, fail_first, Arc::clone(&requests)));
        FlakyServer { addr, requests, task }
    }

    /// Where the server listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`; `path` starts with `/`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests read so far (every route, including `404`s).
    #[must_use]
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FlakyServer {
    fn drop(&mut self) {
        // The connection tasks live in a `JoinSet` owned by this task, so they end with it.
        self.task.abort();
    }
}

/// Accepts connections until aborted, each served by its own task.
async fn serve(listener: TcpListener, fail_first: u32, requests: Arc<AtomicU32>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(_) => {
                // Out of descriptors or similar: back off rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            drop(stream);
            continue;
        }
        connections.spawn(answer(stream, fail_first, Arc::clone(&requests)));
    }
}

/// Reads one request head and writes one answer; any I/O failure just ends the connection.
async fn answer(mut stream: TcpStream, fail_first: u32, requests: Arc<AtomicU32>) {
    let head = match tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(HeadError::TooLarge)) => {
            let _ = write_answer(&mut stream, 431, b"").await;
            return;
        }
        Ok(Err(HeadError::Closed)) | Err(_) => return,
    };
    let seen = requests.fetch_add(1, Ordering::SeqCst) + 1;
    let path = request_path(&head);
    let (status, body): (u16, Vec<u8>) = match path {
        "/data" if seen <= fail_first => (503, br#"{"error": "failing on purpose"}"#.to_vec()),
        "/data" => (200, DATA_BODY.to_vec()),
        "/big" => (200, vec![b'x'; BIG_BODY_BYTES]),
        "/slow" => {
            tokio::time::sleep(SLOW_DELAY).await;
            (200, br#"{"slow": true}"#.to_vec())
        }
        _ => (404, br#"{"error": "not found"}"#.to_vec()),
    };
    let _ = tokio::time::timeout(IO_TIMEOUT, write_answer(&mut stream, status, &body)).await;
}

/// Why no request head was read.
enum HeadError {
    /// The peer closed or failed before `\r\n\r\n`.
    Closed,
    /// No `\r\n\r\n` within [`MAX_HEAD_BYTES`].
    TooLarge,
}

/// Reads up to and including the blank line ending the request head (a body, if any, is
/// ignored: the routes take none).
async fn read_head(stream: &mut TcpStream) -> Result<String, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await.map_err(|_| HeadError::Closed)?;
        if read == 0 {
            return Err(HeadError::Closed);
        }
        head.extend_from_slice(&chunk[..read]);
        if let Some(end) = head.windows(4).position(|window| window == b"\r\n\r\n") {
            head.truncate(end);
            return Ok(String::from_utf8_lossy(&head).into_owned());
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

/// The path of the request line (`GET /path?query HTTP/1.1`), without the query.
fn request_path(head: &str) -> &str {
    let target = head.lines().next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or("");
    target.split(['?', '#']).next().unwrap_or("")
}

async fn write_answer(stream: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `GET path` and returns the whole answer.
    async fn get(server: &FlakyServer, path: &str) -> String {
        let mut stream = TcpStream::connect(server.addr()).await.unwrap_or_else(|e| panic!("connect: {e}"));
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr());
        stream.write_all(request.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap_or_else(|e| panic!("read: {e}"));
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn data_fails_the_first_requests_then_answers() {
        let server = FlakyServer::start(2).await;
        assert!(get(&server, "/data").await.starts_with("HTTP/1.1 503 "));
        assert!(get(&server, "/data?x=1").await.starts_with("HTTP/1.1 503 "));
        let answer = get(&server, "/data").await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.contains("Content-Length: 13\r\n"), "{answer}");
        assert!(answer.ends_with(r#"{"value": 42}"#), "{answer}");
        assert_eq!(server.requests(), 3);
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found_and_counted() {
        let server = FlakyServer::start(0).await;
        assert!(get(&server, "/nope").await.starts_with("HTTP/1.1 404 "));
        assert_eq!(server.requests(), 1);
        assert_eq!(server.url("/data"), format!("http://127.0.0.1:{}/data", server.addr().port()));
    }

    #[tokio::test]
    async fn big_sends_the_whole_body() {
        let server = FlakyServer::start(0).await;
        let answer = get(&server, "/big").await;
        assert!(answer.contains(&format!("Content-Length: {BIG_BODY_BYTES}\r\n")));
        let body = answer.split_once("\r\n\r\n").map_or(0, |(_, body)| body.len());
        assert_eq!(body, BIG_BODY_BYTES);
    }

    #[tokio::test]
    async fn dropping_the_server_ends_a_slow_answer_unanswered() {
        let server = FlakyServer::start(0).await;
        let mut stream = TcpStream::connect(server.addr()).await.unwrap_or_else(|e| panic!("connect: {e}"));
        stream.write_all(b"GET /slow HTTP/1.1\r\n\r\n").await.unwrap_or_else(|e| panic!("write: {e}"));
        for _ in 0..100_000 {
            if server.requests() > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(server);
        let mut answer = Vec::new();
        // The aborted connection task drops its socket: the read ends (EOF or reset) unanswered.
        let _ = stream.read_to_end(&mut answer).await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }

    #[test]
    fn request_path_drops_the_query() {
        assert_eq!(request_path("GET /data?x=1 HTTP/1.1\r\nHost: h"), "/data");
        assert_eq!(request_path(""), "");
    }
}
