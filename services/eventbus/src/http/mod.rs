//! EventBridge's own HTTP API (AWS JSON 1.1) beside gRPC, on the same listener, so that the
//! AWS CLI and the AWS SDKs work against the bus by changing only their endpoint:
//! `POST /` with `X-Amz-Target: AWSEvents.<Operation>` and a JSON body.
//!
//! Each operation is the gRPC method of the same name, called in-process: the request's
//! JSON is read into the protobuf request ([`shapes`]), the method runs exactly as for a
//! gRPC caller (same validation, same storage, same read-only redaction), and its answer or
//! error is written back in EventBridge's shapes. PutEvents goes straight to the shared
//! ingest, as the NATS ingress does. Callers authenticate with AWS SigV4 or a bearer token
//! ([`groundwork_kit::auth::Access::authenticate_http`]), get the roles of gRPC (the
//! operation's gRPC path decides what the read-only role may call), and their calls are
//! in the same audit trail.

pub mod shapes;

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::response::Response;
use groundwork_events::envelope::Producer;
use groundwork_kit::auth::{Access, Caller, Role, api_call};
use groundwork_kit::grpc::{Gate, RootApi};
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Status;

use crate::error::{Error, ErrorKind, ILLEGAL_STATUS, INVALID_PATTERN};
use crate::grpc::EventBusApi;

/// The JSON protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The prefix of `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "AWSEvents.";

/// The service name in SigV4 credential scopes.
pub const SIGNING_NAME: &str = "events";

/// The largest request body read: gRPC's own limit on a message (4 MiB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The EventBridge operations served, each the gRPC method of the same name.
pub const OPERATIONS: &[&str] = &[
    "PutEvents",
    "PutRule",
    "DescribeRule",
    "ListRules",
    "DeleteRule",
    "EnableRule",
    "DisableRule",
    "ListRuleNamesByTarget",
    "PutTargets",
    "RemoveTargets",
    "ListTargetsByRule",
    "CreateEventBus",
    "DescribeEventBus",
    "ListEventBuses",
    "DeleteEventBus",
    "TestEventPattern",
    "CreateArchive",
    "DescribeArchive",
    "ListArchives",
    "UpdateArchive",
    "DeleteArchive",
    "StartReplay",
    "DescribeReplay",
    "ListReplays",
    "CancelReplay",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// The gRPC path of an operation (`/groundwork.v1.EventBus/<Operation>`).
pub fn grpc_path(operation: &str) -> String {
    format!("/groundwork.v1.EventBus/{operation}")
}

/// An error as AWS sends it: HTTP status, `__type` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AwsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A client error of EventBridge (they are all HTTP 400).
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::client("ValidationException", message)
    }

    /// A body that is not JSON of the operation's shape (AWS: `SerializationException`).
    pub fn serialization(e: impl std::fmt::Display) -> Self {
        Self::client("SerializationException", e.to_string())
    }

    /// A required member that is missing, in AWS's words.
    pub fn required(member: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }
}

/// EventBridge's error code and HTTP status for an error of the shared error model: the
/// one mapping of the HTTP API and the NATS ingress.
pub fn aws_code(e: &Error) -> (StatusCode, &'static str) {
    let client = StatusCode::BAD_REQUEST;
    match e.kind() {
        ErrorKind::InvalidArgument if e.reason() == INVALID_PATTERN => {
            (client, "InvalidEventPatternException")
        }
        ErrorKind::InvalidArgument if e.reason() == ILLEGAL_STATUS => {
            (client, "IllegalStatusException")
        }
        // EventBridge answers "a rule with targets" and the like as invalid requests.
        ErrorKind::InvalidArgument | ErrorKind::FailedPrecondition => {
            (client, "ValidationException")
        }
        ErrorKind::NotFound => (client, "ResourceNotFoundException"),
        ErrorKind::AlreadyExists => (client, "ResourceAlreadyExistsException"),
        ErrorKind::LimitExceeded => (client, "LimitExceededException"),
        ErrorKind::Conflict => (client, "ConcurrentModificationException"),
        ErrorKind::PermissionDenied => (client, "AccessDeniedException"),
        ErrorKind::Unauthenticated => (client, "UnrecognizedClientException"),
        // SDKs retry both: a 503 as a transient failure, InternalException as a fault.
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalException"),
    }
}

