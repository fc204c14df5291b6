//! One GET over `wasi:http/outgoing-handler`, and what each way it can fail means to the caller.
//!
//! The mapping is the point of this sample: failures that may pass (5xx, connection errors,
//! timeouts) are [`ExtensionError::Unavailable`], throttling is [`ExtensionError::RateLimited`],
//! and everything retrying cannot fix is returned as such: a destination the platform denies, a
//! body too large, a 4xx. Retrying is the caller's business ([`Retry`](symphony_guest_sdk::Retry)
//! in `lib.rs`); the host's limits (`http_timeout_ms`, `http_response_bytes`) arrive here as
//! `wasi:http` error codes.

use symphony_guest_sdk::ExtensionError;
use wasi::http::outgoing_handler;
use wasi::http::types::{self, ErrorCode, Fields, IncomingResponse, Method, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

use crate::target::{Target, UrlScheme};

/// Bytes asked for per body read.
const READ_CHUNK_BYTES: u64 = 64 * 1024;

/// Retry hint for a 429 without a usable `retry-after` header, in milliseconds.
const DEFAULT_RATE_LIMIT_RETRY_MS: u64 = 1_000;

/// A successful (2xx) response.
pub(crate) struct Fetched {
    /// The HTTP status code.
    pub(crate) status: u16,
    /// The whole body.
    pub(crate) body: Vec<u8>,
}

/// GETs `target`, buffering at most `max_body_bytes` of body.
///
/// # Errors
/// See the module docs: [`ExtensionError::Unavailable`] and [`ExtensionError::RateLimited`] for
/// failures worth retrying, [`ExtensionError::UnableToComplete`] for denials and non-retryable
/// statuses, [`ExtensionError::ResourceExhausted`] for bodies over a limit.
pub(crate) fn get(target: &Target, max_body_bytes: u64) -> Result<Fetched, ExtensionError> {
    let describe = |what: &str| format!("GET {}{}: {what}", target.authority, target.path_with_query);
    let response = send(target).map_err(|code| from_error_code(&code, &describe))?;
    let status = response.status();
    match status {
        200..=299 => {
            let body = read_body(&response, max_body_bytes, &describe)?;
            Ok(Fetched { status, body })
        }
        429 => Err(ExtensionError::rate_limited(
            describe("429 Too Many Requests"),
            retry_after_ms(&response).unwrap_or(DEFAULT_RATE_LIMIT_RETRY_MS),
        )),
        500..=599 => Err(ExtensionError::unavailable(
            describe(&format!("server error {status}")),
            retry_after_ms(&response),
        )),
        400..=499 => Err(ExtensionError::unable_to_complete(describe(&format!("client error {status}")))),
        _ => Err(ExtensionError::unable_to_complete(describe(&format!(
            "unexpected status {status} (redirects are not followed)"
        )))),
    }
}

/// Sends the request and waits for the response head.
fn send(target: &Target) -> Result<IncomingResponse, ErrorCode> {
    let headers = Fields::new();
    // A static, valid header: the host's fields are mutable until the request is built.
    let _ = headers.append("accept", b"application/json");
    let request = OutgoingRequest::new(headers);
    let scheme = match target.scheme {
        UrlScheme::Http => Scheme::Http,
        UrlScheme::Https => Scheme::Https,
    };
    let invalid_uri = |()| ErrorCode::HttpRequestUriInvalid;
    request.set_method(&Method::Get).map_err(|()| ErrorCode::HttpRequestMethodInvalid)?;
    request.set_scheme(Some(&scheme)).map_err(invalid_uri)?;
    request.set_authority(Some(&target.authority)).map_err(invalid_uri)?;
    request.set_path_with_query(Some(&target.path_with_query)).map_err(invalid_uri)?;
    // No `body()` call: a GET goes out with an empty body.
    let pending = outgoing_handler::handle(request, None)?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(result)) => result,
        // Neither can happen after `block()` on a response taken once; report it as the
        // host-side fault it would be.
        Some(Err(())) | None => Err(ErrorCode::InternalError(Some("response future misbehaved".into()))),
    }
}

