//! The AWS stand-in: what moto does not serve, in front of moto.
//!
//! moto has neither the Free Tier API nor AWS Budgets' actions. The stand-in is a small
//! HTTP server that answers those calls itself and passes every other request to moto
//! unchanged, so it can be the endpoint of those two services
//! (`AWS_ENDPOINT_URL_FREETIER`, `AWS_ENDPOINT_URL_BUDGETS`) or of everything
//! (`AWS_ENDPOINT_URL`):
//!
//! - the Free Tier API (AWS JSON 1.0, `X-Amz-Target: AWSFreeTierService.*`):
//!   `GetAccountPlanState` answers the configured [`AccountPlan`] (the Free plan with
//!   100 USD by default, or the Paid plan), `ListAccountActivities` and
//!   `GetAccountActivity` the Free plan's five sign-up activities;
//! - AWS Budgets' actions (AWS JSON 1.1, `X-Amz-Target: AWSBudgetServiceGateway.*`):
//!   `CreateBudgetAction`, `DescribeBudgetActionsForBudget`, `DescribeBudgetAction`,
//!   `UpdateBudgetAction`, `DeleteBudgetAction`, `ExecuteBudgetAction`, kept in memory
//!   and checked as AWS checks them (the budget must exist: moto is asked with
//!   `DescribeBudget`; field names, enum values and errors as in the service model).
//!
//! Requests are not authenticated (moto does not either). The same server runs in tests
//! ([`AwsStandIn::start`], on its own thread) and as the `groundwork-aws-standin`
//! binary that `groundwork up` starts beside moto_server.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

use crate::process::TestkitError;

/// The account the stand-in answers for: moto's default account.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// What `GetAccountPlanState` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPlan {
    pub account_id: String,
    /// `FREE` or `PAID`.
    pub plan_type: String,
    /// `NOT_STARTED`, `ACTIVE` or `EXPIRED`.
    pub status: String,
    /// Left out of the answer when `None` (the Paid plan).
    pub remaining_credits: Option<f64>,
    /// RFC 3339; left out when `None`.
    pub expiration_date: Option<String>,
}

impl AccountPlan {
    /// A Free plan account with `credits` USD left, closing at `expires` (RFC 3339).
    pub fn free(credits: f64, expires: &str) -> Self {
        Self {
            account_id: DEFAULT_ACCOUNT.into(),
            plan_type: "FREE".into(),
            status: "ACTIVE".into(),
            remaining_credits: Some(credits),
            expiration_date: Some(expires.into()),
        }
    }

    /// A Free plan account opened now: 100 USD of credits, closing in six months
    /// (183 days) unless upgraded.
    pub fn new_account() -> Self {
        let closes = time::OffsetDateTime::now_utc() + time::Duration::days(183);
        Self::free(100.0, &rfc3339(closes))
    }

    /// An account on the Paid plan.
    pub fn paid() -> Self {
        Self {
            account_id: DEFAULT_ACCOUNT.into(),
            plan_type: "PAID".into(),
            status: "ACTIVE".into(),
            remaining_credits: None,
            expiration_date: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "accountId": self.account_id,
            "accountPlanType": self.plan_type,
            "accountPlanStatus": self.status,
        });
        if let Some(amount) = self.remaining_credits {
            out["accountPlanRemainingCredits"] = json!({ "amount": amount, "unit": "USD" });
        }
        if let Some(date) = &self.expiration_date {
            out["accountPlanExpirationDate"] = json!(date);
        }
        out
    }
}

/// A time as RFC 3339, seconds precision (`2026-06-03T09:00:00Z`).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Debug)]
struct State {
    plan: AccountPlan,
    /// Budget actions by (account, budget), in creation order.
    actions: BTreeMap<(String, String), Vec<Value>>,
    /// The `X-Amz-Target` of every call, in order.
    calls: Vec<String>,
}