impl From<Error> for AwsError {
    fn from(e: Error) -> Self {
        let (status, code) = aws_code(&e);
        Self::new(status, code, e.message())
    }
}

impl From<Status> for AwsError {
    fn from(status: Status) -> Self {
        Error::from_status(&status).into()
    }
}

/// The EventBridge API of one event bus.
#[derive(Debug, Clone)]
pub struct HttpApi {
    api: Arc<EventBusApi>,
    access: Arc<Access>,
    audit: groundwork_kit::audit::Audit,
}

/// The root API the gRPC server serves at `/`.
pub fn root_api(api: EventBusApi, gate: Gate) -> RootApi {
    if gate.access.is_open() {
        tracing::warn!(
            "EventBridge HTTP API: no API token (--insecure): every request is accepted, \
             signed or not, with any signature; sandbox use only"
        );
    }
    let face = HttpApi {
        api: Arc::new(api),
        access: gate.access,
        audit: gate.audit,
    };
    axum::routing::any(move |request: axum::extract::Request| {
        let face = face.clone();
        async move { face.handle(request).await }
    })
}

/// The operation a request names, or why it names none.
fn operation(parts: &http::request::Parts) -> Result<&'static str, AwsError> {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = target.strip_prefix(TARGET_PREFIX).unwrap_or_default();
    OPERATIONS
        .iter()
        .find(|op| **op == name)
        .copied()
        .ok_or_else(|| {
            AwsError::client(
                "UnknownOperationException",
                if target.is_empty() {
                    "Missing X-Amz-Target: EventBridge operations are sent as POST / with X-Amz-Target: AWSEvents.<Operation>.".to_owned()
                } else {
                    format!("Operation '{target}' is not served by this event bus.")
                },
            )
        })
}

impl HttpApi {
    async fn handle(&self, request: axum::extract::Request) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let answer = self.answer(request, &request_id).await;
        let (status, body) = match answer {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => {
                if e.status.is_server_error() {
                    tracing::warn!(code = e.code, message = %e.message, "EventBridge API call failed");
                }
                let body = serde_json::json!({"__type": e.code, "message": e.message});
                (e.status, body.to_string().into_bytes())
            }
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE),
        );
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        response
    }

    async fn answer(
        &self,
        request: axum::extract::Request,
        request_id: &str,
    ) -> Result<Vec<u8>, AwsError> {
        let (parts, body) = request.into_parts();
        if parts.method != http::Method::POST {
            return Err(AwsError::client(
                "UnknownOperationException",
                "EventBridge operations are sent as POST /.",
            ));
        }
        let body = http_body_util::Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|_| {
                AwsError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLargeException",
                    format!("The request is over {MAX_BODY_BYTES} bytes or was cut short."),
                )
            })?
            .to_bytes();
        let role = self
            .access
            .authenticate_http(&parts, &body, SIGNING_NAME, SystemTime::now())
            .map_err(|e| AwsError::client(e.code, e.message))?;
        let operation = operation(&parts)?;
        let path = grpc_path(operation);
        let caller = Caller {
            role,
            subject: groundwork_kit::tls::peer_subject(&parts.extensions),
        };
        if let Err(message) = Access::authorize(role, &path) {
            if role == Role::ReadOnly {
                self.audit.record(api_call(
                    &path,
                    &caller,
                    None,
                    &tonic::Code::PermissionDenied,
                    request_id.to_owned(),
                ));
            }
            return Err(AwsError::client("AccessDeniedException", message));
        }
        let call = Call {
            api: &self.api,
            audit: &self.audit,
            caller,
            path,
            request_id,
        };
        shapes::dispatch(operation, &body, call).await
    }
}

