//! `groundwork budgets ensure|list|delete|import|actions|execute-action`: the budget
//! service's API.

use clap::{Subcommand, ValueEnum};
use groundwork_proto::v1 as pb;
use serde_json::{Value, json};

use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

/// Which costs a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Only credits.
    Credits,
    /// Credits and refunds excluded.
    Spend,
    /// All costs (filters of one's own: use `import` with a FilterExpression).
    All,
}

#[derive(Debug, Subcommand)]
pub enum BudgetsCommand {
    /// Create a budget, or bring an existing one to these settings in place; prints what
    /// changed. Every alert goes to every --email and --sns-topic.
    Ensure {
        /// The budget's name.
        #[arg(long)]
        name: String,
        /// The limit, e.g. 20 or 20.50.
        #[arg(long)]
        amount: String,
        /// The limit's currency.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// MONTHLY, QUARTERLY or ANNUALLY.
        #[arg(long, default_value = "MONTHLY")]
        time_unit: String,
        #[arg(long, value_enum)]
        kind: Kind,
        /// Alert when actual spend exceeds this percentage of the limit (repeatable).
        #[arg(long = "threshold")]
        thresholds: Vec<f64>,
        /// Alert when forecasted spend exceeds this percentage of the limit (repeatable).
        #[arg(long = "forecast-threshold")]
        forecast_thresholds: Vec<f64>,
        /// Email address to alert (repeatable, at most 10).
        #[arg(long = "email")]
        emails: Vec<String>,
        /// SNS topic ARN to alert (at most 1).
        #[arg(long = "sns-topic")]
        sns_topics: Vec<String>,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Every budget of the account with its actual and forecasted spend.
    List,
    /// Delete a budget and its alerts.
    Delete {
        /// The budget's name.
        name: String,
    },
    /// A budget's actions (AWS Budgets actions, e.g. from `[[budgets.actions]]` of the spec)
    /// with their status: an action of the manual approval model waits in `PENDING` for
    /// `execute-action --execution approve`.
    Actions {
        /// The budget's name.
        #[arg(long)]
        budget: String,
    },
    /// Approve a pending action, undo one that ran, reset it or retry it
    /// (ExecuteBudgetAction); prints its status afterwards.
    ExecuteAction {
        /// The budget's name.
        #[arg(long)]
        budget: String,
        /// The action's id (`groundwork budgets actions --budget …`).
        #[arg(long)]
        action_id: String,
        /// approve (run an action that waits for approval), reverse (undo what it did),
        /// reset (back to standby) or retry (a failed run or reset).
        #[arg(long, value_parser = ["approve", "reverse", "reset", "retry"])]
        execution: String,
    },
    /// Import the files of `aws budgets create-budget` and apply them.
    Import {
        /// The `--budget` file (`file://` prefix accepted).
        #[arg(long)]
        budget: String,
        /// The `--notifications-with-subscribers` file.
        #[arg(long)]
        notifications_with_subscribers: Option<String>,
        /// Only print the native request the files amount to.
        #[arg(long, conflicts_with = "dry_run")]
        convert_only: bool,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(
    command: BudgetsCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        BudgetsCommand::Ensure {
            name,
            amount,
            currency,
            time_unit,
            kind,
            thresholds,
            forecast_thresholds,
            emails,
            sns_topics,
            dry_run,
        } => {
            let subscribers: Vec<pb::Subscriber> = emails
                .into_iter()
                .map(|address| pb::Subscriber {
                    subscription_type: "EMAIL".into(),
                    address,
                })
                .chain(sns_topics.into_iter().map(|address| pb::Subscriber {
                    subscription_type: "SNS".into(),
                    address,
                }))
                .collect();
            let alerts = thresholds
                .iter()
                .map(|t| ("ACTUAL", *t))
                .chain(forecast_thresholds.iter().map(|t| ("FORECASTED", *t)));
            let notifications = alerts
                .map(|(kind, threshold)| pb::NotificationWithSubscribers {
                    notification: Some(pb::Notification {
                        notification_type: kind.into(),
                        comparison_operator: "GREATER_THAN".into(),
                        threshold,
                        threshold_type: "PERCENTAGE".into(),
                    }),
                    subscribers: subscribers.clone(),
                })
                .collect();
            let kind = match kind {
                Kind::Credits => pb::BudgetKind::Credits,
                Kind::Spend => pb::BudgetKind::Spend,
                Kind::All => pb::BudgetKind::Custom,
            };
            let request = pb::EnsureBudgetRequest {
                budget: Some(pb::BudgetDefinition {
                    budget_name: name,
                    budget_limit: Some(pb::Spend {
                        amount,
                        unit: currency,
                    }),
                    time_unit,
                    kind: kind.into(),
                    filter_expression: None,
                    notifications_with_subscribers: notifications,
                    time_period: None,
                }),
                dry_run,
            };
            let mut client = endpoints.budget().await?;
            let response = client.ensure_budget(request).await?.into_inner();
            print_ensured(&response, output, dry_run);
            Ok(())
        }
        BudgetsCommand::List => list(endpoints, output).await,
        BudgetsCommand::Delete { name } => {
            let mut client = endpoints.budget().await?;
            client
                .delete_budget(pb::DeleteBudgetRequest {
                    budget_name: name.clone(),
                })
                .await?;
            match output {
                OutputFormat::Json => print_json(&json!({"BudgetName": name, "Deleted": true})),
                OutputFormat::Table => println!("deleted budget {name}"),
            }
            Ok(())
        }
        BudgetsCommand::Actions { budget } => {
            let mut client = endpoints.budget().await?;
            let actions = client
                .list_budget_actions(pb::ListBudgetActionsRequest {
                    budget_name: budget,
                })
                .await?
                .into_inner()
                .actions;
            print_actions(&actions, output);
            Ok(())
        }
        BudgetsCommand::ExecuteAction {
            budget,
            action_id,
            execution,
        } => {
            let mut client = endpoints.budget().await?;
            let response = client
                .execute_budget_action(pb::ExecuteBudgetActionRequest {
                    budget_name: budget,
                    action_id,
                    // AWS's ExecutionType: APPROVE_BUDGET_ACTION, …
                    execution_type: format!("{}_BUDGET_ACTION", execution.to_uppercase()),
                })
                .await?
                .into_inner();
            print_actions(response.action.as_slice(), output);
            Ok(())
        }
        BudgetsCommand::Import {
            budget,
            notifications_with_subscribers,
            convert_only,
            dry_run,
        } => {
            let request = pb::ImportAwsCliJsonRequest {
                budget_json: read(&budget)?,
                notifications_with_subscribers_json: notifications_with_subscribers
                    .as_deref()
                    .map(read)
                    .transpose()?
                    .unwrap_or_default(),
                apply: !convert_only,
                dry_run,
            };
            let mut client = endpoints.budget().await?;
            let response = client.import_aws_cli_json(request).await?.into_inner();
            match (&response.result, output) {
                (Some(result), _) => print_ensured(result, output, dry_run),
                (None, _) => print_json(&definition_json(response.budget.as_ref())),
            }
            Ok(())
        }
    }
}

/// What an action does, in a few words: the policy and whom it goes on, or the instances.
fn action_does(d: &pb::BudgetActionDefinition) -> String {
    if let Some(iam) = &d.iam_action_definition {
        let on: Vec<String> = iam
            .groups
            .iter()
            .map(|g| format!("group {g}"))
            .chain(iam.users.iter().map(|u| format!("user {u}")))
            .chain(iam.roles.iter().map(|r| format!("role {r}")))
            .collect();
        format!("apply {} to {}", iam.policy_arn, on.join(", "))
    } else if let Some(ssm) = &d.ssm_action_definition {
        format!(
            "{} in {}: {}",
            ssm.action_sub_type,
            ssm.region,
            ssm.instance_ids.join(", ")
        )
    } else {
        "-".into()
    }
}

fn print_actions(actions: &[pb::BudgetActionView], output: OutputFormat) {
    let definition = |a: &pb::BudgetActionView| a.definition.clone().unwrap_or_default();
    let threshold = |d: &pb::BudgetActionDefinition| match d.action_threshold_type.as_str() {
        "ABSOLUTE_VALUE" => format!("{}", d.action_threshold_value),
        _ => format!("{} %", d.action_threshold_value),
    };
    match output {
        OutputFormat::Json => print_json(&Value::Array(
            actions
                .iter()
                .map(|a| {
                    let d = definition(a);
                    json!({
                        "ActionId": a.action_id,
                        "BudgetName": d.budget_name,
                        "NotificationType": d.notification_type,
                        "ActionThreshold": {
                            "ActionThresholdValue": d.action_threshold_value,
                            "ActionThresholdType": if d.action_threshold_type.is_empty() {
                                "PERCENTAGE"
                            } else {
                                d.action_threshold_type.as_str()
                            },
                        },
                        "ApprovalModel": d.approval_model,
                        "ExecutionRoleArn": d.execution_role_arn,
                        "Definition": action_does(&d),
                        "Status": a.status,
                    })
                })
                .collect(),
        )),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = actions
                .iter()
                .map(|a| {
                    let d = definition(a);
                    vec![
                        a.action_id.clone(),
                        format!("{} {}", d.notification_type, threshold(&d)),
                        d.approval_model.clone(),
                        action_does(&d),
                        a.status.clone(),
                    ]
                })
                .collect();
            print_table(&["ACTION ID", "WHEN", "APPROVAL", "DOES", "STATUS"], &rows);
        }
    }
}

fn read(path: &str) -> Result<String, CliError> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("cannot read {path}: {e}")))
}

