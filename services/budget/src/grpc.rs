//! The `groundwork.v1.Budget` gRPC service: converts wire types to domain types at once
//! (validation happens here, before any AWS call) and calls [`Budgets`].

use std::sync::Arc;

use groundwork_proto::v1 as pb;
use pb::budget_server::Budget;
use tonic::{Request, Response, Status};

use crate::account_plan;
use crate::actions::{self, aws::Execution, service::EnsuredAction};
use crate::domain::BudgetName;
use crate::error::Error;
use crate::import;
use crate::service::{Budgets, Ensured, View};
use crate::wire;

/// The gRPC face of the budget service.
#[derive(Debug, Clone)]
pub struct BudgetApi {
    budgets: Arc<Budgets>,
}

impl BudgetApi {
    pub fn new(budgets: Arc<Budgets>) -> Self {
        Self { budgets }
    }
}

fn view_to_pb(view: &View) -> pb::BudgetView {
    pb::BudgetView {
        definition: Some(wire::spec_to_pb(&view.spec)),
        actual_spend: view.actual.as_ref().map(wire::money_to_pb),
        forecasted_spend: view.forecast.as_ref().map(wire::money_to_pb),
        last_updated_time: view.last_updated.map(wire::time_to_pb),
        managed: view.managed,
    }
}

fn ensured_to_pb(e: &Ensured) -> pb::EnsureBudgetResponse {
    pb::EnsureBudgetResponse {
        outcome: e.outcome.as_str().to_owned(),
        changes: e
            .changes
            .iter()
            .map(|c| pb::BudgetChange {
                field: c.field.clone(),
                before: c.before.clone(),
                after: c.after.clone(),
                action: c.action.to_owned(),
            })
            .collect(),
        budget: Some(view_to_pb(&e.view)),
        notes: e.notes.clone(),
    }
}

fn name_from(text: &str) -> Result<BudgetName, Error> {
    Ok(BudgetName::parse(text, "budget_name")?)
}

#[tonic::async_trait]
impl Budget for BudgetApi {
    #[tracing::instrument(skip_all, fields(budget = request.get_ref().budget.as_ref().map(|b| b.budget_name.as_str()).unwrap_or_default()))]
    async fn ensure_budget(
        &self,
        request: Request<pb::EnsureBudgetRequest>,
    ) -> Result<Response<pb::EnsureBudgetResponse>, Status> {
        let request = request.into_inner();
        let def = request
            .budget
            .ok_or_else(|| Error::invalid("budget", "a budget is required"))?;
        let spec = wire::spec_from_pb(&def, "budget").map_err(Error::from)?;
        let ensured = self.budgets.ensure(spec, request.dry_run).await?;
        Ok(Response::new(ensured_to_pb(&ensured)))
    }

