//! An SNS front for moto that behaves as AWS does with email subscriptions, and the inbox
//! the confirmation message lands in.
//!
//! moto 5 confirms every subscription the moment it is made (moto/sns/models.py,
//! `SNSBackend.subscribe`: `"PendingConfirmation": False`), and its `ConfirmSubscription`
//! checks no token. AWS keeps an email subscription pending, lists it with the ARN
//! `PendingConfirmation`, and emails a link whose token confirms it. So that the
//! orchestrator's wait for a person is exercised for real, this front sits between the
//! alerting service and moto on the wire and, for `email`/`email-json` subscriptions:
//! - `Subscribe`: passes the call to moto, then keeps the subscription pending and puts
//!   "the email" (topic ARN and token) in the inbox;
//! - `ListSubscriptions`/`ListSubscriptionsByTopic`: a pending subscription's ARN reads
//!   `PendingConfirmation`; `GetSubscriptionAttributes`: `PendingConfirmation` is `true`;
//! - `ConfirmSubscription` with the right topic and token (what the email's link calls):
//!   the subscription is confirmed from then on.
//!
//! Every other request goes to moto unchanged. One answer of moto's is re-wrapped: the
//! refusal of a sandbox that enforces IAM (see [`crate::Stack::start_with_iam_user`]) comes
//! in an envelope the AWS SDK for Rust cannot read, and goes on, code and message unchanged,
//! in the envelope AWS uses (see `aws_error_envelope`). The front also records the action of every
//! AWS call it passes on (`Action=` of the query protocols, `X-Amz-Target` of the JSON
//! ones), so that a test can say which calls a run made.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::StartError;

/// A confirmation message "emailed" by SNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub topic_arn: String,
    pub endpoint: String,
    pub subscription_arn: String,
    pub token: String,
}

#[derive(Debug, Default)]
struct State {
    /// Pending subscriptions by ARN.
    pending: BTreeMap<String, Confirmation>,
    /// Subscriptions confirmed through the front.
    confirmed: Vec<String>,
    tokens: u64,
    /// Every call's action, in order.
    calls: Vec<String>,
    /// Added to every call: AWS is slower than moto, and a test that stops a process
    /// between steps needs steps that take a while.
    delay: std::time::Duration,
}