fn spend_text(s: Option<&pb::Spend>) -> String {
    s.map(|s| format!("{} {}", s.amount, s.unit))
        .unwrap_or_else(|| "-".into())
}

fn kind_name(kind: i32) -> &'static str {
    match pb::BudgetKind::try_from(kind) {
        Ok(pb::BudgetKind::Credits) => "credits",
        Ok(pb::BudgetKind::Spend) => "spend",
        Ok(pb::BudgetKind::Custom) => "custom",
        _ => "-",
    }
}

fn definition_json(def: Option<&pb::BudgetDefinition>) -> Value {
    let Some(d) = def else { return Value::Null };
    json!({
        "BudgetName": d.budget_name,
        "BudgetLimit": d.budget_limit.as_ref().map(|l| json!({"Amount": l.amount, "Unit": l.unit})),
        "TimeUnit": d.time_unit,
        "Kind": kind_name(d.kind),
        "NotificationsWithSubscribers": d.notifications_with_subscribers.iter().map(|n| json!({
            "Notification": n.notification.as_ref().map(|n| json!({
                "NotificationType": n.notification_type,
                "ComparisonOperator": n.comparison_operator,
                "Threshold": n.threshold,
                "ThresholdType": n.threshold_type,
            })),
            "Subscribers": n.subscribers.iter().map(|s| json!({
                "SubscriptionType": s.subscription_type, "Address": s.address
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn print_ensured(r: &pb::EnsureBudgetResponse, output: OutputFormat, dry_run: bool) {
    let name = r
        .budget
        .as_ref()
        .and_then(|b| b.definition.as_ref())
        .map(|d| d.budget_name.clone())
        .unwrap_or_default();
    match output {
        OutputFormat::Json => print_json(&json!({
            "BudgetName": name,
            "Outcome": r.outcome,
            "DryRun": dry_run,
            "Changes": r.changes.iter().map(|c| json!({
                "Field": c.field, "Before": c.before, "After": c.after, "Action": c.action
            })).collect::<Vec<_>>(),
            "Notes": r.notes,
        })),
        OutputFormat::Table => {
            let when = if dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            };
            println!("budget {name}: {}{when}", r.outcome.to_lowercase());
            if !r.changes.is_empty() {
                let rows: Vec<Vec<String>> = r
                    .changes
                    .iter()
                    .map(|c| {
                        vec![
                            c.field.clone(),
                            c.before.clone(),
                            c.after.clone(),
                            c.action.clone(),
                        ]
                    })
                    .collect();
                print_table(&["FIELD", "BEFORE", "AFTER", "ACTION"], &rows);
            }
            for note in &r.notes {
                println!("note: {note}");
            }
        }
    }
}

async fn list(endpoints: &Endpoints, output: OutputFormat) -> Result<(), CliError> {
    let mut client = endpoints.budget().await?;
    let budgets = client
        .list_budgets(pb::ListBudgetsRequest {})
        .await?
        .into_inner()
        .budgets;
    match output {
        OutputFormat::Json => print_json(&Value::Array(
            budgets
                .iter()
                .map(|b| {
                    let mut v = definition_json(b.definition.as_ref());
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert(
                            "ActualSpend".into(),
                            json!(
                                b.actual_spend
                                    .as_ref()
                                    .map(|s| json!({"Amount": s.amount, "Unit": s.unit}))
                            ),
                        );
                        obj.insert(
                            "ForecastedSpend".into(),
                            json!(
                                b.forecasted_spend
                                    .as_ref()
                                    .map(|s| json!({"Amount": s.amount, "Unit": s.unit}))
                            ),
                        );
                        obj.insert("Managed".into(), json!(b.managed));
                    }
                    v
                })
                .collect(),
        )),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = budgets
                .iter()
                .map(|b| {
                    let d = b.definition.clone().unwrap_or_default();
                    vec![
                        d.budget_name.clone(),
                        kind_name(d.kind).into(),
                        spend_text(d.budget_limit.as_ref()),
                        d.time_unit.clone(),
                        spend_text(b.actual_spend.as_ref()),
                        spend_text(b.forecasted_spend.as_ref()),
                        if b.managed { "yes" } else { "no" }.into(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "NAME", "KIND", "LIMIT", "PERIOD", "ACTUAL", "FORECAST", "MANAGED",
                ],
                &rows,
            );
        }
    }
    Ok(())
}