    #[tracing::instrument(skip_all, fields(budget = %request.get_ref().budget_name))]
    async fn get_budget(
        &self,
        request: Request<pb::GetBudgetRequest>,
    ) -> Result<Response<pb::GetBudgetResponse>, Status> {
        let name = name_from(&request.get_ref().budget_name)?;
        let view = self.budgets.get(&name).await?;
        Ok(Response::new(pb::GetBudgetResponse {
            budget: Some(view_to_pb(&view)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_budgets(
        &self,
        _request: Request<pb::ListBudgetsRequest>,
    ) -> Result<Response<pb::ListBudgetsResponse>, Status> {
        let views = self.budgets.list().await?;
        Ok(Response::new(pb::ListBudgetsResponse {
            budgets: views.iter().map(view_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(budget = %request.get_ref().budget_name))]
    async fn delete_budget(
        &self,
        request: Request<pb::DeleteBudgetRequest>,
    ) -> Result<Response<pb::DeleteBudgetResponse>, Status> {
        let name = name_from(&request.get_ref().budget_name)?;
        self.budgets.delete(&name).await?;
        Ok(Response::new(pb::DeleteBudgetResponse {}))
    }

    #[tracing::instrument(skip_all, fields(apply = request.get_ref().apply))]
    async fn import_aws_cli_json(
        &self,
        request: Request<pb::ImportAwsCliJsonRequest>,
    ) -> Result<Response<pb::ImportAwsCliJsonResponse>, Status> {
        let request = request.into_inner();
        let def = import::from_cli_json(
            &request.budget_json,
            &request.notifications_with_subscribers_json,
        )
        .map_err(Error::from)?;
        let spec = import::validate(&def).map_err(Error::from)?;
        let result = if request.apply {
            Some(ensured_to_pb(
                &self.budgets.ensure(spec, request.dry_run).await?,
            ))
        } else {
            None
        };
        Ok(Response::new(pb::ImportAwsCliJsonResponse {
            budget: Some(def),
            result,
        }))
    }

    #[tracing::instrument(skip_all, fields(budget = request.get_ref().action.as_ref().map(|a| a.budget_name.as_str()).unwrap_or_default()))]
    async fn ensure_budget_action(
        &self,
        request: Request<pb::EnsureBudgetActionRequest>,
    ) -> Result<Response<pb::EnsureBudgetActionResponse>, Status> {
        let request = request.into_inner();
        let def = request
            .action
            .ok_or_else(|| Error::invalid("action", "an action is required"))?;
        let spec = actions::wire::action_from_pb(&def, "action").map_err(Error::from)?;
        let ensured = self.budgets.ensure_action(spec, request.dry_run).await?;
        Ok(Response::new(ensured_action_to_pb(&ensured)))
    }

    #[tracing::instrument(skip_all, fields(budget = %request.get_ref().budget_name))]
    async fn list_budget_actions(
        &self,
        request: Request<pb::ListBudgetActionsRequest>,
    ) -> Result<Response<pb::ListBudgetActionsResponse>, Status> {
        let name = name_from(&request.get_ref().budget_name)?;
        let live = self.budgets.list_actions(&name).await?;
        Ok(Response::new(pb::ListBudgetActionsResponse {
            actions: live.iter().map(actions::wire::live_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(budget = %request.get_ref().budget_name, action_id = %request.get_ref().action_id))]
    async fn delete_budget_action(
        &self,
        request: Request<pb::DeleteBudgetActionRequest>,
    ) -> Result<Response<pb::DeleteBudgetActionResponse>, Status> {
        let r = request.into_inner();
        let name = name_from(&r.budget_name)?;
        let id = action_id_from(&r.action_id)?;
        let deleted = self.budgets.delete_action(&name, &id).await?;
        Ok(Response::new(pb::DeleteBudgetActionResponse {
            outcome: if deleted { "DELETED" } else { "ABSENT" }.to_owned(),
        }))
    }

    #[tracing::instrument(skip_all, fields(budget = %request.get_ref().budget_name, action_id = %request.get_ref().action_id, execution = %request.get_ref().execution_type))]
    async fn execute_budget_action(
        &self,
        request: Request<pb::ExecuteBudgetActionRequest>,
    ) -> Result<Response<pb::ExecuteBudgetActionResponse>, Status> {
        let r = request.into_inner();
        let name = name_from(&r.budget_name)?;
        let id = action_id_from(&r.action_id)?;
        let execution =
            Execution::parse(&r.execution_type, "execution_type").map_err(Error::from)?;
        let after = self.budgets.execute_action(&name, &id, execution).await?;
        Ok(Response::new(pb::ExecuteBudgetActionResponse {
            execution_type: execution.as_str().to_owned(),
            action: after.as_ref().map(actions::wire::live_to_pb),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn describe_account_plan(
        &self,
        _request: Request<pb::DescribeAccountPlanRequest>,
    ) -> Result<Response<pb::DescribeAccountPlanResponse>, Status> {
        let state = account_plan::read(&self.budgets.aws().clients().freetier).await;
        let watch = self.budgets.store().plan_watch().await?;
        Ok(Response::new(pb::DescribeAccountPlanResponse {
            plan: Some(account_plan::plan_to_pb(&state)),
            watch: watch.map(|w| w.to_pb()),
        }))
    }

    #[tracing::instrument(skip_all, fields(dry_run = request.get_ref().dry_run))]
    async fn ensure_account_plan_watch(
        &self,
        request: Request<pb::EnsureAccountPlanWatchRequest>,
    ) -> Result<Response<pb::EnsureAccountPlanWatchResponse>, Status> {
        let request = request.into_inner();
        let watch = request
            .watch
            .as_ref()
            .ok_or_else(|| Error::invalid("watch", "a watch is required"))?;
        let watch = account_plan::PlanWatch::from_pb(watch)?;
        let (outcome, state) =
            account_plan::ensure_watch(&self.budgets, watch, request.dry_run).await?;
        Ok(Response::new(pb::EnsureAccountPlanWatchResponse {
            outcome: outcome.to_owned(),
            plan: Some(account_plan::plan_to_pb(&state)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_account_plan_watch(
        &self,
        _request: Request<pb::DeleteAccountPlanWatchRequest>,
    ) -> Result<Response<pb::DeleteAccountPlanWatchResponse>, Status> {
        self.budgets.store().delete_plan_watch().await?;
        Ok(Response::new(pb::DeleteAccountPlanWatchResponse {}))
    }
}

fn ensured_action_to_pb(e: &EnsuredAction) -> pb::EnsureBudgetActionResponse {
    pb::EnsureBudgetActionResponse {
        outcome: e.outcome.as_str().to_owned(),
        changes: e
            .changes
            .iter()
            .map(|c| pb::BudgetChange {
                field: c.field.clone(),
                before: c.before.clone(),
                after: c.after.clone(),
                action: c.action.to_owned(),
            })
            .collect(),
        action: Some(pb::BudgetActionView {
            action_id: e.id.clone(),
            definition: Some(actions::wire::action_to_pb(&e.spec)),
            status: e.status.clone(),
        }),
    }
}

/// An action id is AWS's UUID (36 characters).
fn action_id_from(text: &str) -> Result<String, Error> {
    let ok = text.len() == 36
        && text.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if ok {
        Ok(text.to_owned())
    } else {
        Err(Error::invalid(
            "action_id",
            format!("'{text}' is not a budget action id (a UUID; ListBudgetActions shows them)"),
        ))
    }
}