type Shared = Arc<Mutex<State>>;
type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The stand-in on its own thread and runtime, stopped on drop.
#[derive(Debug)]
pub struct AwsStandIn {
    addr: SocketAddr,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AwsStandIn {
    /// Starts the stand-in on a free port of 127.0.0.1 in front of the AWS endpoint
    /// `upstream` (moto's, e.g. [`crate::MotoServer::endpoint`]).
    pub fn start(upstream: &str, plan: AccountPlan) -> Result<Self, TestkitError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = new_state(plan);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = state.clone();
        let upstream = upstream.to_owned();
        let thread = std::thread::Builder::new()
            .name("aws-standin".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    serve(listener, upstream, shared, async {
                        let _ = stopped.await;
                    })
                    .await;
                });
            })?;
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give the SDK instead of moto's.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `GetAccountPlanState` answers from now on.
    pub fn set_plan(&self, plan: AccountPlan) {
        lock(&self.state).plan = plan;
    }

    pub fn plan(&self) -> AccountPlan {
        lock(&self.state).plan.clone()
    }

    /// The `X-Amz-Target` of every JSON call received so far (answered or passed on).
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// The budget actions held for a budget, as `DescribeBudgetAction` shows them.
    pub fn budget_actions(&self, account: &str, budget: &str) -> Vec<Value> {
        lock(&self.state)
            .actions
            .get(&(account.to_owned(), budget.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for AwsStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn new_state(plan: AccountPlan) -> Shared {
    Arc::new(Mutex::new(State {
        plan,
        actions: BTreeMap::new(),
        calls: Vec::new(),
    }))
}

/// Serves the stand-in on `listener` until `shutdown` completes: the binary's loop.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    upstream: String,
    plan: AccountPlan,
    shutdown: impl Future<Output = ()>,
) {
    serve(listener, upstream, new_state(plan), shutdown).await;
}

async fn serve(
    listener: tokio::net::TcpListener,
    upstream: String,
    state: Shared,
    shutdown: impl Future<Output = ()>,
) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let upstream = upstream.trim_end_matches('/').to_owned();
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "aws stand-in: accept failed");
                    continue;
                }
            },
        };
        let client = client.clone();
        let upstream = upstream.clone();
        let state = state.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                answer(request, client.clone(), upstream.clone(), state.clone())
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    connections.abort_all();
}

/// An AWS JSON answer.
fn json_response(status: u16, content_type: &'static str, body: &Value) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

type Response = http::Response<Full<Bytes>>;

const JSON_10: &str = "application/x-amz-json-1.0";
const JSON_11: &str = "application/x-amz-json-1.1";

/// An AWS JSON error: the code in `__type` and `x-amzn-ErrorType`, as AWS sends it.
#[derive(Debug)]
struct Fault {
    content_type: &'static str,
    status: u16,
    code: &'static str,
    message: String,
}

fn aws_error(content_type: &'static str, status: u16, code: &'static str, message: &str) -> Fault {
    Fault {
        content_type,
        status,
        code,
        message: message.to_owned(),
    }
}

impl Fault {
    fn response(self) -> Response {
        let key = if self.content_type == JSON_10 {
            "message"
        } else {
            "Message"
        };
        let mut response = json_response(
            self.status,
            self.content_type,
            &json!({ "__type": self.code, key: self.message }),
        );
        response.headers_mut().insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static(self.code),
        );
        response
    }
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
    client: HttpClient,
    upstream: String,
    state: Shared,
) -> Result<Response, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(
                aws_error(JSON_11, 400, "SerializationException", &e.to_string()).response(),
            );
        }
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !target.is_empty() {
        lock(&state).calls.push(target.clone());
    }
    if let Some(operation) = target.strip_prefix("AWSFreeTierService.") {
        let input: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
        return Ok(free_tier(operation, &input, &state));
    }
    if let Some(operation) = target.strip_prefix("AWSBudgetServiceGateway.")
        && budgets::OPERATIONS.contains(&operation)
    {
        let input: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return Ok(
                    aws_error(JSON_11, 400, "SerializationException", &e.to_string()).response(),
                );
            }
        };
        let exists = |account: String, budget: String| {
            budget_exists(&client, &upstream, &parts, account, budget)
        };
        return Ok(budgets::answer(operation, &input, &state, exists).await);
    }
    Ok(forward(&parts, body, &client, &upstream)
        .await
        .unwrap_or_else(|e| aws_error(JSON_11, 502, "InternalErrorException", &e).response()))
}

