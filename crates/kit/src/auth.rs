//! Who may call what, for every gRPC call of every service.
//!
//! Two roles, each with its own bearer token (`authorization: Bearer <token>`):
//! - **operator**: every call.
//! - **read-only**: only the calls listed in [`READ_ONLY_METHODS`], which change nothing
//!   (health, list, describe, get, plan, audit, tail, test-pattern, reflection).
//!
//! Every other path is mutating: a method that is not in the list needs the operator token,
//! so a new RPC is safe until someone decides, in this one list, that it only reads.
//! A missing or unknown token gets UNAUTHENTICATED, the read-only token on a mutating call
//! PERMISSION_DENIED. Health checks stay open so that orchestrators (docker compose,
//! Kubernetes) can probe without the secret. Tokens are compared in constant time
//! (`subtle`). The caller ([`Caller`]: its role, and the subject of its client certificate
//! under mutual TLS) goes into the request's extensions for the audit trail.

use std::sync::Arc;
use std::task::{Context, Poll};

use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use crate::audit::{ApiCall, Audit};

/// The exact paths that need no token: the health checks.
pub const OPEN_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// Paths whose service authenticates its callers itself, with the same tokens
/// ([`Access::authenticate_http`]): the event bus's EventBridge HTTP API at `/`
/// ([`crate::grpc::serve_api_with_root`]). The gRPC check passes them on without a
/// [`Caller`]; on servers with no root API they reach gRPC's "unimplemented".
pub const SELF_AUTHENTICATED_PATHS: &[&str] = &["/"];

/// The access key id of AWS SigV4-signed requests for the operator role: its secret access
/// key is an operator token.
pub const OPERATOR_ACCESS_KEY_ID: &str = "operator";
/// The access key id for the read-only role; its secret access key is a read-only token.
pub const READ_ONLY_ACCESS_KEY_ID: &str = "read-only";

/// Why an HTTP caller was refused, with AWS's error code for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HttpAuthError {
    /// `MissingAuthenticationTokenException`, `UnrecognizedClientException`,
    /// `IncompleteSignatureException`, `InvalidSignatureException` or
    /// `AccessDeniedException`.
    pub code: &'static str,
    pub message: String,
}