/// One call to a gRPC method on behalf of an HTTP caller.
#[derive(Debug)]
pub struct Call<'a> {
    api: &'a Arc<EventBusApi>,
    audit: &'a groundwork_kit::audit::Audit,
    caller: Caller,
    path: String,
    request_id: &'a str,
}

impl Call<'_> {
    /// Runs `method` with `request` as the caller's, and records it in the audit trail
    /// when it may change something (as the gRPC layer records its own calls).
    pub async fn run<Req, Resp, Fut>(
        self,
        request: Req,
        method: impl FnOnce(Arc<EventBusApi>, tonic::Request<Req>) -> Fut,
    ) -> Result<Resp, AwsError>
    where
        Req: Message,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let audited = !groundwork_kit::auth::is_read_only(&self.path)
            && groundwork_kit::audit::is_audited(&self.path);
        let resource = audited
            .then(|| groundwork_kit::audit::message_resource(&self.path, &request.encode_to_vec()))
            .flatten();
        let mut grpc_request = tonic::Request::new(request);
        grpc_request.extensions_mut().insert(self.caller.clone());
        let result = method(self.api.clone(), grpc_request).await;
        if audited {
            let code = result
                .as_ref()
                .map_or_else(Status::code, |_| tonic::Code::Ok);
            self.audit.record(api_call(
                &self.path,
                &self.caller,
                resource,
                &code,
                self.request_id.to_owned(),
            ));
        }
        Ok(result?.into_inner())
    }

    /// PutEvents, straight into the ingest that gRPC and the NATS ingress share.
    pub async fn put_events(
        self,
        entries: &[groundwork_events::envelope::PutEventsEntry],
    ) -> Result<groundwork_events::envelope::PutEventsResult, AwsError> {
        Ok(self
            .api
            .ingest
            .put_events(entries, Producer::External, None)
            .await?)
    }
}

/// Reads a request body as the operation's input shape. An empty body is an empty object,
/// as the SDKs send for operations without required members.
pub fn read<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(AwsError::serialization)
}

/// Writes an output shape.
pub fn write<T: Serialize>(output: &T) -> Result<Vec<u8>, AwsError> {
    serde_json::to_vec(output).map_err(|e| {
        AwsError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalException",
            format!("cannot write the answer: {e}"),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_a_method_of_the_grpc_service() {
        let set = <prost_types::FileDescriptorSet as Message>::decode(
            groundwork_proto::FILE_DESCRIPTOR_SET,
        )
        .unwrap();
        let methods: Vec<String> = set
            .file
            .iter()
            .flat_map(|f| f.service.iter())
            .filter(|s| s.name() == "EventBus")
            .flat_map(|s| s.method.iter().map(|m| m.name().to_owned()))
            .collect();
        for op in OPERATIONS {
            assert!(methods.iter().any(|m| m == op), "{op} is no gRPC method");
        }
    }

    #[test]
    fn errors_map_to_eventbridge_codes() {
        use crate::error::{invalid_pattern, validation};
        let code = |e: Error| aws_code(&e).1;
        assert_eq!(code(validation("x")), "ValidationException");
        assert_eq!(code(invalid_pattern("x")), "InvalidEventPatternException");
        assert_eq!(
            code(validation("x").with_reason(ILLEGAL_STATUS)),
            "IllegalStatusException"
        );
        assert_eq!(code(Error::not_found("x")), "ResourceNotFoundException");
        assert_eq!(
            code(Error::already_exists("x")),
            "ResourceAlreadyExistsException"
        );
        assert_eq!(code(Error::limit_exceeded("x")), "LimitExceededException");
        assert_eq!(
            code(Error::conflict("x")),
            "ConcurrentModificationException"
        );
        assert_eq!(
            aws_code(&Error::unavailable("x")).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Through a gRPC status and back, as the HTTP face sees the methods' errors.
        let through = AwsError::from(invalid_pattern("Event pattern is not valid.").into_status());
        assert_eq!(through.code, "InvalidEventPatternException");
        assert_eq!(through.message, "Event pattern is not valid.");
    }
}
