//! `net-connect` (hostile): tries to open a TCP connection although it declares no network
//! capability.
//!
//! Input JSON `{"addr": "host:port", "protocol": "tcp" | "udp"}` (default `127.0.0.1:9`, the
//! discard port, over TCP; an empty input means the defaults). Over TCP the guest calls
//! `std::net::TcpStream::connect`, which on `wasm32-wasip2` goes through `wasi:sockets` (socket
//! creation, then `start-connect`/`finish-connect`); over UDP it binds an ephemeral socket and
//! sends one datagram to `addr`. A host name in `addr` (`localhost:9`) is resolved first through
//! `wasi:sockets/ip-name-lookup`.
//!
//! The host is expected to deny every socket operation for an extension without a `network`
//! grant, so `connected` is false and `error` carries the refusal (an access-denied error, not a
//! timeout or a refused connection), and to record every attempt (connect, bind, send, name
//! lookup) as a denial. Output `{"addr": str, "connected": bool, "error": str|null,
//! "peer": str|null}`.

use std::net::{TcpStream, UdpSocket};

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
    protocol: Protocol,
}

/// Which transport to try.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Protocol {
    /// A TCP connection.
    #[default]
    Tcp,
    /// One UDP datagram from an ephemeral local port.
    Udp,
}

impl Default for Input {
    fn default() -> Self {
        Self { addr: DEFAULT_ADDR.to_owned(), protocol: Protocol::Tcp }
    }
}

/// Bind an ephemeral UDP socket and send one datagram to `addr`; the peer is `addr` itself.
fn send_datagram(addr: &str) -> std::io::Result<String> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.send_to(b"net-connect", addr)?;
    Ok(addr.to_owned())
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
        let Input { addr, protocol } = parse_input(&request.input)?;
        let attempt = match protocol {
            Protocol::Tcp => TcpStream::connect(addr.as_str())
                .map(|stream| stream.peer_addr().map(|p| p.to_string()).unwrap_or_default()),
            Protocol::Udp => send_datagram(&addr),
        };
        let report = match attempt {
            Ok(peer) => Report { connected: true, error: None, peer: Some(peer), addr },
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
