//! Budget actions, which moto does not implement, at the SDK boundary: the service runs
//! in-process against a real nats-server, and AWS Budgets answers from aws-smithy-mocks
//! rules that keep the account's actions (so that a second ensure sees the first one's
//! action) and record every request. Each request's shape is pinned twice: as the SDK
//! input the service built, and as the JSON AWS receives on the wire (captured before it
//! leaves the SDK), field names and enum values included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_budgets::Client as Budgets;
use aws_sdk_budgets::operation::create_budget_action::{
    CreateBudgetActionInput, CreateBudgetActionOutput,
};
use aws_sdk_budgets::operation::delete_budget_action::DeleteBudgetActionOutput;
use aws_sdk_budgets::operation::describe_budget_actions_for_budget::{
    DescribeBudgetActionsForBudgetError, DescribeBudgetActionsForBudgetOutput,
};
use aws_sdk_budgets::operation::execute_budget_action::{
    ExecuteBudgetActionInput, ExecuteBudgetActionOutput,
};
use aws_sdk_budgets::operation::update_budget_action::{
    UpdateBudgetActionInput, UpdateBudgetActionOutput,
};
use aws_sdk_budgets::types as sdk;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use common::{ACCOUNT, Service, email};
use groundwork_budget::actions::{self, ActionSpec};
use groundwork_budget::aws::BudgetsApi;
use groundwork_budget::{AwsClients, Settings};
use groundwork_proto::v1 as pb;
use groundwork_testkit::NatsServer;
use serde_json::{Value, json};

const DENY_POLICY: &str = "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend";
const ROLE: &str = "arn:aws:iam::123456789012:role/groundwork/Groundwork-BudgetsActionRole";
const ACTION_ID: &str = "0b6a8f3e-8f3c-4a55-9d4b-1c2d3e4f5a6b";

/// AWS Budgets as the mocks hold it: the actions of the account, and what was asked.
#[derive(Clone, Default)]
struct Aws {
    actions: Arc<Mutex<Vec<sdk::Action>>>,
    creates: Arc<Mutex<Vec<CreateBudgetActionInput>>>,
    updates: Arc<Mutex<Vec<UpdateBudgetActionInput>>>,
    executes: Arc<Mutex<Vec<ExecuteBudgetActionInput>>>,
    deletes: Arc<Mutex<Vec<String>>>,
}

/// What a create or update request declares (everything but the id, budget and type).
struct Declared<'a> {
    notification_type: &'a sdk::NotificationType,
    threshold: Option<&'a sdk::ActionThreshold>,
    definition: Option<&'a sdk::Definition>,
    role: &'a str,
    approval: &'a sdk::ApprovalModel,
    subscribers: &'a [sdk::Subscriber],
}

fn action_from(
    id: &str,
    budget: &str,
    action_type: &sdk::ActionType,
    d: Declared<'_>,
) -> sdk::Action {
    sdk::Action::builder()
        .action_id(id)
        .budget_name(budget)
        .notification_type(d.notification_type.clone())
        .action_type(action_type.clone())
        .set_action_threshold(d.threshold.cloned())
        .set_definition(d.definition.cloned())
        .execution_role_arn(d.role)
        .approval_model(d.approval.clone())
        .status(sdk::ActionStatus::Standby)
        .set_subscribers(Some(d.subscribers.to_vec()))
        .build()
        .unwrap()
}

struct Rules {
    sts: Rule,
    describe: Rule,
    create: Rule,
    update: Rule,
    delete: Rule,
    execute: Rule,
}

