//! The audit trail of the gRPC APIs, like CloudTrail: every call that may change something
//! (every method not on [`crate::auth::READ_ONLY_METHODS`]) by an authenticated caller
//! becomes one [`ApiCall`] — who (role, or client-certificate subject), which service and
//! RPC, which resource the request names, the outcome, the request id — handed to an
//! [`AuditSink`] (groundwork-bus publishes it as the `Groundwork API Call` event).
//!
//! Never a secret or a request body: the resource is read from the request by the
//! protos' descriptor set, and only from a field whose name is on [`RESOURCE_FIELDS`]
//! (names, not endpoints, documents, patterns or codes). Calls refused as unauthenticated
//! are not recorded (anyone could flood the bus with them); a read-only caller refused
//! with PERMISSION_DENIED is. PutEvents is not recorded either ([`UNAUDITED_METHODS`]).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use prost::Message;

/// One audited call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// The role, or the client certificate's subject and the role (`CN=ci (operator)`).
    pub caller: String,
    /// `operator`, `read-only` or `anonymous` (an `--insecure` server).
    pub role: String,
    /// The gRPC service, e.g. `groundwork.v1.Identity`.
    pub service: String,
    /// The method, e.g. `EnsureAdmin`.
    pub rpc: String,
    /// What the request names (a user, a rule, a budget…), when it names one.
    pub resource: Option<String>,
    /// `OK`, or the gRPC status code the call ended with (e.g. `INVALID_ARGUMENT`).
    pub outcome: String,
    /// The `x-request-id` the client sent, or one made for the call; echoed in the
    /// response's `x-request-id` header.
    pub request_id: String,
}

/// Where audited calls go. `record` must not block: it is called on the request path.
pub trait AuditSink: Send + Sync + std::fmt::Debug + 'static {
    fn record(&self, call: ApiCall);
}

/// The sink of a server that keeps no audit trail (tests of kit itself, embedding).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _call: ApiCall) {}
}

/// A shared sink.
pub type Audit = Arc<dyn AuditSink>;

/// The request fields that name a resource, in order of preference: the first one a
/// request has (at its top level, else one level down) is its resource.
pub const RESOURCE_FIELDS: &[&str] = &[
    "name",
    "user_name",
    "rule",
    "budget_name",
    "alarm_name",
    "topic",
    "archive_name",
    "replay_name",
    "policy_name",
    "group_name",
    "resume_run_id",
    "event_bus_name",
    "resource_arn",
];

/// The singular string field `name` of `m`.
fn string_field<'a>(
    m: &'a prost_types::DescriptorProto,
    name: &str,
) -> Option<&'a prost_types::FieldDescriptorProto> {
    m.field.iter().find(|f| {
        f.name() == name
            && f.r#type() == prost_types::field_descriptor_proto::Type::String
            && f.label() != prost_types::field_descriptor_proto::Label::Repeated
    })
}

/// Calls that change something but are not recorded: they carry data, not changes of
/// configuration (CloudTrail's "data events", off by default), and recording each would
/// double the bus's own traffic. PutEvents' events are on the bus themselves.
pub const UNAUDITED_METHODS: &[&str] = &["/groundwork.v1.EventBus/PutEvents"];

/// Whether a call to `path` that may change something is recorded.
pub fn is_audited(path: &str) -> bool {
    !UNAUDITED_METHODS.contains(&path)
}

/// The longest resource recorded; longer ones are cut.
const MAX_RESOURCE: usize = 256;

/// What the audit needs of one method: the field numbers leading to its resource field,
/// and whether the request streams (then it is not read).
#[derive(Debug, Clone, Default)]
struct MethodInfo {
    resource: Option<Vec<u32>>,
    client_streaming: bool,
}

/// Every method of the Groundwork protos, by path.
static METHODS: LazyLock<HashMap<String, MethodInfo>> =
    LazyLock::new(|| methods(groundwork_proto::FILE_DESCRIPTOR_SET).unwrap_or_default());