/// Reads the whole body of `response`, failing past `max_body_bytes`.
fn read_body(
    response: &IncomingResponse,
    max_body_bytes: u64,
    describe: &impl Fn(&str) -> String,
) -> Result<Vec<u8>, ExtensionError> {
    let unreadable = || ExtensionError::internal(describe("response body already taken"));
    // Declared before the stream so the stream (its child resource) is dropped first.
    let body = response.consume().map_err(|()| unreadable())?;
    let stream = body.stream().map_err(|()| unreadable())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK_BYTES) {
            Ok(chunk) => {
                let total = u64::try_from(bytes.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
                if total > max_body_bytes {
                    return Err(ExtensionError::resource_exhausted(describe(&format!(
                        "body larger than the guest's max_body_bytes ({max_body_bytes} bytes)"
                    ))));
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(match types::http_error_code(&error) {
                    Some(code) => from_error_code(&code, describe),
                    // wasmtime-wasi-http 48 reports body failures (the host's
                    // `http_response_bytes` cut-off among them) without an error code, so a
                    // failed body counts as too large; a mid-body timeout lands here too.
                    None => ExtensionError::resource_exhausted(describe(&format!(
                        "response body stream failed: {}",
                        error.to_debug_string()
                    ))),
                });
            }
        }
    }
}

/// The `retry-after` header in delay-seconds form, in milliseconds.
fn retry_after_ms(response: &IncomingResponse) -> Option<u64> {
    let values = response.headers().get("retry-after");
    let seconds: u64 = std::str::from_utf8(values.first()?).ok()?.trim().parse().ok()?;
    Some(seconds.saturating_mul(1_000))
}

/// What a `wasi:http` error code means to the caller.
fn from_error_code(code: &ErrorCode, describe: &impl Fn(&str) -> String) -> ExtensionError {
    match code {
        // The platform refused the destination: no retry can change a policy decision.
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            ExtensionError::unable_to_complete(format!(
                "network access denied: {}",
                describe(&format!("{code:?}"))
            ))
        }
        ErrorCode::HttpResponseBodySize(_)
        | ErrorCode::HttpResponseHeaderSectionSize(_)
        | ErrorCode::HttpResponseHeaderSize(_)
        | ErrorCode::HttpResponseTrailerSectionSize(_)
        | ErrorCode::HttpResponseTrailerSize(_) => {
            ExtensionError::resource_exhausted(describe(&format!("response too large: {code:?}")))
        }
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::HttpResponseIncomplete
        | ErrorCode::HttpResponseTimeout => ExtensionError::unavailable(describe(&format!("{code:?}")), None),
        ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong => ExtensionError::invalid_input(describe(&format!("{code:?}"))),
        // TLS, protocol and configuration failures: the same request would fail the same way.
        _ => ExtensionError::unable_to_complete(describe(&format!("{code:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(what: &str) -> String {
        format!("GET test: {what}")
    }

    #[test]
    fn denial_is_final_and_says_so() {
        let error = from_error_code(&ErrorCode::HttpRequestDenied, &describe);
        assert!(matches!(&error, ExtensionError::UnableToComplete(_)), "{error:?}");
        assert!(!error.is_transient());
    }

    #[test]
    fn connection_failures_and_timeouts_are_transient() {
        for code in
            [ErrorCode::ConnectionRefused, ErrorCode::ConnectionReadTimeout, ErrorCode::HttpResponseTimeout]
        {
            let error = from_error_code(&code, &describe);
            assert!(matches!(error, ExtensionError::Unavailable { .. }), "{error:?}");
        }
    }

    #[test]
    fn oversized_bodies_exhaust_a_resource() {
        let error = from_error_code(&ErrorCode::HttpResponseBodySize(Some(65_536)), &describe);
        assert!(matches!(error, ExtensionError::ResourceExhausted(_)), "{error:?}");
    }

    #[test]
    fn protocol_errors_are_not_retried() {
        let error = from_error_code(&ErrorCode::HttpProtocolError, &describe);
        assert!(matches!(error, ExtensionError::UnableToComplete(_)), "{error:?}");
    }
}