impl Aws {
    fn rules(&self, caller_arn: &'static str) -> Rules {
        let (actions, creates) = (self.actions.clone(), self.creates.clone());
        let create = mock!(Budgets::create_budget_action).then_compute_output(move |r| {
            creates.lock().unwrap().push(r.clone());
            actions.lock().unwrap().push(action_from(
                ACTION_ID,
                r.budget_name().unwrap(),
                r.action_type().unwrap(),
                Declared {
                    notification_type: r.notification_type().unwrap(),
                    threshold: r.action_threshold(),
                    definition: r.definition(),
                    role: r.execution_role_arn().unwrap(),
                    approval: r.approval_model().unwrap(),
                    subscribers: r.subscribers(),
                },
            ));
            CreateBudgetActionOutput::builder()
                .account_id(ACCOUNT)
                .budget_name(r.budget_name().unwrap())
                .action_id(ACTION_ID)
                .build()
                .unwrap()
        });
        let (actions, updates) = (self.actions.clone(), self.updates.clone());
        let update = mock!(Budgets::update_budget_action).then_compute_output(move |r| {
            updates.lock().unwrap().push(r.clone());
            let mut all = actions.lock().unwrap();
            let at = all
                .iter()
                .position(|a| a.action_id == r.action_id().unwrap())
                .unwrap();
            let old = all[at].clone();
            all[at] = action_from(
                &old.action_id,
                &old.budget_name,
                &old.action_type,
                Declared {
                    notification_type: r.notification_type().unwrap(),
                    threshold: r.action_threshold(),
                    definition: r.definition(),
                    role: r.execution_role_arn().unwrap(),
                    approval: r.approval_model().unwrap(),
                    subscribers: r.subscribers(),
                },
            );
            UpdateBudgetActionOutput::builder()
                .account_id(ACCOUNT)
                .budget_name(&old.budget_name)
                .old_action(old.clone())
                .new_action(all[at].clone())
                .build()
                .unwrap()
        });
        let (actions, deletes) = (self.actions.clone(), self.deletes.clone());
        let delete = mock!(Budgets::delete_budget_action).then_compute_output(move |r| {
            deletes
                .lock()
                .unwrap()
                .push(r.action_id().unwrap().to_owned());
            let mut all = actions.lock().unwrap();
            let at = all
                .iter()
                .position(|a| a.action_id == r.action_id().unwrap())
                .unwrap();
            let gone = all.remove(at);
            DeleteBudgetActionOutput::builder()
                .account_id(ACCOUNT)
                .budget_name(&gone.budget_name)
                .action(gone)
                .build()
                .unwrap()
        });
        let (actions, executes) = (self.actions.clone(), self.executes.clone());
        let execute = mock!(Budgets::execute_budget_action).then_compute_output(move |r| {
            executes.lock().unwrap().push(r.clone());
            let mut all = actions.lock().unwrap();
            for a in all.iter_mut() {
                if a.action_id == r.action_id().unwrap() {
                    a.status = sdk::ActionStatus::ExecutionInProgress;
                }
            }
            ExecuteBudgetActionOutput::builder()
                .account_id(ACCOUNT)
                .budget_name(r.budget_name().unwrap())
                .action_id(r.action_id().unwrap())
                .execution_type(r.execution_type().unwrap().clone())
                .build()
                .unwrap()
        });
        let actions = self.actions.clone();
        let describe = mock!(Budgets::describe_budget_actions_for_budget).then_compute_response(
            move |r| {
                if r.budget_name() == Some("missing") {
                    return aws_smithy_mocks::MockResponse::Error(
                        DescribeBudgetActionsForBudgetError::NotFoundException(
                            // The metadata AWS's deserializer would attach.
                            sdk::error::NotFoundException::builder()
                                .message("Unable to get budget: missing - the budget doesn't exist.")
                                .meta(
                                    aws_smithy_types::error::ErrorMetadata::builder()
                                        .code("NotFoundException")
                                        .message("Unable to get budget: missing - the budget doesn't exist.")
                                        .build(),
                                )
                                .build(),
                        ),
                    );
                }
                let all = actions.lock().unwrap();
                aws_smithy_mocks::MockResponse::Output(
                    DescribeBudgetActionsForBudgetOutput::builder()
                        .set_actions(Some(
                            all.iter()
                                .filter(|a| Some(a.budget_name.as_str()) == r.budget_name())
                                .cloned()
                                .collect(),
                        ))
                        .build()
                        .unwrap(),
                )
            },
        );
        Rules {
            sts: mock!(aws_sdk_sts::Client::get_caller_identity).then_output(move || {
                GetCallerIdentityOutput::builder()
                    .account(ACCOUNT)
                    .arn(caller_arn)
                    .user_id("AIDAEXAMPLE")
                    .build()
            }),
            describe,
            create,
            update,
            delete,
            execute,
        }
    }
}

impl Rules {
    fn clients(&self) -> AwsClients {
        let budgets = mock_client!(
            aws_sdk_budgets,
            RuleMode::MatchAny,
            [
                &self.describe,
                &self.create,
                &self.update,
                &self.delete,
                &self.execute
            ]
        );
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&self.sts]);
        AwsClients {
            budgets,
            sts,
            sns_config: aws_config::SdkConfig::builder().build(),
            // Not called: actions never read the Free plan.
            freetier: aws_sdk_freetier::Client::new(&aws_config::SdkConfig::builder().build()),
        }
    }

    fn changing_calls(&self) -> usize {
        self.create.num_calls()
            + self.update.num_calls()
            + self.delete.num_calls()
            + self.execute.num_calls()
    }
}

