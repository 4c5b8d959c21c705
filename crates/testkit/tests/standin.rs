//! The AWS stand-in, called with the AWS SDK for Rust's own clients: the Free Tier API
//! answered as configured, Budgets' actions kept and checked as AWS does (the budget
//! asked of moto), and everything else passed to moto unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_budgets::types::{
    ActionThreshold, ActionType, ApprovalModel, Budget, BudgetType, Definition, ExecutionType,
    IamActionDefinition, NotificationType, Spend, Subscriber, SubscriptionType, ThresholdType,
    TimeUnit,
};
use aws_sdk_freetier::types::{AccountPlanStatus, AccountPlanType};
use groundwork_cloud::AwsSettings;
use groundwork_testkit::{AccountPlan, AwsStandIn, MotoServer};

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/groundwork-budget-actions";
const DENY: &str = "arn:aws:iam::123456789012:policy/groundwork-deny-new-spend";

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    groundwork_cloud::config::load(&AwsSettings::sandbox(endpoint))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build()
}

fn servers(plan: AccountPlan) -> (MotoServer, AwsStandIn) {
    let moto = MotoServer::start().expect("moto_server must be installed");
    let standin = AwsStandIn::start(&moto.endpoint(), plan).unwrap();
    (moto, standin)
}

#[tokio::test]
async fn the_free_tier_api_answers_the_configured_plan_state() {
    let (_moto, standin) = servers(AccountPlan::free(100.0, "2026-06-01T00:00:00Z"));
    let freetier = aws_sdk_freetier::Client::new(&sdk(&standin.endpoint()).await);

    let state = freetier.get_account_plan_state().send().await.unwrap();
    assert_eq!(state.account_id(), ACCOUNT);
    assert_eq!(state.account_plan_type(), &AccountPlanType::Free);
    assert_eq!(state.account_plan_status(), &AccountPlanStatus::Active);
    let credits = state.account_plan_remaining_credits().unwrap();
    assert_eq!((credits.amount(), credits.unit().as_str()), (100.0, "USD"));
    assert_eq!(
        state.account_plan_expiration_date().unwrap().secs(),
        1_780_272_000,
        "2026-06-01T00:00:00Z"
    );

    // The state changes under the running server.
    standin.set_plan(AccountPlan::paid());
    let state = freetier.get_account_plan_state().send().await.unwrap();
    assert_eq!(state.account_plan_type(), &AccountPlanType::Paid);
    assert!(state.account_plan_remaining_credits().is_none());

    let activities = freetier.list_account_activities().send().await.unwrap();
    assert_eq!(activities.activities().len(), 5);
    let first = &activities.activities()[0];
    let one = freetier
        .get_account_activity()
        .activity_id(first.activity_id())
        .send()
        .await
        .unwrap();
    assert_eq!(one.title(), first.title());
    let missing = freetier
        .get_account_activity()
        .activity_id("no-such-activity")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
}

fn deny_admins() -> Definition {
    Definition::builder()
        .iam_action_definition(
            IamActionDefinition::builder()
                .policy_arn(DENY)
                .groups("Admins")
                .build()
                .unwrap(),
        )
        .build()
}

fn email() -> Subscriber {
    Subscriber::builder()
        .subscription_type(SubscriptionType::Email)
        .address("ops@example.com")
        .build()
        .unwrap()
}