/// The front and its inbox.
#[derive(Debug)]
pub struct Inbox {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

impl Inbox {
    /// Starts the front for the moto at `upstream`.
    pub async fn start(upstream: String) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| StartError(format!("inbox: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("inbox: {e}")))?;
        let state: Arc<Mutex<State>> = Arc::default();
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let client = client.clone();
                let upstream = upstream.clone();
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        answer(request, client.clone(), upstream.clone(), state.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The endpoint to give the service instead of moto's.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The confirmation message sent to `endpoint`, if any is pending.
    pub fn confirmation_for(&self, endpoint: &str) -> Option<Confirmation> {
        let state = self.state.lock().ok()?;
        state
            .pending
            .values()
            .find(|c| c.endpoint == endpoint)
            .cloned()
    }

    /// The actions of the calls passed on so far, in order (`Subscribe`,
    /// `AWSBudgetServiceGateway.CreateBudget`, …).
    pub fn calls(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.calls.clone())
            .unwrap_or_default()
    }

    /// Makes every call take `delay` longer.
    pub fn set_delay(&self, delay: std::time::Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.delay = delay;
        }
    }

    /// How many subscriptions wait for a confirmation.
    pub fn pending(&self) -> usize {
        self.state.lock().map(|s| s.pending.len()).unwrap_or(0)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `application/x-www-form-urlencoded` decoding.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

fn xml(status: u16, body: String) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    response
}

async fn forward(
    parts: &http::request::Parts,
    body: Bytes,
    client: &HttpClient,
    upstream: &str,
) -> Result<(http::response::Parts, String), String> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok((parts, String::from_utf8_lossy(&body).into_owned()))
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
    client: HttpClient,
    upstream: String,
    state: Arc<Mutex<State>>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(xml(400, e.to_string())),
    };
    let params = form(&body);
    let action = params.get("Action").cloned().unwrap_or_default();
    let called = if action.is_empty() {
        parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(unknown)")
            .to_owned()
    } else {
        action.clone()
    };
    let delay = match state.lock() {
        Ok(mut s) => {
            s.calls.push(called);
            s.delay
        }
        Err(_) => std::time::Duration::ZERO,
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let email = |p: &BTreeMap<String, String>| {
        matches!(
            p.get("Protocol").map(String::as_str),
            Some("email" | "email-json")
        )
    };

    if action == "ConfirmSubscription" {
        let topic = params.get("TopicArn").cloned().unwrap_or_default();
        let token = params.get("Token").cloned().unwrap_or_default();
        let confirmed = state.lock().ok().and_then(|mut s| {
            let arn = s
                .pending
                .iter()
                .find(|(_, c)| c.topic_arn == topic && c.token == token)
                .map(|(arn, _)| arn.clone())?;
            s.pending.remove(&arn);
            s.confirmed.push(arn.clone());
            Some(arn)
        });
        return Ok(match confirmed {
            Some(arn) => xml(
                200,
                format!(
                    "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><ConfirmSubscriptionResult><SubscriptionArn>{arn}</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata><RequestId>inbox</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>"
                ),
            ),
            None => xml(
                400,
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid token</Message></Error><RequestId>inbox</RequestId></ErrorResponse>".into(),
            ),
        });
    }

    let json_protocol = parts.headers.contains_key("x-amz-target");
    let (mut head, mut text) = match forward(&parts, body, &client, &upstream).await {
        Ok(r) => r,
        Err(e) => return Ok(xml(502, e)),
    };
    if !head.status.is_success()
        && let Some(rewrapped) = aws_error_envelope(json_protocol, &text)
    {
        text = rewrapped.body;
        head.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(rewrapped.content_type),
        );
        if let Some(code) = rewrapped
            .json_code
            .and_then(|c| http::HeaderValue::from_str(&c).ok())
        {
            head.headers.insert("x-amzn-errortype", code);
        }
    }
    if head.status.is_success() {
        match action.as_str() {
            "Subscribe" if email(&params) => {
                if let (Some(arn), Ok(mut s)) = (
                    between(&text, "<SubscriptionArn>", "</SubscriptionArn>"),
                    state.lock(),
                ) {
                    let arn = arn.to_owned();
                    if !s.confirmed.contains(&arn) && !s.pending.contains_key(&arn) {
                        s.tokens += 1;
                        let token = format!("token-{}-{}", s.tokens, arn.len());
                        s.pending.insert(
                            arn.clone(),
                            Confirmation {
                                topic_arn: params.get("TopicArn").cloned().unwrap_or_default(),
                                endpoint: params.get("Endpoint").cloned().unwrap_or_default(),
                                subscription_arn: arn,
                                token,
                            },
                        );
                    }
                }
            }
            "ListSubscriptions" | "ListSubscriptionsByTopic" => {
                if let Ok(s) = state.lock() {
                    for arn in s.pending.keys() {
                        text = text.replace(
                            &format!("<SubscriptionArn>{arn}</SubscriptionArn>"),
                            "<SubscriptionArn>PendingConfirmation</SubscriptionArn>",
                        );
                    }
                }
            }
            "GetSubscriptionAttributes" => {
                let arn = params.get("SubscriptionArn").cloned().unwrap_or_default();
                let pending = state.lock().is_ok_and(|s| s.pending.contains_key(&arn));
                if pending && let Some(at) = text.find("<key>PendingConfirmation</key>") {
                    let (before, after) = text.split_at(at);
                    let after = after
                        .replacen("<value>false</value>", "<value>true</value>", 1)
                        .replacen("<value>False</value>", "<value>true</value>", 1);
                    text = format!("{before}{after}");
                }
            }
            "DeleteTopic" => {
                // SNS removes a topic's subscriptions with it, pending ones included.
                let topic = params.get("TopicArn").cloned().unwrap_or_default();
                if let Ok(mut s) = state.lock() {
                    s.pending.retain(|_, c| c.topic_arn != topic);
                }
            }
            "Unsubscribe" => {
                let arn = params.get("SubscriptionArn").cloned().unwrap_or_default();
                if let Ok(mut s) = state.lock() {
                    s.pending.remove(&arn);
                }
            }
            _ => {}
        }
    }
    Ok(http::Response::from_parts(
        head,
        Full::new(Bytes::from(text)),
    ))
}

/// An error re-wrapped by [`aws_error_envelope`].
struct Rewrapped {
    body: String,
    content_type: &'static str,
    /// The code, for the `x-amzn-errortype` header of the JSON protocols.
    json_code: Option<String>,
}

/// moto answers a request that IAM authentication or authorization refuses (AccessDenied,
/// InvalidClientTokenId, SignatureDoesNotMatch) in one envelope for every service,
/// `<ErrorResponse><Errors><Error><Code>…`, without an `x-amzn-errortype` header
/// (moto 5: `_RESTError` in moto/core/exceptions.py, returned by `call_action` in
/// moto/core/responses.py). AWS wraps errors of the query protocols (IAM, SNS, CloudWatch)
/// as `<ErrorResponse><Error>…` and those of the JSON protocols (Budgets) as JSON, and the
/// AWS SDK for Rust reads only those: given moto's envelope, it finds no code and reports
/// `Unknown` with an empty message. So that the services meet the failure as AWS sends
/// it, the front re-wraps such an answer in the envelope of the request's protocol. The
/// status, the code and the message stay moto's, unchanged.
fn aws_error_envelope(json_protocol: bool, text: &str) -> Option<Rewrapped> {
    let error = between(text, "<ErrorResponse><Errors><Error>", "</Error></Errors>")?;
    let code = between(error, "<Code>", "</Code>")?;
    let message = between(error, "<Message>", "</Message>").unwrap_or_default();
    Some(if json_protocol {
        let message = message
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&");
        Rewrapped {
            body: serde_json::json!({ "__type": code, "message": message }).to_string(),
            content_type: "application/x-amz-json-1.1",
            json_code: Some(code.to_owned()),
        }
    } else {
        Rewrapped {
            body: format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>inbox</RequestId></ErrorResponse>"
            ),
            content_type: "text/xml",
            json_code: None,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_decoded() {
        let f = form(b"Action=Subscribe&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At&Endpoint=ops%40example.com&X=a+b");
        assert_eq!(f["Action"], "Subscribe");
        assert_eq!(f["TopicArn"], "arn:aws:sns:us-east-1:1:t");
        assert_eq!(f["Endpoint"], "ops@example.com");
        assert_eq!(f["X"], "a b");
    }

    #[test]
    fn motos_auth_errors_are_rewrapped_as_aws_sends_them() {
        let moto = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/u is not authorized to perform: budgets:DescribeBudget &amp; more</Message><Type>Sender</Type></Error></Errors></ErrorResponse>";
        let query = aws_error_envelope(false, moto).unwrap();
        assert_eq!(
            query.body,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/u is not authorized to perform: budgets:DescribeBudget &amp; more</Message></Error><RequestId>inbox</RequestId></ErrorResponse>"
        );
        assert_eq!(query.json_code, None);
        let json = aws_error_envelope(true, moto).unwrap();
        let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(body["__type"], "AccessDenied");
        assert_eq!(
            body["message"],
            "User: arn:aws:iam::123456789012:user/u is not authorized to perform: budgets:DescribeBudget & more"
        );
        assert_eq!(json.json_code.as_deref(), Some("AccessDenied"));
        // AWS-shaped errors, moto's own service errors included, pass unchanged.
        assert!(
            aws_error_envelope(
                false,
                "<ErrorResponse><Error><Code>NoSuchEntity</Code></Error></ErrorResponse>"
            )
            .is_none()
        );
    }
}