async fn service(nats: &NatsServer, clients: AwsClients) -> Service {
    common::start_bus(nats).await;
    let mut settings = Settings::on(nats.settings_for("budget"));
    settings.watch_interval_secs = 0;
    Service::start(settings, clients).await
}

/// The deny-new-spend action at 100 % of actual spend, applied to the admin group.
fn deny_at_100() -> pb::BudgetActionDefinition {
    pb::BudgetActionDefinition {
        budget_name: "spend".into(),
        notification_type: "ACTUAL".into(),
        action_threshold_value: 100.0,
        action_threshold_type: "PERCENTAGE".into(),
        approval_model: "AUTOMATIC".into(),
        iam_action_definition: Some(pb::IamActionDefinition {
            policy_arn: DENY_POLICY.into(),
            groups: vec!["Admins".into()],
            users: vec![],
            roles: vec![],
        }),
        ssm_action_definition: None,
        execution_role_arn: ROLE.into(),
        subscribers: vec![email("ops@example.com")],
    }
}

fn stop_rds() -> pb::BudgetActionDefinition {
    pb::BudgetActionDefinition {
        notification_type: "FORECASTED".into(),
        action_threshold_value: 50.0,
        action_threshold_type: "ABSOLUTE_VALUE".into(),
        approval_model: "MANUAL".into(),
        iam_action_definition: None,
        ssm_action_definition: Some(pb::SsmActionDefinition {
            action_sub_type: "STOP_RDS_INSTANCES".into(),
            region: "eu-west-1".into(),
            instance_ids: vec!["orders-db".into()],
        }),
        ..deny_at_100()
    }
}

fn ensure(action: pb::BudgetActionDefinition) -> pb::EnsureBudgetActionRequest {
    pb::EnsureBudgetActionRequest {
        action: Some(action),
        dry_run: false,
    }
}

