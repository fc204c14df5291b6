//! Outbound HTTP (`wasi:http/outgoing-handler`) under the network capability.
//!
//! Every request is checked against the extension's granted `host:port` patterns before any
//! connection is made; a denied one fails with wasi:http's `HTTP-request-denied` (no trap) and is
//! recorded. A granted one runs with every timeout phase (connect, first byte, between bytes)
//! capped at the call's `http_timeout_ms`, and its response body is cut off with
//! `HTTP-response-body-size` past `http_response_bytes`: a remote server can no more flood the
//! guest than the guest can flood the host.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use symphony_types::capability::denials::{CapabilityKind, DenialRecorder};
use symphony_types::capability::pattern_matches;

/// The per-call policy for outbound HTTP.
pub(crate) struct HttpPolicy {
    /// Granted `host:port` patterns.
    pub(crate) allowed: Vec<String>,
    pub(crate) denials: DenialRecorder,
    /// Cap for each timeout phase.
    pub(crate) timeout: Duration,
    /// Cap on each response body, in bytes.
    pub(crate) response_limit_bytes: u64,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _body_written: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let destination = uri.authority().map(|a| match a.port_u16() {
            Some(_) => a.to_string(),
            None => format!("{}:{}", a.host(), if tls { 443 } else { 80 }),
        });
        let permitted = destination
            .as_deref()
            .is_some_and(|d| self.allowed.iter().any(|pattern| pattern_matches(pattern, d)));
        if !permitted {
            let target = format!("{} (http)", destination.as_deref().unwrap_or("(no authority)"));
            self.denials.record(CapabilityKind::Network, &target);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let cap = self.timeout;
        let capped = |asked: Option<Duration>| Some(asked.map_or(cap, |a| a.min(cap)));
        let options = RequestOptions {
            connect_timeout: capped(options.and_then(|o| o.connect_timeout)),
            first_byte_timeout: capped(options.and_then(|o| o.first_byte_timeout)),
            between_bytes_timeout: capped(options.and_then(|o| o.between_bytes_timeout)),
        };
        let limit = self.response_limit_bytes;
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let response = response
                .map(|body| LimitedBody { inner: body.boxed_unsync(), left: limit, limit }.boxed_unsync());
            Ok((response, Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>))
        })
    }
}

/// A response body that errors once more than `limit` bytes have arrived.
struct LimitedBody {
    inner: WasiBody,
    left: u64,
    limit: u64,
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, |d| d.len() as u64);
                if size > self.left {
                    self.left = 0;
                    return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(self.limit)))));
                }
                self.left -= size;
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
