//! What the API does with budget actions, over domain types: ensure (create, or correct
//! in place), list, delete, execute. Every change refuses root credentials first.

use super::ActionSpec;
use super::LiveAction;
use super::aws::Execution;
use super::diff::{self, ActionPlan};
use crate::diff::Change;
use crate::domain::BudgetName;
use crate::error::Error;
use crate::service::{Budgets, Outcome};

/// The answer to EnsureBudgetAction.
#[derive(Debug, Clone)]
pub struct EnsuredAction {
    pub outcome: Outcome,
    pub changes: Vec<Change>,
    /// The action's id; empty for a dry run of a creation.
    pub id: String,
    pub status: String,
    pub spec: ActionSpec,
}

impl Budgets {
    /// Creates the action or brings the live one with the same key to `spec`, in place.
    #[tracing::instrument(skip_all, fields(budget = spec.budget.as_str(), action = %spec.key(), dry_run))]
    pub async fn ensure_action(
        &self,
        spec: ActionSpec,
        dry_run: bool,
    ) -> Result<EnsuredAction, Error> {
        self.guard("EnsureBudgetAction").await?;
        let live = self.aws().actions(&spec.budget).await?;
        let status_of = |id: &str| {
            live.iter()
                .find(|a| a.id == id)
                .map(|a| a.status.clone())
                .unwrap_or_default()
        };
        match diff::plan(&live, &spec) {
            ActionPlan::Unchanged { id } => Ok(EnsuredAction {
                outcome: Outcome::Unchanged,
                changes: Vec::new(),
                status: status_of(&id),
                id,
                spec,
            }),
            ActionPlan::Update { id, changes } => {
                if !dry_run {
                    self.aws().update_action(&id, &spec).await?;
                    tracing::info!(changes = changes.len(), "budget action updated");
                }
                Ok(EnsuredAction {
                    outcome: Outcome::Updated,
                    changes,
                    status: status_of(&id),
                    id,
                    spec,
                })
            }
            ActionPlan::Create => {
                let id = if dry_run {
                    String::new()
                } else {
                    let id = self.aws().create_action(&spec).await?;
                    tracing::info!(action_id = %id, "budget action created");
                    id
                };
                Ok(EnsuredAction {
                    outcome: Outcome::Created,
                    changes: Vec::new(),
                    status: if dry_run {
                        String::new()
                    } else {
                        "STANDBY".into()
                    },
                    id,
                    spec,
                })
            }
        }
    }

    /// The budget's actions as AWS holds them.
    #[tracing::instrument(skip_all, fields(budget = name.as_str()))]
    pub async fn list_actions(&self, name: &BudgetName) -> Result<Vec<LiveAction>, Error> {
        self.aws().actions(name).await
    }

    /// Deletes the action `id`; `false` when there was none.
    #[tracing::instrument(skip_all, fields(budget = name.as_str(), action_id = id))]
    pub async fn delete_action(&self, name: &BudgetName, id: &str) -> Result<bool, Error> {
        self.guard("DeleteBudgetAction").await?;
        let deleted = self.aws().delete_action(name, id).await?;
        tracing::info!(deleted, "budget action deleted");
        Ok(deleted)
    }

    /// A person's decision on an action: approve, reverse, reset or retry it. Returns the
    /// action as it is afterwards.
    #[tracing::instrument(skip_all, fields(budget = name.as_str(), action_id = id, execution = execution.as_str()))]
    pub async fn execute_action(
        &self,
        name: &BudgetName,
        id: &str,
        execution: Execution,
    ) -> Result<Option<LiveAction>, Error> {
        self.guard("ExecuteBudgetAction").await?;
        let live = self.aws().actions(name).await?;
        if !live.iter().any(|a| a.id == id) {
            return Err(Error::not_found(format!(
                "budget {name} has no action {id}; ListBudgetActions shows its actions"
            )));
        }
        self.aws().execute_action(name, id, execution).await?;
        tracing::info!("budget action executed");
        Ok(self
            .aws()
            .actions(name)
            .await?
            .into_iter()
            .find(|a| a.id == id))
    }
}
