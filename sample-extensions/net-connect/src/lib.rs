//! `net-connect` (hostile): tries to open a TCP connection although it declares no network
//! capability.
//!
//! Input JSON `{"addr": "host:port"}` (default `127.0.0.1:9`, the discard port; an empty input
//! means the default). The guest calls `std::net::TcpStream::connect`, which on `wasm32-wasip2`
//! goes through `wasi:sockets` (socket creation, then `start-connect`/`finish-connect`).
//!
//! The host is expected to deny every socket operation for an extension without a `network`
//! grant, so `connected` is false and `error` carries the refusal (an access-denied error, not a
//! timeout or a refused connection). Output `{"addr": str, "connected": bool, "error": str|null,
//! "peer": str|null}`.

use std::net::TcpStream;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::{Extension, ExtensionError, Payload, Request, Response, register_extension};

/// Where the guest tries to connect when the input names nothing.
const DEFAULT_ADDR: &str = "127.0.0.1:9";

/// The net-connect extension.
struct NetConnect;

/// The expected input.
#[derive(Deserialize)]
#[serde(default)]
struct Input {
    addr: String,
}

impl Default for Input {
    fn default() -> Self {
        Self { addr: DEFAULT_ADDR.to_owned() }
    }
}

/// What the attempt achieved.
#[derive(Serialize)]
struct Report {
    addr: String,
    connected: bool,
    /// The I/O error (`Kind: message`) when the connection failed.
    error: Option<String>,
    /// The peer address the socket reports, when connected.
    peer: Option<String>,
}

fn parse_input(input: &Payload) -> Result<Input, ExtensionError> {
    if input.bytes.is_empty() { Ok(Input::default()) } else { input.parse_json() }
}

impl Extension for NetConnect {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "opens-sockets".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { addr } = parse_input(&request.input)?;
        let report = match TcpStream::connect(addr.as_str()) {
            Ok(stream) => Report {
                connected: true,
                error: None,
                peer: stream.peer_addr().ok().map(|peer| peer.to_string()),
                addr,
            },
            Err(error) => Report {
                connected: false,
                error: Some(format!("{:?}: {error}", error.kind())),
                peer: None,
                addr,
            },
        };
        Response::json(&report)
    }
}

register_extension!(NetConnect);
