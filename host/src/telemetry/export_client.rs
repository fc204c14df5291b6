//! The HTTP client the OTLP exporter posts batches with: the workspace's reqwest (rustls for
//! `https://` collectors), every request bounded by the export timeout, never through a proxy
//! from the environment, and the collector's answer read to at most
//! [`MAX_RESPONSE_BYTES`]. Building the request and judging the status is the OTLP exporter's.

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Most of a collector's answer that is read, in bytes (an OTLP answer is a few bytes).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why the last request could not be sent, in words with its causes: the OTLP exporter only
/// says "network error", the export thread reports this instead.
pub(crate) type TransportError = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// [`HttpClient`] over a reqwest client.
#[derive(Debug, Clone)]
pub(crate) struct ExportClient {
    client: reqwest::Client,
    transport_error: TransportError,
}

impl ExportClient {
    /// A client whose every request (connect, send, answer) ends within `timeout`.
    ///
    /// # Errors
    /// When reqwest cannot build it (its TLS backend cannot start).
    pub(crate) fn new(timeout: std::time::Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).no_proxy().build()?;
        Ok(Self { client, transport_error: TransportError::default() })
    }

    /// Where the client leaves why its last request could not be sent.
    pub(crate) fn transport_error(&self) -> TransportError {
        std::sync::Arc::clone(&self.transport_error)
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let sent = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => {
                let mut words = error.to_string();
                let mut cause = std::error::Error::source(&error);
                while let Some(inner) = cause {
                    words.push_str(&format!(": {inner}"));
                    cause = inner.source();
                }
                *self.transport_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(words);
                return Err(error.into());
            }
        };
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_RESPONSE_BYTES.saturating_sub(answer.len());
            answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if answer.len() >= MAX_RESPONSE_BYTES {
                break;
            }
        }
        let mut out = Response::new(Bytes::from(answer));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}