/// Passes a request to moto as it came, and moto's answer back as it is.
async fn forward(
    parts: &http::request::Parts,
    body: Bytes,
    client: &HttpClient,
    upstream: &str,
) -> Result<Response, String> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    // The length is the body's own (hyper writes it): a request made here has another body.
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("the AWS endpoint behind the stand-in ({upstream}): {e}"))?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(http::Response::from_parts(parts, Full::new(body)))
}

/// Whether moto holds the budget: `DescribeBudget`, with the caller's own headers (its
/// credentials) and target rewritten. `Err` carries an AWS error to answer with.
async fn budget_exists(
    client: &HttpClient,
    upstream: &str,
    parts: &http::request::Parts,
    account: String,
    budget: String,
) -> Result<bool, Fault> {
    let mut describe = parts.clone();
    describe.headers.insert(
        "x-amz-target",
        http::HeaderValue::from_static("AWSBudgetServiceGateway.DescribeBudget"),
    );
    // The original signature covered another body; moto does not check it.
    let body = json!({ "AccountId": account, "BudgetName": budget }).to_string();
    let response = forward(&describe, Bytes::from(body), client, upstream)
        .await
        .map_err(|e| aws_error(JSON_11, 502, "InternalErrorException", &e))?;
    if response.status().is_success() {
        return Ok(true);
    }
    let body = response.into_body().collect().await.map_or_else(
        |_| Value::Null,
        |b| serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
    );
    let code = body["__type"].as_str().unwrap_or_default();
    if code.ends_with("NotFoundException") {
        return Ok(false);
    }
    Err(aws_error(
        JSON_11,
        500,
        "InternalErrorException",
        &format!("DescribeBudget behind the stand-in failed: {body}"),
    ))
}

