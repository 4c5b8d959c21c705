//! Requests that are not valid protobuf (a string field that is not UTF-8, a truncated
//! message) are the caller's mistake: tonic answers them INTERNAL, as gRPC's status-code
//! table suggests for a server's own parse errors, which tells a client to report a server
//! bug or retry. [`InvalidRequests`] wraps the API and answers them INVALID_ARGUMENT with the
//! decoder's reason instead, so the CLI exits 2 and nothing is retried.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::body::Body;

use crate::error::Error;

/// What tonic's prost codec writes before the reason of a decode error.
const DECODE_ERROR: &str = "failed to decode Protobuf message";

/// The API, with undecodable requests answered INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct InvalidRequests<S>(pub S);

impl<S: tonic::server::NamedService> tonic::server::NamedService for InvalidRequests<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for InvalidRequests<S>
where
    S: tower::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = std::convert::Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let answer = self.0.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(match response.extensions().get::<Status>() {
                Some(status)
                    if status.code() == tonic::Code::Internal
                        && status.message().starts_with(DECODE_ERROR) =>
                {
                    let reason =
                        format!("the request is not a valid message: {}", status.message());
                    Status::from(Error::invalid("request", reason)).into_http()
                }
                _ => response,
            })
        })
    }
}
