//! The permission matrix: every RPC of every service, listed from the protos' descriptor
//! set (so a new RPC is in the matrix the day it is added), called on the whole stack as
//! `groundwork up` runs it (operator and read-only tokens, TLS):
//!
//! - no token, a wrong token, or the right token sent the wrong way (another scheme or
//!   case, extra spaces, another header) → UNAUTHENTICATED;
//! - the read-only token → PERMISSION_DENIED on every method that is not on kit's
//!   read-only list, anything else on those that are;
//! - the operator token → never UNAUTHENTICATED or PERMISSION_DENIED;
//! - path tricks (`//…`, `/grpc.health.v1.Health/../…`, `…/ListRules/../PutRule`) are
//!   refused before any handler; the health checks stay open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use groundwork_e2e::{Channel, Stack};
use groundwork_kit::auth::{OPEN_METHODS, is_read_only};
use prost::Message;
use tonic::Code;

/// One RPC as the descriptor set declares it.
#[derive(Debug, Clone)]
struct Method {
    /// `/package.Service/Method`.
    path: String,
    service: String,
    name: String,
    client_streaming: bool,
    server_streaming: bool,
}

fn methods(set: &[u8]) -> Vec<Method> {
    let set = prost_types::FileDescriptorSet::decode(set).unwrap();
    let mut out = Vec::new();
    for file in set.file {
        for service in &file.service {
            for m in &service.method {
                out.push(Method {
                    path: format!("/{}.{}/{}", file.package(), service.name(), m.name()),
                    service: format!("{}.{}", file.package(), service.name()),
                    name: m.name().to_owned(),
                    client_streaming: m.client_streaming(),
                    server_streaming: m.server_streaming(),
                });
            }
        }
    }
    out
}