impl From<crate::sigv4::SigV4Error> for HttpAuthError {
    fn from(e: crate::sigv4::SigV4Error) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// The exact paths that change nothing, which the read-only token may call. Anything else
/// is mutating and needs the operator token.
pub const READ_ONLY_METHODS: &[&str] = &[
    // event bus
    "/groundwork.v1.EventBus/TailEvents",
    "/groundwork.v1.EventBus/ListEventBuses",
    "/groundwork.v1.EventBus/DescribeEventBus",
    "/groundwork.v1.EventBus/DescribeRule",
    "/groundwork.v1.EventBus/ListRules",
    "/groundwork.v1.EventBus/ListRuleNamesByTarget",
    "/groundwork.v1.EventBus/ListTargetsByRule",
    "/groundwork.v1.EventBus/TestEventPattern",
    "/groundwork.v1.EventBus/DescribeArchive",
    "/groundwork.v1.EventBus/ListArchives",
    "/groundwork.v1.EventBus/DescribeReplay",
    "/groundwork.v1.EventBus/ListReplays",
    "/groundwork.v1.EventBus/ListTagsForResource",
    "/groundwork.v1.EventBus/ListDeadLetters",
    // identity
    "/groundwork.v1.Identity/AuditAccount",
    "/groundwork.v1.Identity/DescribeGuardrails",
    "/groundwork.v1.Identity/DescribeAdmin",
    "/groundwork.v1.Identity/CheckPolicies",
    "/groundwork.v1.Identity/DescribeBillingAccess",
    "/groundwork.v1.Identity/DescribeGuardrailResources",
    // budget
    "/groundwork.v1.Budget/GetBudget",
    "/groundwork.v1.Budget/ListBudgets",
    "/groundwork.v1.Budget/ListBudgetActions",
    "/groundwork.v1.Budget/DescribeAccountPlan",
    // alerting
    "/groundwork.v1.Alerting/ListSubscriptions",
    "/groundwork.v1.Alerting/DescribeBillingAlerts",
    // orchestrator
    "/groundwork.v1.Orchestrator/ValidateSpec",
    "/groundwork.v1.Orchestrator/PlanSpec",
    "/groundwork.v1.Orchestrator/WatchRun",
    "/groundwork.v1.Orchestrator/GetRun",
    "/groundwork.v1.Orchestrator/ListRuns",
    "/groundwork.v1.Orchestrator/DrawDiagram",
    // reflection describes the APIs and nothing else
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];

/// Whether `path` (`/package.Service/Method`) changes nothing: exact match only.
pub fn is_read_only(path: &str) -> bool {
    READ_ONLY_METHODS.contains(&path)
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every call.
    Operator,
    /// Only calls that change nothing.
    ReadOnly,
    /// No token was configured and the server runs with `--insecure`: every call.
    Anonymous,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::ReadOnly => "read-only",
            Role::Anonymous => "anonymous",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a call, in the request's extensions (`request.extensions().get::<Caller>()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    /// The subject of the client certificate (mutual TLS), e.g. `CN=ci,O=example`.
    pub subject: Option<String>,
}

impl Caller {
    /// The caller as the audit trail names it: the certificate subject, else the role.
    pub fn name(&self) -> String {
        match &self.subject {
            Some(subject) => format!("{} ({})", subject, self.role),
            None => self.role.as_str().to_owned(),
        }
    }
}

/// A token whose `Debug` prints nothing.
#[derive(Clone)]
struct Token(Arc<[u8]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The tokens a server accepts. Several per role may be accepted at once (one per line of
/// a token file), so that a token can be rotated without refusing anyone in between.
#[derive(Debug, Clone, Default)]
pub struct Access {
    operator: Vec<Token>,
    read_only: Vec<Token>,
}

impl Access {
    /// Empty tokens are ignored; an operator token also given as read-only stays operator.
    pub fn new<I, J, S, T>(operator: I, read_only: J) -> Self
    where
        I: IntoIterator<Item = S>,
        J: IntoIterator<Item = T>,
        S: AsRef<str>,
        T: AsRef<str>,
    {
        let tokens = |all: Vec<String>| -> Vec<Token> {
            all.into_iter()
                .filter(|t| !t.is_empty())
                .map(|t| Token(Arc::from(t.into_bytes())))
                .collect()
        };
        Self {
            operator: tokens(
                operator
                    .into_iter()
                    .map(|t| t.as_ref().to_owned())
                    .collect(),
            ),
            read_only: tokens(
                read_only
                    .into_iter()
                    .map(|t| t.as_ref().to_owned())
                    .collect(),
            ),
        }
    }

    /// No operator token: only an `--insecure` server runs like this.
    pub fn is_open(&self) -> bool {
        self.operator.is_empty()
    }

    /// The role of `given`, comparing with every accepted token in constant time (no early
    /// exit, so the time taken says nothing about which or how much matched).
    fn role_of(&self, given: &[u8]) -> Option<Role> {
        let matches = |tokens: &[Token]| {
            tokens
                .iter()
                .fold(subtle::Choice::from(0), |found, t| found | t.0.ct_eq(given))
        };
        let operator = matches(&self.operator);
        let read_only = matches(&self.read_only);
        if bool::from(operator) {
            Some(Role::Operator)
        } else if bool::from(read_only) {
            Some(Role::ReadOnly)
        } else {
            None
        }
    }

    /// The role of an HTTP request served beside gRPC: `Authorization: Bearer <token>` as
    /// gRPC, or AWS Signature Version 4 (the AWS CLI and SDKs) with access key id
    /// [`OPERATOR_ACCESS_KEY_ID`] or [`READ_ONLY_ACCESS_KEY_ID`] and one of that role's
    /// tokens as the secret access key, scoped to `service`. Every token of the role is
    /// tried, so rotation works as for bearer tokens. A server without an operator token
    /// (`--insecure`) takes any request, signed or not, as [`Role::Anonymous`].
    pub fn authenticate_http(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        service: &str,
        now: std::time::SystemTime,
    ) -> Result<Role, HttpAuthError> {
        if self.is_open() {
            return Ok(Role::Anonymous);
        }
        let refuse = |code, message: &str| HttpAuthError {
            code,
            message: message.to_owned(),
        };
        let Some(header) = parts.headers.get(http::header::AUTHORIZATION) else {
            return Err(refuse(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token: sign the request with AWS Signature Version 4 \
                 (access key id `operator`, the API token as secret access key) or send \
                 `Authorization: Bearer <token>`.",
            ));
        };
        let header = header.as_bytes();
        if !crate::sigv4::is_sigv4(header) {
            return header
                .strip_prefix(b"Bearer ")
                .and_then(|token| self.role_of(token))
                .ok_or_else(|| {
                    refuse(
                        "UnrecognizedClientException",
                        "The security token included in the request is invalid: the bearer \
                         token matches none of the server's API tokens.",
                    )
                });
        }
        let text = std::str::from_utf8(header).map_err(|_| {
            refuse(
                "IncompleteSignatureException",
                "The Authorization header is not text.",
            )
        })?;
        let auth = crate::sigv4::parse(text)?;
        if auth.service != service {
            return Err(refuse(
                "InvalidSignatureException",
                &format!("Credential should be scoped to correct service: '{service}'."),
            ));
        }
        let (role, tokens) = match auth.access_key_id.as_str() {
            OPERATOR_ACCESS_KEY_ID => (Role::Operator, &self.operator),
            READ_ONLY_ACCESS_KEY_ID => (Role::ReadOnly, &self.read_only),
            _ => {
                return Err(refuse(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid: the access key \
                     id must be `operator` or `read-only`, with that role's API token as the \
                     secret access key.",
                ));
            }
        };
        let string_to_sign = crate::sigv4::string_to_sign(&auth, parts, body, now)?;
        let signed = tokens.iter().fold(subtle::Choice::from(0), |found, t| {
            found
                | subtle::Choice::from(u8::from(crate::sigv4::verify(&auth, &string_to_sign, &t.0)))
        });
        if bool::from(signed) {
            Ok(role)
        } else {
            Err(refuse(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you \
                 provided. Check your AWS Secret Access Key (the API token of the role) and \
                 signing method.",
            ))
        }
    }

    /// Whether `role` may call `path`: the read-only role only the methods that change
    /// nothing. The refusal says so.
    pub fn authorize(role: Role, path: &str) -> Result<(), String> {
        if role == Role::ReadOnly && !is_read_only(path) {
            return Err(format!(
                "{path} changes state and needs the operator role; the read-only token may \
                 only call methods that change nothing"
            ));
        }
        Ok(())
    }

    /// Decides one call to `path` with the `authorization` header `header`.
    pub fn decide(&self, path: &str, header: Option<&[u8]>) -> Result<Role, tonic::Status> {
        if self.is_open() {
            return Ok(Role::Anonymous);
        }
        // Exactly `Bearer <token>`: no other scheme, case or spacing.
        let given = header.and_then(|h| h.strip_prefix(b"Bearer "));
        let role = match given {
            None => {
                return Err(tonic::Status::unauthenticated(
                    "this server requires an API token: send `authorization: Bearer <token>` \
                     (the CLI reads it from GROUNDWORK_API_TOKEN, or from \
                     .groundwork/secrets/api-token where `groundwork up` ran)",
                ));
            }
            Some(given) => self.role_of(given).ok_or_else(|| {
                tonic::Status::unauthenticated(
                    "the API token does not match; set GROUNDWORK_API_TOKEN to one of the \
                     server's tokens",
                )
            })?,
        };
        Self::authorize(role, path).map_err(tonic::Status::permission_denied)?;
        Ok(role)
    }
}

/// A tower layer that checks every call against [`Access`] and records the calls that may
/// change something in the audit trail ([`crate::audit`]).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    access: Arc<Access>,
    audit: Audit,
}

impl AuthLayer {
    pub fn new(access: Access, audit: Audit) -> Self {
        Self {
            access: Arc::new(access),
            audit,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            access: self.access.clone(),
            audit: self.audit.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    access: Arc<Access>,
    audit: Audit,
}

/// The largest request read whole for the audit trail: tonic's own limit on a decoded
/// message (4 MiB), so nothing that would be served is refused here.
const MAX_AUDITED_REQUEST: usize = 4 * 1024 * 1024 + 5;

/// The header carrying a call's request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

type Body = tonic::body::Body;

impl<S> Service<http::Request<Body>> for AuthService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let caller = match check(&self.access, &request) {
            Ok(Some(caller)) => caller,
            Ok(None) => return Box::pin(self.inner.call(request)),
            Err(status) => {
                if status.code() == tonic::Code::PermissionDenied {
                    // Only a read-only caller is refused this way: authenticated, so recorded.
                    let caller = Caller {
                        role: Role::ReadOnly,
                        subject: crate::tls::peer_subject(request.extensions()),
                    };
                    let id = request_id(&request);
                    self.audit
                        .record(api_call(&path, &caller, None, &status.code(), id));
                }
                return Box::pin(futures::future::ready(Ok(status.into_http())));
            }
        };
        request.extensions_mut().insert(caller.clone());
        if is_read_only(&path) || !crate::audit::is_audited(&path) {
            return Box::pin(self.inner.call(request));
        }
        // A call that may change something: recorded once it is answered. The service
        // that was polled ready takes the call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let audit = self.audit.clone();
        let id = request_id(&request);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let (body, resource) = if crate::audit::reads_resource(&path) {
                use http_body_util::BodyExt;
                match http_body_util::Limited::new(body, MAX_AUDITED_REQUEST)
                    .collect()
                    .await
                {
                    Ok(collected) => {
                        let bytes = collected.to_bytes();
                        let resource = crate::audit::resource(&path, &bytes);
                        (Body::new(http_body_util::Full::new(bytes)), resource)
                    }
                    Err(_) => {
                        let status = tonic::Status::resource_exhausted(
                            "the request could not be read whole (over 4 MiB, or cut short)",
                        );
                        audit.record(api_call(&path, &caller, None, &status.code(), id));
                        return Ok(status.into_http());
                    }
                }
            } else {
                (body, None)
            };
            let mut response = inner.call(http::Request::from_parts(parts, body)).await?;
            // An error answer carries its status in the headers (trailers-only); an
            // answer that started is OK here (a stream's own end is not waited for).
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok())
                .map_or(tonic::Code::Ok, tonic::Code::from);
            if let Ok(value) = http::HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            audit.record(api_call(&path, &caller, resource, &code, id));
            Ok(response)
        })
    }
}