#[tokio::test]
async fn budget_actions_round_trip_on_a_budget_moto_holds() {
    let (moto, standin) = servers(AccountPlan::new_account());
    let config = groundwork_cloud::config::billing(&sdk(&standin.endpoint()).await);
    let budgets = aws_sdk_budgets::Client::new(&config);

    // CreateBudget is not the stand-in's: it goes to moto unchanged.
    budgets
        .create_budget()
        .account_id(ACCOUNT)
        .budget(
            Budget::builder()
                .budget_name("monthly-spend")
                .budget_limit(Spend::builder().amount("20").unit("USD").build().unwrap())
                .time_unit(TimeUnit::Monthly)
                .budget_type(BudgetType::Cost)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let in_moto = aws_sdk_budgets::Client::new(&groundwork_cloud::config::billing(
        &sdk(&moto.endpoint()).await,
    ))
    .describe_budget()
    .account_id(ACCOUNT)
    .budget_name("monthly-spend")
    .send()
    .await
    .unwrap();
    assert_eq!(in_moto.budget().unwrap().budget_name(), "monthly-spend");

    let created = budgets
        .create_budget_action()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .notification_type(NotificationType::Actual)
        .action_type(ActionType::Iam)
        .action_threshold(
            ActionThreshold::builder()
                .action_threshold_value(100.0)
                .action_threshold_type(ThresholdType::Percentage)
                .build()
                .unwrap(),
        )
        .definition(deny_admins())
        .execution_role_arn(ROLE)
        .approval_model(ApprovalModel::Auto)
        .subscribers(email())
        .send()
        .await
        .unwrap();
    let id = created.action_id().to_owned();
    assert_eq!(id.len(), 36);

    let listed = budgets
        .describe_budget_actions_for_budget()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.actions().len(), 1);
    let action = &listed.actions()[0];
    assert_eq!(action.action_id(), id);
    assert_eq!(action.status().as_str(), "STANDBY");
    assert_eq!(action.execution_role_arn(), ROLE);
    let iam = action
        .definition()
        .unwrap()
        .iam_action_definition()
        .unwrap();
    assert_eq!(
        (iam.policy_arn(), iam.groups()),
        (DENY, &["Admins".to_owned()][..])
    );

    let updated = budgets
        .update_budget_action()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .action_id(&id)
        .approval_model(ApprovalModel::Manual)
        .action_threshold(
            ActionThreshold::builder()
                .action_threshold_value(15.0)
                .action_threshold_type(ThresholdType::AbsoluteValue)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.old_action().unwrap().approval_model(),
        &ApprovalModel::Auto
    );
    let new = updated.new_action().unwrap();
    assert_eq!(new.approval_model(), &ApprovalModel::Manual);
    assert_eq!(
        new.action_threshold().unwrap().action_threshold_type(),
        &ThresholdType::AbsoluteValue
    );

    budgets
        .execute_budget_action()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .action_id(&id)
        .execution_type(ExecutionType::ApproveBudgetAction)
        .send()
        .await
        .unwrap();
    let described = budgets
        .describe_budget_action()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .action_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.action().unwrap().status().as_str(),
        "EXECUTION_SUCCESS"
    );
    let reverse_twice = budgets
        .execute_budget_action()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .action_id(&id)
        .execution_type(ExecutionType::ApproveBudgetAction)
        .send()
        .await
        .unwrap_err();
    assert!(
        reverse_twice
            .as_service_error()
            .unwrap()
            .is_resource_locked_exception()
    );

    let deleted = budgets
        .delete_budget_action()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .action_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.action().unwrap().action_id(), id);
    let gone = budgets
        .describe_budget_action()
        .account_id(ACCOUNT)
        .budget_name("monthly-spend")
        .action_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(gone.as_service_error().unwrap().is_not_found_exception());
    assert!(standin.budget_actions(ACCOUNT, "monthly-spend").is_empty());
    assert!(
        standin
            .calls()
            .contains(&"AWSBudgetServiceGateway.CreateBudget".to_owned())
    );
}

#[tokio::test]
async fn budget_actions_are_refused_as_aws_refuses_them() {
    let (_moto, standin) = servers(AccountPlan::new_account());
    let budgets = aws_sdk_budgets::Client::new(&groundwork_cloud::config::billing(
        &sdk(&standin.endpoint()).await,
    ));
    let create = || {
        budgets
            .create_budget_action()
            .account_id(ACCOUNT)
            .notification_type(NotificationType::Actual)
            .action_type(ActionType::Iam)
            .action_threshold(
                ActionThreshold::builder()
                    .action_threshold_value(100.0)
                    .action_threshold_type(ThresholdType::Percentage)
                    .build()
                    .unwrap(),
            )
            .definition(deny_admins())
            .execution_role_arn(ROLE)
            .approval_model(ApprovalModel::Auto)
            .subscribers(email())
    };
    // The budget does not exist in moto.
    let missing = create()
        .budget_name("no-such-budget")
        .send()
        .await
        .unwrap_err();
    let missing = missing.into_service_error();
    assert!(missing.is_not_found_exception(), "{missing:?}");

    // An SSM definition for an IAM action, and a user's ARN as the role.
    aws_sdk_budgets::Client::new(&groundwork_cloud::config::billing(
        &sdk(&standin.endpoint()).await,
    ))
    .create_budget()
    .account_id(ACCOUNT)
    .budget(
        Budget::builder()
            .budget_name("b")
            .budget_limit(Spend::builder().amount("5").unit("USD").build().unwrap())
            .time_unit(TimeUnit::Monthly)
            .budget_type(BudgetType::Cost)
            .build()
            .unwrap(),
    )
    .send()
    .await
    .unwrap();
    let wrong_role = create()
        .budget_name("b")
        .execution_role_arn("arn:aws:iam::123456789012:user/admin-user-name")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        wrong_role.is_invalid_parameter_exception(),
        "{wrong_role:?}"
    );
    assert!(
        wrong_role.to_string().contains("ExecutionRoleArn"),
        "{wrong_role}"
    );
    let wrong_definition = create()
        .budget_name("b")
        .action_type(ActionType::Ssm)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        wrong_definition.to_string().contains("SsmActionDefinition"),
        "{wrong_definition}"
    );
}
