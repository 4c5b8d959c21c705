//! Bearer-token authentication for every gRPC call: with a token configured, a call
//! without `authorization: Bearer <token>` gets UNAUTHENTICATED. Health checks stay open
//! so that orchestrators (docker compose, Kubernetes) can probe without the secret.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

/// Paths that never need the token.
const OPEN_PREFIXES: &[&str] = &["/grpc.health.v1.Health/"];

/// Whether the call at `path` only reads: health, reflection, and the RPCs whose name
/// says they read. Everything else changes something and is audited.
pub fn is_read_only(path: &str) -> bool {
    const READ_VERBS: &[&str] = &[
        "Get", "List", "Describe", "Watch", "Tail", "Plan", "Validate", "Test", "Check", "Audit",
        "Draw",
    ];
    if path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.") {
        return true;
    }
    let rpc = path.rsplit('/').next().unwrap_or_default();
    READ_VERBS.iter().any(|verb| rpc.starts_with(verb))
}

/// A tower layer that checks the bearer token; a `None` token lets everything through.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    token: Option<Arc<str>>,
}

impl AuthLayer {
    pub fn new(token: Option<String>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            token: self.token.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    token: Option<Arc<str>>,
}

impl<S, B, ResBody> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Who the caller is travels back with the answer, for the audit trail outside.
        let caller = |who: &str| crate::audit::Caller(who.to_owned());
        match check(self.token.as_deref(), &request) {
            Ok(()) => {
                let who = if self.token.is_some() {
                    caller("operator")
                } else {
                    caller("anyone (no API token configured)")
                };
                let answered = self.inner.call(request);
                Box::pin(async move {
                    let mut response = answered.await?;
                    response.extensions_mut().insert(who);
                    Ok(response)
                })
            }
            Err(status) => {
                let mut refused = status.into_http();
                refused.extensions_mut().insert(caller("unauthenticated"));
                Box::pin(futures::future::ready(Ok(refused)))
            }
        }
    }
}

fn check<B>(token: Option<&str>, request: &http::Request<B>) -> Result<(), tonic::Status> {
    let Some(expected) = token else {
        return Ok(());
    };
    let path = request.uri().path();
    if OPEN_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Ok(());
    }
    let given = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(tonic::Status::unauthenticated(
            "the API token does not match; set GROUNDWORK_API_TOKEN to the server's token",
        )),
        None => Err(tonic::Status::unauthenticated(
            "this server requires an API token: send `authorization: Bearer <token>` \
             (the CLI reads it from GROUNDWORK_API_TOKEN)",
        )),
    }
}

/// Compares without an early exit, so the time taken does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    #[test]
    fn without_a_token_everything_passes() {
        assert!(check(None, &request("/groundwork.v1.EventBus/PutEvents", None)).is_ok());
    }

    #[test]
    fn with_a_token_calls_need_it_except_health() {
        let t = Some("s3cret");
        let path = "/groundwork.v1.EventBus/PutEvents";
        assert_eq!(
            check(t, &request(path, None)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(check(t, &request(path, Some("Bearer wrong"))).is_err());
        assert!(check(t, &request(path, Some("s3cret"))).is_err());
        assert!(check(t, &request(path, Some("Bearer s3cret"))).is_ok());
        assert!(check(t, &request("/grpc.health.v1.Health/Check", None)).is_ok());
    }

    #[test]
    fn the_error_message_never_contains_the_token() {
        let err = check(Some("s3cret"), &request("/x/y", Some("Bearer nope"))).unwrap_err();
        assert!(!err.message().contains("s3cret"));
    }
}