/// The request id the client sent (if it is a sane one), or a new one.
fn request_id<B>(request: &http::Request<B>) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// The audit record of one call to `path` (gRPC, or another API served beside it under the
/// same method names) that ended with `code`.
pub fn api_call(
    path: &str,
    caller: &Caller,
    resource: Option<String>,
    code: &tonic::Code,
    request_id: String,
) -> ApiCall {
    let (service, rpc) = crate::audit::split_path(path);
    ApiCall {
        caller: caller.name(),
        role: caller.role.as_str().to_owned(),
        service,
        rpc,
        resource,
        outcome: crate::audit::outcome_name(*code),
        request_id,
    }
}

/// The caller of `request`, `None` for the open health checks, or the refusal.
fn check<B>(access: &Access, request: &http::Request<B>) -> Result<Option<Caller>, tonic::Status> {
    let path = request.uri().path();
    if OPEN_METHODS.contains(&path) || SELF_AUTHENTICATED_PATHS.contains(&path) {
        return Ok(None);
    }
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(http::HeaderValue::as_bytes);
    let role = access.decide(path, header)?;
    Ok(Some(Caller {
        role,
        subject: crate::tls::peer_subject(request.extensions()),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(path: &str, auth: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder().uri(format!("http://x{path}"));
        if let Some(a) = auth {
            builder = builder.header("authorization", a);
        }
        builder.body(()).unwrap()
    }

    fn access() -> Access {
        Access::new(["op-1", "op-2"], ["ro"])
    }

    fn code(access: &Access, path: &str, auth: Option<&str>) -> Option<tonic::Code> {
        check(access, &request(path, auth)).err().map(|s| s.code())
    }

    const PUT: &str = "/groundwork.v1.EventBus/PutEvents";
    const LIST: &str = "/groundwork.v1.EventBus/ListRules";

    #[test]
    fn without_an_operator_token_everything_passes_as_anonymous() {
        let open = Access::new(Vec::<String>::new(), ["ro"]);
        let caller = check(&open, &request(PUT, None)).unwrap().unwrap();
        assert_eq!(caller.role, Role::Anonymous);
    }

    #[test]
    fn each_role_gets_what_it_may_and_nothing_more() {
        let a = access();
        use tonic::Code::{PermissionDenied, Unauthenticated};
        assert_eq!(code(&a, PUT, None), Some(Unauthenticated));
        assert_eq!(code(&a, PUT, Some("Bearer wrong")), Some(Unauthenticated));
        assert_eq!(code(&a, PUT, Some("op-1")), Some(Unauthenticated));
        assert_eq!(code(&a, PUT, Some("bearer op-1")), Some(Unauthenticated));
        assert_eq!(code(&a, PUT, Some("Bearer  op-1")), Some(Unauthenticated));
        assert_eq!(code(&a, PUT, Some("Bearer op-1 ")), Some(Unauthenticated));
        assert_eq!(code(&a, PUT, Some("Bearer op-")), Some(Unauthenticated));
        assert_eq!(
            code(&a, PUT, Some("Bearer op-1op-2")),
            Some(Unauthenticated)
        );
        assert_eq!(code(&a, PUT, Some("Bearer op-1")), None);
        assert_eq!(
            code(&a, PUT, Some("Bearer op-2")),
            None,
            "both operator tokens"
        );
        assert_eq!(code(&a, PUT, Some("Bearer ro")), Some(PermissionDenied));
        assert_eq!(code(&a, LIST, Some("Bearer ro")), None);
        assert_eq!(code(&a, LIST, Some("Bearer op-1")), None);
        assert_eq!(code(&a, "/grpc.health.v1.Health/Check", None), None);
        let caller = check(&a, &request(PUT, Some("Bearer op-1")))
            .unwrap()
            .unwrap();
        assert_eq!((caller.role, caller.subject), (Role::Operator, None));
    }

    #[test]
    fn paths_match_exactly() {
        let a = access();
        use tonic::Code::{PermissionDenied, Unauthenticated};
        for path in [
            "/grpc.health.v1.Health/../groundwork.v1.EventBus/PutEvents",
            "/grpc.health.v1.Health/Check/../../groundwork.v1.EventBus/PutEvents",
            "/grpc.health.v1.Health/Checks",
            "//grpc.health.v1.Health/Check",
        ] {
            assert_eq!(code(&a, path, None), Some(Unauthenticated), "{path}");
        }
        for path in [
            "/groundwork.v1.EventBus/ListRules/../PutEvents",
            "//groundwork.v1.EventBus/ListRules",
            "/groundwork.v1.EventBus/ListRules/",
            "/groundwork.v1.EventBus/listrules",
        ] {
            assert_eq!(
                code(&a, path, Some("Bearer ro")),
                Some(PermissionDenied),
                "{path}"
            );
        }
    }

    #[test]
    fn the_refusals_never_contain_a_token() {
        let a = access();
        for auth in ["Bearer nope", "Bearer ro"] {
            let err = check(&a, &request(PUT, Some(auth))).unwrap_err();
            for t in ["op-1", "op-2", "nope"] {
                assert!(!err.message().contains(t), "{}", err.message());
            }
        }
        let err = check(&a, &request(PUT, Some("Bearer ro"))).unwrap_err();
        assert!(err.message().contains("operator role"), "{}", err.message());
        assert!(!format!("{a:?}").contains("op-1"));
    }

    #[test]
    fn every_read_only_method_exists_in_the_protos() {
        use prost::Message;
        let mut known: Vec<String> = Vec::new();
        for set in [
            groundwork_proto::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        ] {
            let set = prost_types::FileDescriptorSet::decode(set).unwrap();
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        known.push(format!(
                            "/{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        for path in READ_ONLY_METHODS {
            assert!(
                known.iter().any(|k| k == path),
                "{path} is no RPC of any proto"
            );
        }
        assert!(known.len() > READ_ONLY_METHODS.len());
    }
}
