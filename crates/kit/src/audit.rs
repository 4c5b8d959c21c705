//! The audit trail, like CloudTrail: every call that changes something (every RPC but the
//! read-only ones, see [`crate::auth`]) is recorded once it is answered — who called
//! (the caller's role, or the client certificate's subject), which service and RPC, which
//! resource when the service names it, the outcome (`OK` or the gRPC code), the request id
//! and the peer's address. Refused calls (a missing or wrong token, a read-only caller) are
//! recorded too. Never a request body, a header value or a secret.
//!
//! The service hands the record to an [`AuditSink`]; the services' sink puts it on the bus
//! as a `Groundwork API Call` event (`groundwork_bus::audit`). The request id comes from the
//! caller's `x-request-id` header when it is a plain id, or is made here, and is returned in
//! the response's `x-request-id`.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{Layer, Service};

/// Whether a call is recorded: every call that is not read-only ([`crate::auth::is_read_only`])
/// but PutEvents, which is the data plane (as CloudTrail leaves data events out by
/// default): recording it would put a second event on the bus for every event.
pub fn is_audited(path: &str) -> bool {
    !crate::auth::is_read_only(path) && !path.ends_with("/PutEvents")
}

/// The header that carries a call's request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// One answered call, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// The gRPC service, e.g. `groundwork.v1.Identity`.
    pub service: String,
    /// The RPC, e.g. `EnsureAdmin`.
    pub rpc: String,
    /// Who called: the role of the token (`operator`, `read-only`), the client
    /// certificate's subject, or `unauthenticated`.
    pub caller: String,
    /// The resource the call acted on, when the service named it (see [`Resource`]).
    pub resource: Option<String>,
    /// `OK`, or the gRPC code of the answer (`PERMISSION_DENIED`, `INVALID_ARGUMENT`, …).
    pub outcome: String,
    pub request_id: String,
    /// The peer's address, when known.
    pub source_address: Option<String>,
}

/// Where audit records go. `record` must not block: sinks hand the record to a task.
pub trait AuditSink: Send + Sync + std::fmt::Debug + 'static {
    fn record(&self, call: ApiCall);
}

/// The resource a call acted on: a service's handler puts it in the response's
/// extensions ([`with_resource`]) so that the audit record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource(pub String);

/// Names the resource of a successful call in its audit record.
pub fn with_resource<T>(
    mut response: tonic::Response<T>,
    resource: impl Into<String>,
) -> tonic::Response<T> {
    response.extensions_mut().insert(Resource(resource.into()));
    response
}

/// Who the caller is, as the authentication layer established it; put in the request's
/// extensions by that layer (absent: `unauthenticated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// A tower layer that records every call `audited(path)` selects with the sink.
#[derive(Debug, Clone)]
pub struct AuditLayer {
    sink: Arc<dyn AuditSink>,
    audited: fn(&str) -> bool,
}

impl AuditLayer {
    pub fn new(sink: Arc<dyn AuditSink>, audited: fn(&str) -> bool) -> Self {
        Self { sink, audited }
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            sink: self.sink.clone(),
            audited: self.audited,
        }
    }
}

/// The service made by [`AuditLayer`].
#[derive(Debug, Clone)]
pub struct AuditService<S> {
    inner: S,
    sink: Arc<dyn AuditSink>,
    audited: fn(&str) -> bool,
}

impl<S, B, ResBody> Service<http::Request<B>> for AuditService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let request_id = request_id(&request);
        if let Ok(value) = http::HeaderValue::from_str(&request_id) {
            request.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        if !(self.audited)(&path) {
            let answered = self.inner.call(request);
            return Box::pin(async move {
                let mut response = answered.await?;
                set_request_id(&mut response, &request_id);
                Ok(response)
            });
        }
        let (service, rpc) = split_path(&path);
        let source_address = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr())
            .map(|a| a.ip().to_string());
        let caller = request.extensions().get::<Caller>().cloned();
        let sink = self.sink.clone();
        let answered = self.inner.call(request);
        Box::pin(async move {
            let mut response = answered.await?;
            // The authentication layer (outside this one) answers refusals itself; its
            // verdict on the caller travels back in the response too.
            let caller = response
                .extensions()
                .get::<Caller>()
                .cloned()
                .or(caller)
                .map_or_else(|| "unauthenticated".to_owned(), |c| c.0);
            sink.record(ApiCall {
                service,
                rpc,
                caller,
                resource: response.extensions().get::<Resource>().map(|r| r.0.clone()),
                outcome: outcome(&response),
                request_id: request_id.clone(),
                source_address,
            });
            set_request_id(&mut response, &request_id);
            Ok(response)
        })
    }
}

fn set_request_id<B>(response: &mut http::Response<B>, id: &str) {
    if let Ok(value) = http::HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}

/// The caller's request id when it is a plain id (letters, digits, `-`, `_`, `.`, at
/// most 128 characters), a new one otherwise.
fn request_id<B>(request: &http::Request<B>) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// `/groundwork.v1.Identity/EnsureAdmin` → (`groundwork.v1.Identity`, `EnsureAdmin`).
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, rpc)) => (service.to_owned(), rpc.to_owned()),
        None => (trimmed.to_owned(), String::new()),
    }
}

/// The call's outcome from the answer's headers: a refused or failed unary call is
/// answered "trailers-only", with `grpc-status` in the headers; otherwise the call was
/// accepted (`OK`; a stream that fails later reports its failure to the caller).
fn outcome<B>(response: &http::Response<B>) -> String {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32);
    code_name(code).to_owned()
}

/// The gRPC code as the spec spells it (`PERMISSION_DENIED`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_its_service_and_rpc() {
        assert_eq!(
            split_path("/groundwork.v1.Identity/EnsureAdmin"),
            ("groundwork.v1.Identity".into(), "EnsureAdmin".into())
        );
    }

    #[test]
    fn a_plain_request_id_is_kept_and_anything_else_replaced() {
        let with = |id: &str| {
            http::Request::builder()
                .header(REQUEST_ID_HEADER, id)
                .body(())
                .unwrap()
        };
        assert_eq!(request_id(&with("run-42.a_b")), "run-42.a_b");
        let replaced = request_id(&with("evil\u{7f}id"));
        assert_ne!(replaced, "evil\u{7f}id");
        assert_eq!(replaced.len(), 36);
        assert_eq!(request_id(&with(&"x".repeat(129))).len(), 36);
    }

    #[test]
    fn the_outcome_is_the_trailers_only_status_or_ok() {
        let refused = http::Response::builder()
            .header("grpc-status", "7")
            .body(())
            .unwrap();
        assert_eq!(outcome(&refused), "PERMISSION_DENIED");
        let ok = http::Response::builder().body(()).unwrap();
        assert_eq!(outcome(&ok), "OK");
    }
}