#[tokio::test]
async fn the_deny_action_is_created_with_the_request_aws_expects_then_unchanged() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::default();
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin");
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;

    let r = client
        .ensure_budget_action(ensure(deny_at_100()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "CREATED");
    let view = r.action.unwrap();
    assert_eq!(view.action_id, ACTION_ID);

    let creates = aws.creates.lock().unwrap().clone();
    assert_eq!(creates.len(), 1);
    let c = &creates[0];
    assert_eq!(c.account_id(), Some(ACCOUNT));
    assert_eq!(c.budget_name(), Some("spend"));
    assert_eq!(c.notification_type(), Some(&sdk::NotificationType::Actual));
    assert_eq!(c.action_type(), Some(&sdk::ActionType::Iam));
    let t = c.action_threshold().unwrap();
    assert_eq!(t.action_threshold_value, 100.0);
    assert_eq!(t.action_threshold_type, sdk::ThresholdType::Percentage);
    let iam = c.definition().unwrap().iam_action_definition().unwrap();
    assert_eq!(iam.policy_arn, DENY_POLICY);
    assert_eq!(iam.groups(), ["Admins"]);
    assert!(iam.users.is_none() && iam.roles.is_none());
    assert!(c.definition().unwrap().ssm_action_definition().is_none());
    assert_eq!(c.execution_role_arn(), Some(ROLE));
    assert_eq!(c.approval_model(), Some(&sdk::ApprovalModel::Auto));
    assert_eq!(c.subscribers().len(), 1);
    assert_eq!(
        c.subscribers()[0].subscription_type,
        sdk::SubscriptionType::Email
    );
    assert_eq!(c.subscribers()[0].address, "ops@example.com");

    // Applied again: the action AWS now holds is the declared one.
    let again = client
        .ensure_budget_action(ensure(deny_at_100()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, "UNCHANGED", "{:?}", again.changes);
    assert_eq!(rules.changing_calls(), 1);

    let listed = client
        .list_budget_actions(pb::ListBudgetActionsRequest {
            budget_name: "spend".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.actions.len(), 1);
    assert_eq!(listed.actions[0].status, "STANDBY");
    assert_eq!(listed.actions[0].definition, Some(deny_at_100()));
    service.stop().await;
}

#[tokio::test]
async fn drift_is_one_update_budget_action_in_place_carrying_the_whole_declaration() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::default();
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin");
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;
    client
        .ensure_budget_action(ensure(stop_rds()))
        .await
        .unwrap();
    let c = aws.creates.lock().unwrap()[0].clone();
    assert_eq!(c.action_type(), Some(&sdk::ActionType::Ssm));
    assert_eq!(
        c.notification_type(),
        Some(&sdk::NotificationType::Forecasted)
    );
    assert_eq!(c.approval_model(), Some(&sdk::ApprovalModel::Manual));
    assert_eq!(
        c.action_threshold().unwrap().action_threshold_type,
        sdk::ThresholdType::AbsoluteValue
    );
    let ssm = c.definition().unwrap().ssm_action_definition().unwrap();
    assert_eq!(ssm.action_sub_type, sdk::ActionSubType::StopRds);
    assert_eq!(ssm.region, "eu-west-1");
    assert_eq!(ssm.instance_ids, ["orders-db"]);

    // The spec moves the threshold, adds an instance and a subscriber, wants approval
    // no longer: one UpdateBudgetAction on the same id.
    let mut wanted = stop_rds();
    wanted.action_threshold_value = 80.0;
    wanted.approval_model = "AUTOMATIC".into();
    wanted
        .ssm_action_definition
        .as_mut()
        .unwrap()
        .instance_ids
        .push("users-db".into());
    wanted.subscribers.push(email("cfo@example.com"));
    let r = client
        .ensure_budget_action(ensure(wanted.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome, "UPDATED");
    let fields: Vec<&str> = r.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "action_threshold",
            "approval_model",
            "definition",
            "subscribers"
        ]
    );
    assert_eq!(
        (r.changes[0].before.as_str(), r.changes[0].after.as_str()),
        ("50", "80")
    );
    assert!(r.changes.iter().all(|c| c.action == "UpdateBudgetAction"));
    let updates = aws.updates.lock().unwrap().clone();
    assert_eq!(updates.len(), 1);
    let u = &updates[0];
    assert_eq!(u.action_id(), Some(ACTION_ID));
    assert_eq!(u.budget_name(), Some("spend"));
    assert_eq!(u.account_id(), Some(ACCOUNT));
    assert_eq!(u.action_threshold().unwrap().action_threshold_value, 80.0);
    assert_eq!(u.approval_model(), Some(&sdk::ApprovalModel::Auto));
    assert_eq!(
        u.definition()
            .unwrap()
            .ssm_action_definition()
            .unwrap()
            .instance_ids,
        ["orders-db", "users-db"]
    );
    assert_eq!(u.subscribers().len(), 2);
    assert_eq!(u.execution_role_arn(), Some(ROLE));
    assert_eq!(rules.create.num_calls(), 1, "never re-created");
    assert_eq!(rules.delete.num_calls(), 0, "never deleted");

    // A dry run of the same reports UNCHANGED and calls nothing that changes.
    let before = rules.changing_calls();
    let dry = client
        .ensure_budget_action(pb::EnsureBudgetActionRequest {
            action: Some(wanted),
            dry_run: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dry.outcome, "UNCHANGED");
    assert_eq!(rules.changing_calls(), before);
    service.stop().await;
}

#[tokio::test]
async fn a_manual_action_is_approved_then_reset_and_deleted_once() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::default();
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin");
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;
    client
        .ensure_budget_action(ensure(stop_rds()))
        .await
        .unwrap();

    let approved = client
        .execute_budget_action(pb::ExecuteBudgetActionRequest {
            budget_name: "spend".into(),
            action_id: ACTION_ID.into(),
            execution_type: "APPROVE_BUDGET_ACTION".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.execution_type, "APPROVE_BUDGET_ACTION");
    assert_eq!(approved.action.unwrap().status, "EXECUTION_IN_PROGRESS");
    client
        .execute_budget_action(pb::ExecuteBudgetActionRequest {
            budget_name: "spend".into(),
            action_id: ACTION_ID.into(),
            execution_type: "RESET_BUDGET_ACTION".into(),
        })
        .await
        .unwrap();
    let executes = aws.executes.lock().unwrap().clone();
    let types: Vec<&sdk::ExecutionType> = executes
        .iter()
        .map(|e| e.execution_type().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            &sdk::ExecutionType::ApproveBudgetAction,
            &sdk::ExecutionType::ResetBudgetAction
        ]
    );
    assert!(
        executes
            .iter()
            .all(|e| e.account_id() == Some(ACCOUNT) && e.action_id() == Some(ACTION_ID))
    );

    // An id the budget does not have is NOT_FOUND before AWS is asked to execute it.
    let err = client
        .execute_budget_action(pb::ExecuteBudgetActionRequest {
            budget_name: "spend".into(),
            action_id: "11111111-2222-3333-4444-555555555555".into(),
            execution_type: "APPROVE_BUDGET_ACTION".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(rules.execute.num_calls(), 2);

    let deleted = client
        .delete_budget_action(pb::DeleteBudgetActionRequest {
            budget_name: "spend".into(),
            action_id: ACTION_ID.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.outcome, "DELETED");
    assert_eq!(aws.deletes.lock().unwrap().clone(), [ACTION_ID]);
    assert!(aws.actions.lock().unwrap().is_empty());
    service.stop().await;
}

/// A change that makes a declaration invalid.
type Mutation = Box<dyn Fn(&mut pb::BudgetActionDefinition)>;

#[tokio::test]
async fn bad_input_and_a_missing_budget_and_root_are_refused_before_anything_changes() {
    let nats = NatsServer::start().unwrap();
    let aws = Aws::default();
    let rules = aws.rules("arn:aws:iam::123456789012:user/admin");
    let service = service(&nats, rules.clients()).await;
    let mut client = service.client().await;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "action.action_threshold_value",
            Box::new(|a| a.action_threshold_value = 0.0),
        ),
        (
            "action.action_threshold_type",
            Box::new(|a| a.action_threshold_type = "PERCENT".into()),
        ),
        (
            "action.approval_model",
            Box::new(|a| a.approval_model = "LATER".into()),
        ),
        (
            "action.notification_type",
            Box::new(|a| a.notification_type = "SOON".into()),
        ),
        (
            "action.iam_action_definition",
            Box::new(|a| a.ssm_action_definition = stop_rds().ssm_action_definition),
        ),
        (
            "action.iam_action_definition.policy_arn",
            Box::new(|a| {
                a.iam_action_definition.as_mut().unwrap().policy_arn = "DenyNewSpend".into()
            }),
        ),
        (
            "action.iam_action_definition",
            Box::new(|a| a.iam_action_definition.as_mut().unwrap().groups.clear()),
        ),
        (
            "action.execution_role_arn",
            Box::new(|a| a.execution_role_arn = "Groundwork-BudgetsActionRole".into()),
        ),
        ("action.subscribers", Box::new(|a| a.subscribers.clear())),
        (
            "action.subscribers",
            Box::new(|a| {
                a.subscribers = (0..11)
                    .map(|i| email(&format!("person{i}@example.com")))
                    .collect();
            }),
        ),
    ];
    for (field, mutate) in cases {
        let mut a = deny_at_100();
        mutate(&mut a);
        let err = client.ensure_budget_action(ensure(a)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(
            err.message().starts_with(&format!("{field}:")),
            "{field}: {}",
            err.message()
        );
    }
    let mut tagged = stop_rds();
    tagged
        .ssm_action_definition
        .as_mut()
        .unwrap()
        .action_sub_type = "STOP_EC2_INSTANCES".into();
    tagged.ssm_action_definition.as_mut().unwrap().instance_ids = vec!["tag:env=dev".into()];
    let err = client
        .ensure_budget_action(ensure(tagged))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("action.ssm_action_definition.instance_ids[0]:"),
        "{}",
        err.message()
    );

    let mut missing = deny_at_100();
    missing.budget_name = "missing".into();
    let err = client
        .ensure_budget_action(ensure(missing))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(
        err.message().contains("budget missing does not exist"),
        "{}",
        err.message()
    );
    let err = client
        .delete_budget_action(pb::DeleteBudgetActionRequest {
            budget_name: "spend".into(),
            action_id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(rules.changing_calls(), 0);
    service.stop().await;

    // Root credentials: refused before AWS Budgets is asked anything.
    let root = Aws::default();
    let rules = root.rules("arn:aws:iam::123456789012:root");
    let service = service_again(&nats, rules.clients()).await;
    let mut client = service.client().await;
    let err = client
        .ensure_budget_action(ensure(deny_at_100()))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::FailedPrecondition,
        "{}",
        err.message()
    );
    assert_eq!(rules.describe.num_calls() + rules.changing_calls(), 0);
    service.stop().await;
}

/// A second service on the same NATS (its bus is already there).
async fn service_again(nats: &NatsServer, clients: AwsClients) -> Service {
    let mut settings = Settings::on(nats.settings_for("budget"));
    settings.watch_interval_secs = 0;
    Service::start(settings, clients).await
}

/// What AWS receives on the wire for `call`, made with a client whose HTTP layer only
/// records the request.
async fn on_the_wire<F, Fut>(call: F) -> (String, Value)
where
    F: FnOnce(BudgetsApi) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (http, request) = aws_smithy_http_client::test_util::capture_request(None);
    let config = aws_sdk_budgets::Config::builder()
        .behavior_version(aws_sdk_budgets::config::BehaviorVersion::latest())
        .region(aws_sdk_budgets::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_budgets::config::Credentials::for_tests())
        .http_client(http)
        .build();
    let rules = Aws::default().rules("arn:aws:iam::123456789012:user/admin");
    let clients = AwsClients {
        budgets: aws_sdk_budgets::Client::from_conf(config),
        ..rules.clients()
    };
    call(BudgetsApi::new(clients, false)).await;
    let request = request.expect_request();
    let target = request
        .headers()
        .get("x-amz-target")
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_slice(request.body().bytes().unwrap()).unwrap();
    (target, body)
}

fn spec_of(def: pb::BudgetActionDefinition) -> ActionSpec {
    actions::wire::action_from_pb(&def, "action").unwrap()
}

#[tokio::test]
async fn create_and_update_go_out_as_aws_budgets_json_with_its_field_names_and_values() {
    let spec = spec_of(deny_at_100());
    let (target, body) = on_the_wire(|api| async move {
        // The recorded answer is empty: only the request matters here.
        let _ = api.create_action(&spec).await;
    })
    .await;
    assert_eq!(target, "AWSBudgetServiceGateway.CreateBudgetAction");
    assert_eq!(
        body,
        json!({
            "AccountId": "123456789012",
            "BudgetName": "spend",
            "NotificationType": "ACTUAL",
            "ActionType": "APPLY_IAM_POLICY",
            "ActionThreshold": {
                "ActionThresholdValue": 100.0,
                "ActionThresholdType": "PERCENTAGE"
            },
            "Definition": {
                "IamActionDefinition": {
                    "PolicyArn": DENY_POLICY,
                    "Groups": ["Admins"]
                }
            },
            "ExecutionRoleArn": ROLE,
            "ApprovalModel": "AUTOMATIC",
            "Subscribers": [{ "SubscriptionType": "EMAIL", "Address": "ops@example.com" }]
        })
    );

    let spec = spec_of(stop_rds());
    let (target, body) = on_the_wire(|api| async move {
        let _ = api.update_action(ACTION_ID, &spec).await;
    })
    .await;
    assert_eq!(target, "AWSBudgetServiceGateway.UpdateBudgetAction");
    assert_eq!(
        body,
        json!({
            "AccountId": "123456789012",
            "BudgetName": "spend",
            "ActionId": ACTION_ID,
            "NotificationType": "FORECASTED",
            "ActionThreshold": {
                "ActionThresholdValue": 50.0,
                "ActionThresholdType": "ABSOLUTE_VALUE"
            },
            "Definition": {
                "SsmActionDefinition": {
                    "ActionSubType": "STOP_RDS_INSTANCES",
                    "Region": "eu-west-1",
                    "InstanceIds": ["orders-db"]
                }
            },
            "ExecutionRoleArn": ROLE,
            "ApprovalModel": "MANUAL",
            "Subscribers": [{ "SubscriptionType": "EMAIL", "Address": "ops@example.com" }]
        })
    );

    let (target, body) = on_the_wire(|api| async move {
        let name = groundwork_budget::domain::BudgetName::parse("spend", "b").unwrap();
        let _ = api
            .execute_action(&name, ACTION_ID, actions::aws::Execution::Approve)
            .await;
    })
    .await;
    assert_eq!(target, "AWSBudgetServiceGateway.ExecuteBudgetAction");
    assert_eq!(
        body,
        json!({
            "AccountId": "123456789012",
            "BudgetName": "spend",
            "ActionId": ACTION_ID,
            "ExecutionType": "APPROVE_BUDGET_ACTION"
        })
    );
}