fn methods(set: &[u8]) -> Result<HashMap<String, MethodInfo>, prost::DecodeError> {
    let set = prost_types::FileDescriptorSet::decode(set)?;
    let mut messages: HashMap<String, &prost_types::DescriptorProto> = HashMap::new();
    for file in &set.file {
        for m in &file.message_type {
            messages.insert(format!(".{}.{}", file.package(), m.name()), m);
        }
    }
    let resource_of = |m: &prost_types::DescriptorProto| -> Option<Vec<u32>> {
        for name in RESOURCE_FIELDS {
            if let Some(f) = string_field(m, name) {
                return Some(vec![u32::try_from(f.number()).ok()?]);
            }
        }
        // One level down (e.g. EnsureBudget's `budget.budget_name`), singular messages only.
        for f in &m.field {
            if f.r#type() != prost_types::field_descriptor_proto::Type::Message
                || f.label() == prost_types::field_descriptor_proto::Label::Repeated
            {
                continue;
            }
            let Some(inner) = messages.get(f.type_name()) else {
                continue;
            };
            for name in RESOURCE_FIELDS {
                if let Some(g) = string_field(inner, name) {
                    return Some(vec![
                        u32::try_from(f.number()).ok()?,
                        u32::try_from(g.number()).ok()?,
                    ]);
                }
            }
        }
        None
    };
    let mut out = HashMap::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                let resource = messages
                    .get(method.input_type())
                    .and_then(|m| resource_of(m));
                out.insert(
                    path,
                    MethodInfo {
                        resource,
                        client_streaming: method.client_streaming(),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// Whether the request of `path` is read for its resource (a single message whose type
/// names one).
pub(crate) fn reads_resource(path: &str) -> bool {
    METHODS
        .get(path)
        .is_some_and(|m| m.resource.is_some() && !m.client_streaming)
}

/// The resource a gRPC request body (5-byte frame header, then the message) names.
pub(crate) fn resource(path: &str, body: &[u8]) -> Option<String> {
    // The gRPC frame: compressed flag, 4-byte length, the message.
    let (&compressed, rest) = body.split_first()?;
    if compressed != 0 || rest.len() < 4 {
        return None;
    }
    let (len, rest) = rest.split_at(4);
    let len = usize::try_from(u32::from_be_bytes([len[0], len[1], len[2], len[3]])).ok()?;
    message_resource(path, rest.get(..len)?)
}

/// The resource a request message of method `path` names (the message itself, unframed).
pub fn message_resource(path: &str, mut message: &[u8]) -> Option<String> {
    let fields = METHODS.get(path)?.resource.as_ref()?;
    for (depth, number) in fields.iter().enumerate() {
        let value = length_delimited_field(message, *number)?;
        if depth + 1 == fields.len() {
            let text = std::str::from_utf8(value).ok()?;
            if text.is_empty() {
                return None;
            }
            return Some(text.chars().take(MAX_RESOURCE).collect());
        }
        message = value;
    }
    None
}

/// The last occurrence of length-delimited field `number` in a protobuf message (the last
/// wins, as protobuf merges), or `None`.
fn length_delimited_field(mut bytes: &[u8], number: u32) -> Option<&[u8]> {
    let mut found = None;
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let value = bytes.get(..len)?;
                if field == u64::from(number) {
                    found = Some(value);
                }
                bytes = &bytes[len..];
            }
            5 => bytes = bytes.get(4..)?,
            _ => return None,
        }
    }
    found
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// `/package.Service/Method` as (`package.Service`, `Method`).
pub(crate) fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.rsplit_once('/') {
        Some((service, rpc)) => (service.to_owned(), rpc.to_owned()),
        None => (String::new(), trimmed.to_owned()),
    }
}

/// The name of a gRPC status code as the audit trail writes it (`INVALID_ARGUMENT`).
pub fn outcome_name(code: tonic::Code) -> String {
    if code == tonic::Code::Ok {
        return "OK".into();
    }
    let words = format!("{code:?}");
    let mut out = String::new();
    for (i, c) in words.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn framed(message: &impl Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut out = vec![0];
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
        out.extend(bytes);
        out
    }

    #[test]
    fn the_resource_is_the_named_field_and_never_a_document_or_secret() {
        use groundwork_proto::v1 as pb;
        let ensure = pb::EnsureAdminRequest {
            user_name: "admin".into(),
            group_name: "Admins".into(),
            ..Default::default()
        };
        let path = "/groundwork.v1.Identity/EnsureAdmin";
        assert_eq!(resource(path, &framed(&ensure)).as_deref(), Some("admin"));

        let budget = pb::EnsureBudgetRequest {
            budget: Some(pb::BudgetDefinition {
                budget_name: "monthly".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let path = "/groundwork.v1.Budget/EnsureBudget";
        assert_eq!(resource(path, &framed(&budget)).as_deref(), Some("monthly"));

        let codes = pb::CompleteMfaEnrollmentRequest {
            user_name: "admin".into(),
            serial_number: "arn:aws:iam::1:mfa/admin".into(),
            authentication_code_1: "123456".into(),
            authentication_code_2: "654321".into(),
        };
        let path = "/groundwork.v1.Identity/CompleteMfaEnrollment";
        assert_eq!(resource(path, &framed(&codes)).as_deref(), Some("admin"));

        // Requests that carry only documents or bodies name no resource.
        for path in [
            "/groundwork.v1.Orchestrator/DestroySpec",
            "/groundwork.v1.Alerting/ImportAlarmConfigJson",
            "/groundwork.v1.Alerting/SendTestNotification",
            "/groundwork.v1.Budget/ImportAwsCliJson",
            "/groundwork.v1.EventBus/PutEvents",
        ] {
            assert!(!reads_resource(path), "{path}");
        }
        assert!(reads_resource("/groundwork.v1.EventBus/PutRule"));
        assert_eq!(resource("/groundwork.v1.EventBus/PutRule", b"\0\0\0"), None);
    }

    #[test]
    fn outcomes_are_named_as_grpc_names_them() {
        assert_eq!(outcome_name(tonic::Code::Ok), "OK");
        assert_eq!(
            outcome_name(tonic::Code::InvalidArgument),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            outcome_name(tonic::Code::PermissionDenied),
            "PERMISSION_DENIED"
        );
        assert_eq!(
            split_path("/groundwork.v1.Identity/EnsureAdmin"),
            ("groundwork.v1.Identity".into(), "EnsureAdmin".into())
        );
    }
}