/// The Free Tier API.
fn free_tier(operation: &str, input: &Value, state: &Shared) -> Response {
    match operation {
        "GetAccountPlanState" => json_response(200, JSON_10, &lock(state).plan.to_json()),
        "ListAccountActivities" => {
            let wanted: Vec<&str> = input["filterActivityStatuses"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let activities: Vec<Value> = ACTIVITIES
                .iter()
                .filter(|_| wanted.is_empty() || wanted.contains(&"NOT_STARTED"))
                .map(|a| {
                    json!({
                        "activityId": a.id,
                        "title": a.title,
                        "reward": { "credit": { "amount": 20.0, "unit": "USD" } },
                        "status": "NOT_STARTED",
                    })
                })
                .collect();
            json_response(200, JSON_10, &json!({ "activities": activities }))
        }
        "GetAccountActivity" => {
            let id = input["activityId"].as_str().unwrap_or_default();
            match ACTIVITIES.iter().find(|a| a.id == id) {
                Some(a) => json_response(
                    200,
                    JSON_10,
                    &json!({
                        "activityId": a.id,
                        "title": a.title,
                        "description": a.description,
                        "status": "NOT_STARTED",
                        "instructionsUrl": "https://console.aws.amazon.com/costmanagement/home#/free-tier",
                        "reward": { "credit": { "amount": 20.0, "unit": "USD" } },
                        "estimatedTimeToCompleteInMinutes": 10,
                    }),
                ),
                None => aws_error(
                    JSON_10,
                    400,
                    "ResourceNotFoundException",
                    &format!("Activity {id} not found"),
                )
                .response(),
            }
        }
        other => aws_error(
            JSON_10,
            400,
            "UnknownOperationException",
            &format!("the stand-in does not serve AWSFreeTierService.{other}"),
        )
        .response(),
    }
}

struct Activity {
    id: &'static str,
    title: &'static str,
    description: &'static str,
}

/// The Free plan's sign-up activities, 20 USD of credits each.
const ACTIVITIES: &[Activity] = &[
    Activity {
        id: "ec2-launch-instance",
        title: "Launch an instance using EC2",
        description: "Launch an Amazon EC2 instance and stop or terminate it.",
    },
    Activity {
        id: "budgets-create-budget",
        title: "Set up a cost budget using AWS Budgets",
        description: "Create a cost budget with an alert.",
    },
    Activity {
        id: "lambda-create-function",
        title: "Create a web app using AWS Lambda",
        description: "Create a Lambda function with a function URL.",
    },
    Activity {
        id: "bedrock-playground",
        title: "Use a foundation model in the Amazon Bedrock playground",
        description: "Send a prompt to a foundation model in the playground.",
    },
    Activity {
        id: "rds-create-database",
        title: "Create an Aurora or RDS database",
        description: "Create a database with Amazon Aurora or Amazon RDS.",
    },
];

/// AWS Budgets' actions, held in memory.
mod budgets {
    use super::*;

    pub const OPERATIONS: &[&str] = &[
        "CreateBudgetAction",
        "DescribeBudgetActionsForBudget",
        "DescribeBudgetAction",
        "UpdateBudgetAction",
        "DeleteBudgetAction",
        "ExecuteBudgetAction",
    ];

    fn invalid(message: impl AsRef<str>) -> Fault {
        aws_error(JSON_11, 400, "InvalidParameterException", message.as_ref())
    }

    fn not_found(message: impl AsRef<str>) -> Fault {
        aws_error(JSON_11, 400, "NotFoundException", message.as_ref())
    }

    fn text<'a>(input: &'a Value, field: &str) -> Result<&'a str, Fault> {
        match input.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                Err(invalid(format!("{field} is required")))
            }
            Some(_) => Err(invalid(format!("{field} must be a string"))),
        }
    }

    fn one_of<'a>(input: &'a Value, field: &str, values: &[&str]) -> Result<&'a str, Fault> {
        let v = text(input, field)?;
        if values.contains(&v) {
            Ok(v)
        } else {
            Err(invalid(format!(
                "{field} '{v}' is not one of {}",
                values.join(", ")
            )))
        }
    }

    fn account(input: &Value) -> Result<String, Fault> {
        let id = text(input, "AccountId")?;
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!("AccountId '{id}' must be 12 digits")));
        }
        Ok(id.to_owned())
    }

    fn threshold(input: &Value) -> Result<Value, Fault> {
        let t = input
            .get("ActionThreshold")
            .filter(|t| t.is_object())
            .ok_or_else(|| invalid("ActionThreshold is required"))?;
        let value = t["ActionThresholdValue"]
            .as_f64()
            .ok_or_else(|| invalid("ActionThreshold.ActionThresholdValue is required"))?;
        let kind = one_of(t, "ActionThresholdType", &["PERCENTAGE", "ABSOLUTE_VALUE"])?;
        if !(0.0..=40_000_000_000.0).contains(&value) {
            return Err(invalid(
                "ActionThreshold.ActionThresholdValue must be between 0 and 40000000000",
            ));
        }
        Ok(json!({ "ActionThresholdValue": value, "ActionThresholdType": kind }))
    }

    fn names(definition: &Value, field: &str) -> Result<Option<Vec<String>>, Fault> {
        match definition.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => {
                if items.is_empty() || items.len() > 100 {
                    return Err(invalid(format!("{field} must hold 1 to 100 items")));
                }
                items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| invalid(format!("{field} holds strings")))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            Some(_) => Err(invalid(format!("{field} must be a list"))),
        }
    }

    /// The definition that goes with `action_type`, checked.
    fn definition(input: &Value, action_type: &str) -> Result<Value, Fault> {
        let d = input
            .get("Definition")
            .filter(|d| d.is_object())
            .ok_or_else(|| invalid("Definition is required"))?;
        let member = match action_type {
            "APPLY_IAM_POLICY" => "IamActionDefinition",
            "APPLY_SCP_POLICY" => "ScpActionDefinition",
            _ => "SsmActionDefinition",
        };
        let m = d.get(member).filter(|m| m.is_object()).ok_or_else(|| {
            invalid(format!(
                "ActionType {action_type} needs Definition.{member}"
            ))
        })?;
        let out = match member {
            "IamActionDefinition" => {
                let arn = text(m, "PolicyArn")?;
                if !arn.starts_with("arn:aws") || !arn.contains(":policy/") {
                    return Err(invalid(format!("PolicyArn '{arn}' is not a policy ARN")));
                }
                let (roles, groups, users) =
                    (names(m, "Roles")?, names(m, "Groups")?, names(m, "Users")?);
                if roles.is_none() && groups.is_none() && users.is_none() {
                    return Err(invalid(
                        "IamActionDefinition needs at least one of Roles, Groups or Users",
                    ));
                }
                let mut out = json!({ "PolicyArn": arn });
                for (k, v) in [("Roles", roles), ("Groups", groups), ("Users", users)] {
                    if let Some(v) = v {
                        out[k] = json!(v);
                    }
                }
                out
            }
            "ScpActionDefinition" => {
                let policy = text(m, "PolicyId")?;
                let targets = names(m, "TargetIds")?
                    .ok_or_else(|| invalid("ScpActionDefinition.TargetIds is required"))?;
                json!({ "PolicyId": policy, "TargetIds": targets })
            }
            _ => {
                let sub = one_of(
                    m,
                    "ActionSubType",
                    &["STOP_EC2_INSTANCES", "STOP_RDS_INSTANCES"],
                )?;
                let region = text(m, "Region")?;
                let ids = names(m, "InstanceIds")?
                    .ok_or_else(|| invalid("SsmActionDefinition.InstanceIds is required"))?;
                json!({ "ActionSubType": sub, "Region": region, "InstanceIds": ids })
            }
        };
        Ok(json!({ member: out }))
    }

    fn role_arn(input: &Value) -> Result<String, Fault> {
        let arn = text(input, "ExecutionRoleArn")?;
        let ok = arn.starts_with("arn:aws")
            && arn.split(':').nth(2) == Some("iam")
            && arn.split(':').nth(4).is_some_and(|a| a.len() == 12)
            && arn
                .split(':')
                .nth(5)
                .is_some_and(|r| r.starts_with("role/"))
            && (32..=618).contains(&arn.len());
        if !ok {
            return Err(invalid(format!(
                "ExecutionRoleArn '{arn}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
            )));
        }
        Ok(arn.to_owned())
    }

    fn subscribers(input: &Value) -> Result<Value, Fault> {
        let list = input
            .get("Subscribers")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("Subscribers is required"))?;
        if list.is_empty() || list.len() > 11 {
            return Err(invalid("Subscribers must hold 1 to 11 subscribers"));
        }
        list.iter()
            .map(|s| {
                let kind = one_of(s, "SubscriptionType", &["SNS", "EMAIL"])?;
                let address = text(s, "Address")?;
                Ok(json!({ "SubscriptionType": kind, "Address": address }))
            })
            .collect::<Result<Vec<_>, Fault>>()
            .map(Value::Array)
    }

    const ACTION_TYPES: &[&str] = &["APPLY_IAM_POLICY", "APPLY_SCP_POLICY", "RUN_SSM_DOCUMENTS"];
    const NOTIFICATION_TYPES: &[&str] = &["ACTUAL", "FORECASTED"];
    const APPROVAL_MODELS: &[&str] = &["AUTOMATIC", "MANUAL"];

    /// Answers one of [`OPERATIONS`]; `exists` asks moto whether a budget exists.
    pub async fn answer<F, Fut>(
        operation: &str,
        input: &Value,
        state: &Shared,
        exists: F,
    ) -> Response
    where
        F: Fn(String, String) -> Fut,
        Fut: Future<Output = Result<bool, Fault>>,
    {
        match handle(operation, input, state, exists).await {
            Ok(body) => json_response(200, JSON_11, &body),
            Err(e) => e.response(),
        }
    }

    async fn handle<F, Fut>(
        operation: &str,
        input: &Value,
        state: &Shared,
        exists: F,
    ) -> Result<Value, Fault>
    where
        F: Fn(String, String) -> Fut,
        Fut: Future<Output = Result<bool, Fault>>,
    {
        let account = account(input)?;
        let budget = text(input, "BudgetName")?.to_owned();
        if !exists(account.clone(), budget.clone()).await? {
            return Err(not_found(format!(
                "Unable to get budget: {budget} - the budget doesn't exist."
            )));
        }
        let key = (account.clone(), budget.clone());
        let head = json!({ "AccountId": account, "BudgetName": budget });
        let with = |mut v: Value, extra: Value| {
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };
        match operation {
            "CreateBudgetAction" => {
                let action_type = one_of(input, "ActionType", ACTION_TYPES)?;
                let action = json!({
                    "ActionId": uuid(),
                    "BudgetName": budget,
                    "NotificationType": one_of(input, "NotificationType", NOTIFICATION_TYPES)?,
                    "ActionType": action_type,
                    "ActionThreshold": threshold(input)?,
                    "Definition": definition(input, action_type)?,
                    "ExecutionRoleArn": role_arn(input)?,
                    "ApprovalModel": one_of(input, "ApprovalModel", APPROVAL_MODELS)?,
                    "Status": "STANDBY",
                    "Subscribers": subscribers(input)?,
                });
                let id = action["ActionId"].clone();
                let mut s = lock(state);
                let held = s.actions.entry(key).or_default();
                if held.len() >= 10 {
                    return Err(aws_error(
                        JSON_11,
                        400,
                        "CreationLimitExceededException",
                        "You've reached the limit of 10 actions per budget.",
                    ));
                }
                held.push(action);
                Ok(with(head, json!({ "ActionId": id })))
            }
            "DescribeBudgetActionsForBudget" => {
                let max = input["MaxResults"].as_u64().unwrap_or(100);
                if !(1..=100).contains(&max) {
                    return Err(invalid("MaxResults must be between 1 and 100"));
                }
                let start = match input.get("NextToken").and_then(Value::as_str) {
                    None => 0,
                    Some(t) => t.parse::<usize>().map_err(|_| {
                        aws_error(
                            JSON_11,
                            400,
                            "InvalidNextTokenException",
                            "Invalid NextToken",
                        )
                    })?,
                };
                let held = lock(state).actions.get(&key).cloned().unwrap_or_default();
                let max = usize::try_from(max).unwrap_or(100);
                let page: Vec<Value> = held.iter().skip(start).take(max).cloned().collect();
                let mut out = json!({ "Actions": page });
                if start + max < held.len() {
                    out["NextToken"] = json!((start + max).to_string());
                }
                Ok(out)
            }
            "DescribeBudgetAction" => {
                let id = text(input, "ActionId")?;
                let action = find(state, &key, id)?;
                Ok(with(head, json!({ "Action": action })))
            }
            "UpdateBudgetAction" => {
                let id = text(input, "ActionId")?.to_owned();
                let old = find(state, &key, &id)?;
                let mut new = old.clone();
                let action_type = old["ActionType"].as_str().unwrap_or_default().to_owned();
                if input.get("NotificationType").is_some() {
                    new["NotificationType"] =
                        json!(one_of(input, "NotificationType", NOTIFICATION_TYPES)?);
                }
                if input.get("ActionThreshold").is_some() {
                    new["ActionThreshold"] = threshold(input)?;
                }
                if input.get("Definition").is_some() {
                    new["Definition"] = definition(input, &action_type)?;
                }
                if input.get("ExecutionRoleArn").is_some() {
                    new["ExecutionRoleArn"] = json!(role_arn(input)?);
                }
                if input.get("ApprovalModel").is_some() {
                    new["ApprovalModel"] = json!(one_of(input, "ApprovalModel", APPROVAL_MODELS)?);
                }
                if input.get("Subscribers").is_some() {
                    new["Subscribers"] = subscribers(input)?;
                }
                if in_progress(&old) {
                    return Err(locked(&old));
                }
                replace(state, &key, &id, Some(new.clone()));
                Ok(with(head, json!({ "OldAction": old, "NewAction": new })))
            }
            "DeleteBudgetAction" => {
                let id = text(input, "ActionId")?.to_owned();
                let old = find(state, &key, &id)?;
                if in_progress(&old) {
                    return Err(locked(&old));
                }
                replace(state, &key, &id, None);
                Ok(with(head, json!({ "Action": old })))
            }
            "ExecuteBudgetAction" => {
                let id = text(input, "ActionId")?.to_owned();
                let execution = one_of(
                    input,
                    "ExecutionType",
                    &[
                        "APPROVE_BUDGET_ACTION",
                        "RETRY_BUDGET_ACTION",
                        "REVERSE_BUDGET_ACTION",
                        "RESET_BUDGET_ACTION",
                    ],
                )?
                .to_owned();
                let mut action = find(state, &key, &id)?;
                let status = action["Status"].as_str().unwrap_or_default().to_owned();
                // Nothing runs here: an execution succeeds at once.
                let next = match (execution.as_str(), status.as_str()) {
                    ("APPROVE_BUDGET_ACTION", "PENDING" | "STANDBY") => "EXECUTION_SUCCESS",
                    ("RETRY_BUDGET_ACTION", "EXECUTION_FAILURE") => "EXECUTION_SUCCESS",
                    ("RETRY_BUDGET_ACTION", "REVERSE_FAILURE") => "REVERSE_SUCCESS",
                    ("RETRY_BUDGET_ACTION", "RESET_FAILURE") => "STANDBY",
                    ("REVERSE_BUDGET_ACTION", "EXECUTION_SUCCESS") => "REVERSE_SUCCESS",
                    ("RESET_BUDGET_ACTION", _) if !in_progress(&action) => "STANDBY",
                    _ => {
                        return Err(aws_error(
                            JSON_11,
                            400,
                            "ResourceLockedException",
                            &format!("The action is {status}: {execution} cannot run now."),
                        ));
                    }
                };
                action["Status"] = json!(next);
                replace(state, &key, &id, Some(action));
                Ok(with(
                    head,
                    json!({ "ActionId": id, "ExecutionType": execution }),
                ))
            }
            other => Err(invalid(format!("unknown operation {other}"))),
        }
    }

    fn in_progress(action: &Value) -> bool {
        action["Status"]
            .as_str()
            .is_some_and(|s| s.ends_with("_IN_PROGRESS"))
    }

    fn locked(action: &Value) -> Fault {
        aws_error(
            JSON_11,
            400,
            "ResourceLockedException",
            &format!(
                "The action is {}; try again when it is done.",
                action["Status"].as_str().unwrap_or_default()
            ),
        )
    }

    fn find(state: &Shared, key: &(String, String), id: &str) -> Result<Value, Fault> {
        lock(state)
            .actions
            .get(key)
            .and_then(|held| held.iter().find(|a| a["ActionId"] == id))
            .cloned()
            .ok_or_else(|| {
                not_found(format!(
                    "Unable to get action: {id} - the action doesn't exist."
                ))
            })
    }

    fn replace(state: &Shared, key: &(String, String), id: &str, action: Option<Value>) {
        let mut s = lock(state);
        if let Some(held) = s.actions.get_mut(key) {
            match action {
                Some(action) => {
                    if let Some(slot) = held.iter_mut().find(|a| a["ActionId"] == id) {
                        *slot = action;
                    }
                }
                None => held.retain(|a| a["ActionId"] != id),
            }
        }
    }

    /// Action ids are UUIDs (36 characters).
    fn uuid() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}
