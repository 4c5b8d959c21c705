//! A running identity service for tests: a real moto_server (sandbox AWS), a real
//! nats-server, and the service in-process on a free port.
//!
//! moto 5.2.5 never answers GetCallerIdentity with a root ARN (moto/sts/models.py,
//! `get_caller_identity`: an assumed role, an IAM user, or `arn:aws:sts::<account>:user/moto`).
//! To test the root guard through the AWS boundary, [`RootSts`] sits in front of moto on
//! the wire: it answers STS GetCallerIdentity with `arn:aws:iam::<account>:root`, as STS
//! does for root credentials, and passes every other request to moto unchanged.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;

use async_nats::jetstream;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use groundwork_cloud::{AwsSettings, config};
use groundwork_identity::Settings;
use groundwork_kit::Shutdown;
use groundwork_proto::v1::identity_client::IdentityClient;
use groundwork_testkit::{MotoServer, NatsServer};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub use groundwork_testkit::grpc::{API_TOKEN, Channel};

/// A channel to `addr` that sends [`API_TOKEN`] with every call.
pub async fn channel(addr: SocketAddr) -> Channel {
    groundwork_testkit::grpc::channel(addr).await.unwrap()
}

pub const ACCOUNT: &str = "123456789012";

/// SDK configuration for `endpoint` with the test credentials.
pub async fn sdk_for(endpoint: &str) -> SdkConfig {
    config::load(&AwsSettings::sandbox(endpoint))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build()
}

#[derive(Debug)]
pub struct Stack {
    pub moto: MotoServer,
    pub nats: NatsServer,
    pub root_sts: Option<RootSts>,
    pub bus: groundwork_eventbus::Embedded,
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), groundwork_identity::Error>>,
}

impl Stack {
    /// The service with ordinary (IAM user) credentials.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// The service with credentials STS says are the account's root user's.
    pub async fn start_as_root() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(root: bool) -> Self {
        let moto = MotoServer::start().expect("moto_server must be installed");
        let nats = NatsServer::start().expect("nats-server must be installed");
        let root_sts = if root {
            Some(RootSts::start(moto.endpoint()).await)
        } else {
            None
        };
        let endpoint = root_sts
            .as_ref()
            .map_or_else(|| moto.endpoint(), RootSts::endpoint);
        let sdk = sdk_for(&endpoint).await;
        // The service emits its events through the event bus.
        let bus = groundwork_eventbus::start(
            groundwork_eventbus::Settings::on(nats.settings_for("eventbus")),
            Shutdown::new(),
        )
        .await
        .unwrap();
        let mut settings = Settings::on(nats.settings_for("identity"));
        settings.common.nats_timeout_ms = 1500;
        settings.common.api_token = Some(API_TOKEN.into());
        let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = groundwork_identity::connect(&settings).await.unwrap();
        let shutdown = Shutdown::new();
        let task = tokio::spawn(groundwork_identity::serve(
            settings,
            groundwork_identity::Deps {
                aws: sdk,
                nats: client,
            },
            listener,
            shutdown.clone(),
        ));
        let stack = Self {
            moto,
            nats,
            root_sts,
            bus,
            addr,
            shutdown,
            task,
        };
        stack.wait_ready().await;
        stack
    }

    /// Waits until the gRPC port answers health checks (polling with a deadline).
    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            if let Ok(channel) =
                tonic::transport::Channel::from_shared(format!("http://{}", self.addr))
                    .unwrap()
                    .connect()
                    .await
            {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                if health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the identity service did not start");
    }

    pub async fn client(&self) -> IdentityClient<Channel> {
        IdentityClient::new(channel(self.addr).await)
    }

    /// An IAM client straight to moto, to look at what the service did.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&sdk_for(&self.moto.endpoint()).await)
    }

    /// Every event of the service stored on the `default` bus, in order (the audit trail's
    /// API calls left out: they are tested on their own, in the e2e crate).
    pub async fn events(&self) -> Vec<serde_json::Value> {
        let mut events = self.all_events().await;
        events.retain(|e| e["source"] != "groundwork.audit");
        events
    }

    /// Every event stored on the `default` bus, the audit trail's included.
    pub async fn all_events(&self) -> Vec<serde_json::Value> {
        let js = jetstream::new(self.nats.admin().await.unwrap());
        groundwork_testkit::events::stored(&js, "EVENTS_default")
            .await
            .unwrap()
    }

    /// The detail types of the stored events, in order.
    pub async fn detail_types(&self) -> Vec<String> {
        self.events()
            .await
            .iter()
            .map(|e| e["detail-type"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.task.await;
    }
}

/// Two consecutive TOTP codes for `seed` (RFC 6238: SHA-1, 30 s steps, 6 digits), computed
/// as an authenticator app does after scanning the QR code.
pub fn two_consecutive_codes(base32_seed: &str) -> (String, String) {
    let secret = totp_rs::Secret::Encoded(base32_seed.to_owned())
        .to_bytes()
        .unwrap();
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (totp.generate(now), totp.generate(now + 30))
}

/// Asserts a gRPC error's code and that its message names `field`.
pub fn assert_invalid(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.expect_err("the call should have been refused");
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains(field),
        "the message should name {field}: {}",
        status.message()
    );
}

/// An STS in front of moto that says the caller is root (see the module doc).
#[derive(Debug)]
pub struct RootSts {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RootSts {
    pub async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let client = client.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        answer(request, client.clone(), upstream.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RootSts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    if body
        .windows(b"Action=GetCallerIdentity".len())
        .any(|w| w == b"Action=GetCallerIdentity")
    {
        let xml = format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT}:root</Arn>\
             <UserId>{ACCOUNT}</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>root-sts</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        );
        return Ok(http::Response::builder()
            .status(200)
            .header("content-type", "text/xml")
            .body(Full::new(Bytes::from(xml)))
            .unwrap());
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = http::Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    let response = client
        .request(forward.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    Ok(http::Response::from_parts(parts, Full::new(body)))
}