/// Every method each server serves: its own API, reflection and health.
fn served(stack: &Stack) -> Vec<(SocketAddr, Method)> {
    let own = methods(groundwork_proto::FILE_DESCRIPTOR_SET);
    let shared: Vec<Method> = methods(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .into_iter()
        .chain(methods(tonic_health::pb::FILE_DESCRIPTOR_SET))
        .collect();
    let servers = [
        ("groundwork.v1.EventBus", stack.eventbus),
        ("groundwork.v1.Identity", stack.identity),
        ("groundwork.v1.Budget", stack.budget),
        ("groundwork.v1.Alerting", stack.alerting),
        ("groundwork.v1.Orchestrator", stack.orchestrator),
    ];
    for m in &own {
        assert!(
            servers.iter().any(|(s, _)| *s == m.service),
            "{} belongs to no server of the stack: add it to this test's servers",
            m.service
        );
    }
    let mut all = Vec::new();
    for (service, addr) in servers {
        for m in own.iter().filter(|m| m.service == service).chain(&shared) {
            all.push((addr, m.clone()));
        }
    }
    all
}

/// Calls `path` on `channel` with an empty request and the given `authorization` header
/// (or `header` named otherwise); returns the status code (OK when the call was accepted).
async fn call(
    channel: &Channel,
    path: &str,
    method: &Method,
    header: Option<(&str, &str)>,
) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    if let Err(e) = grpc.ready().await {
        panic!("{path}: channel not ready: {e}");
    }
    let path = http::uri::PathAndQuery::try_from(path).unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    fn with_header<T>(
        mut request: tonic::Request<T>,
        header: Option<(&str, &str)>,
    ) -> tonic::Request<T> {
        if let Some((name, value)) = header {
            let name = tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()).unwrap();
            request.metadata_mut().insert(name, value.parse().unwrap());
        }
        request
    }
    let result = match (method.client_streaming, method.server_streaming) {
        (false, false) => grpc
            .unary(with_header(tonic::Request::new(()), header), path, codec)
            .await
            .map(drop),
        (false, true) => grpc
            .server_streaming(with_header(tonic::Request::new(()), header), path, codec)
            .await
            .map(drop),
        (true, _) => grpc
            .streaming(
                with_header(tonic::Request::new(futures::stream::iter([()])), header),
                path,
                codec,
            )
            .await
            .map(drop),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// [`call`] with a deadline: a call that is let in may take its time (a tail streams),
/// which is no refusal.
async fn code(
    channel: &Channel,
    path: &str,
    method: &Method,
    header: Option<(&str, &str)>,
) -> Code {
    tokio::time::timeout(Duration::from_secs(30), call(channel, path, method, header))
        .await
        .unwrap_or(Code::DeadlineExceeded)
}

fn is_open(m: &Method) -> bool {
    OPEN_METHODS.contains(&m.path.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_of_every_service_admits_exactly_its_roles() {
    let stack = Stack::start().await.unwrap();
    let operator = format!("Bearer {}", stack.security.api_token);
    let read_only = format!("Bearer {}", stack.security.read_only_token);
    let all = served(&stack);
    assert!(all.len() >= 58 + 5 * 3, "{} methods", all.len());

    // A name that says it changes something is never on the read-only list.
    for (_, m) in &all {
        let mutating_verb = [
            "Put", "Delete", "Ensure", "Create", "Remove", "Start", "Cancel", "Redrive", "Enable",
            "Disable", "Apply", "Destroy", "Import", "Send", "Complete",
        ]
        .iter()
        .any(|v| m.name.starts_with(v));
        assert!(
            !(mutating_verb && is_read_only(&m.path)),
            "{} changes state but is on the read-only list",
            m.path
        );
    }

    let unauthenticated_headers: Vec<(String, String)> = {
        let token = &stack.security.api_token;
        vec![
            ("authorization".into(), "Bearer wrong-token".into()),
            ("authorization".into(), format!("bearer {token}")),
            ("authorization".into(), format!("BEARER {token}")),
            ("authorization".into(), format!("Bearer  {token}")),
            ("authorization".into(), format!("Bearer {token} ")),
            ("authorization".into(), format!(" Bearer {token}")),
            ("authorization".into(), format!("Bearer\t{token}")),
            ("authorization".into(), token.clone()),
            ("authorization".into(), format!("Basic {token}")),
            ("authorization".into(), format!("Bearer {token}x")),
            (
                "authorization".into(),
                format!("Bearer {}", &token[..token.len() - 1]),
            ),
            ("authorization".into(), "Bearer ".into()),
            ("x-api-token".into(), token.clone()),
            ("x-authorization".into(), format!("Bearer {token}")),
            ("grpc-authorization".into(), format!("Bearer {token}")),
        ]
    };

    let mut checked = 0;
    for (addr, m) in &all {
        let channel = stack.channel_with(*addr, None).await.unwrap();
        let path = m.path.as_str();
        if is_open(m) {
            let got = code(&channel, path, m, None).await;
            assert!(
                !matches!(got, Code::Unauthenticated | Code::PermissionDenied),
                "{path} on {addr} must stay open, got {got:?}"
            );
            continue;
        }
        // No token, a wrong one, or the right one sent the wrong way.
        assert_eq!(
            code(&channel, path, m, None).await,
            Code::Unauthenticated,
            "{path} on {addr} without a token"
        );
        for (name, value) in &unauthenticated_headers {
            assert_eq!(
                code(&channel, path, m, Some((name, value))).await,
                Code::Unauthenticated,
                "{path} on {addr} with {name}: <{} characters>",
                value.len()
            );
        }
        // Path tricks around the open health checks and the read-only methods.
        for tricked in [
            format!("/{path}"),
            format!("/grpc.health.v1.Health/..{path}"),
            format!("/grpc.health.v1.Health/Check/../..{path}"),
            format!("{path}/"),
        ] {
            assert_eq!(
                code(&channel, &tricked, m, None).await,
                Code::Unauthenticated,
                "{tricked} on {addr} without a token"
            );
        }
        if !is_read_only(path) {
            for tricked in [
                format!("/groundwork.v1.EventBus/ListRules/..{path}"),
                format!("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo/../..{path}"),
                format!("/{path}"),
            ] {
                assert_eq!(
                    code(&channel, &tricked, m, Some(("authorization", &read_only))).await,
                    Code::PermissionDenied,
                    "{tricked} on {addr} with the read-only token"
                );
            }
        }
        // The read-only token: exactly the read-only list.
        let got = code(&channel, path, m, Some(("authorization", &read_only))).await;
        if is_read_only(path) {
            assert!(
                !matches!(got, Code::Unauthenticated | Code::PermissionDenied),
                "{path} on {addr} changes nothing and must admit the read-only token, got {got:?}"
            );
        } else {
            assert_eq!(
                got,
                Code::PermissionDenied,
                "{path} on {addr} changes state and must refuse the read-only token"
            );
        }
        checked += 1;
    }

    // The operator token: everything (last, since these calls may change the stack).
    for (addr, m) in &all {
        if is_open(m) {
            continue;
        }
        let channel = stack.channel_with(*addr, None).await.unwrap();
        let got = code(&channel, &m.path, m, Some(("authorization", &operator))).await;
        assert!(
            !matches!(got, Code::Unauthenticated | Code::PermissionDenied),
            "{} on {addr} must admit the operator token, got {got:?}",
            m.path
        );
    }
    assert!(checked >= 58, "only {checked} methods checked");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_and_only_the_local_ca_is_trusted() {
    let stack = Stack::start().await.unwrap();
    // A plaintext client does not get an answer from a TLS server.
    let plain = groundwork_kit::client::Target::new(
        format!("http://{}", stack.eventbus),
        Some(stack.security.api_token.clone()),
        "test",
    )
    .with_timeout(Duration::from_secs(5));
    let refused = match groundwork_kit::client::connect(&plain, "event bus").await {
        Err(_) => true,
        Ok(channel) => groundwork_proto::v1::event_bus_client::EventBusClient::new(channel)
            .list_event_buses(groundwork_proto::v1::ListEventBusesRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a plaintext call must not be answered");

    // A client that trusts another CA refuses the server's certificate.
    let other = tempfile::tempdir().unwrap();
    let other_ca = groundwork_kit::tls::generate_local(other.path()).unwrap();
    let target = groundwork_kit::client::Target::new(
        format!("https://{}", stack.eventbus),
        Some(stack.security.api_token.clone()),
        "test",
    )
    .with_tls(Some(other_ca.client().unwrap()));
    assert!(
        groundwork_kit::client::connect(&target, "event bus")
            .await
            .is_err(),
        "a server certificate of another CA must be refused"
    );

    // With the local CA, the same call works.
    groundwork_proto::v1::event_bus_client::EventBusClient::new(
        stack.channel(stack.eventbus).await,
    )
    .list_event_buses(groundwork_proto::v1::ListEventBusesRequest::default())
    .await
    .unwrap();
    stack.stop().await;
}
