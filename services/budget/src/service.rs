//! What the API does, over domain types: ensure (create, or correct drift in place),
//! get, list, delete. AWS calls go through [`BudgetsApi`]; facts are published on the bus
//! after they happened; managed budgets are recorded for the watcher.

use groundwork_bus::Emitter;
use groundwork_cloud::RootPolicy;
use groundwork_events::catalog::{
    BudgetChange, BudgetCreated, BudgetDeleted, BudgetLimit, BudgetNotification, BudgetState,
    BudgetUpdated, CatalogEvent,
};

use crate::aws::{AwsBudget, BudgetsApi};
use crate::diff::{self, Change, Step};
use crate::domain::{BudgetName, BudgetSpec, Money};
use crate::error::{Error, ErrorKind};
use crate::sns_policy;
use crate::state::WatchStore;

/// What EnsureBudget did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Updated => "UPDATED",
            Self::Unchanged => "UNCHANGED",
        }
    }
}

/// A budget with its spend, as the API shows it.
#[derive(Debug, Clone)]
pub struct View {
    pub spec: BudgetSpec,
    pub actual: Option<Money>,
    pub forecast: Option<Money>,
    pub last_updated: Option<time::OffsetDateTime>,
    pub managed: bool,
}

/// The answer to EnsureBudget.
#[derive(Debug, Clone)]
pub struct Ensured {
    pub outcome: Outcome,
    pub changes: Vec<Change>,
    pub view: View,
    pub notes: Vec<String>,
}

/// The budget service's logic.
#[derive(Debug)]
pub struct Budgets {
    aws: BudgetsApi,
    store: WatchStore,
    emitter: Emitter,
}

/// The ARN of a budget, for events' `resources`.
pub fn budget_arn(account: &str, name: &BudgetName) -> String {
    format!("arn:aws:budgets::{account}:budget/{}", name.as_str())
}

fn changes_detail(changes: &[Change]) -> Vec<BudgetChange> {
    changes
        .iter()
        .map(|c| BudgetChange {
            field: c.field.clone(),
            before: c.before.clone(),
            after: c.after.clone(),
            action: c.action.to_owned(),
        })
        .collect()
}

fn spec_detail(spec: &BudgetSpec) -> BudgetState {
    BudgetState {
        budget: spec.name.as_str().to_owned(),
        limit: spec.limit.as_ref().map(|m| BudgetLimit {
            amount: m.amount.as_str().to_owned(),
            unit: m.currency.as_str().to_owned(),
        }),
        time_unit: spec.time_unit.as_str().to_owned(),
        kind: spec.scope.name().to_owned(),
        notifications: spec
            .notifications
            .iter()
            .map(|n| BudgetNotification {
                notification_type: n.key.notification_type.as_str().to_owned(),
                comparison_operator: n.key.comparison.as_str().to_owned(),
                threshold: n.key.threshold.value(),
                threshold_type: n.key.threshold_type.as_str().to_owned(),
                // Addresses stay out of events: they are personal data, not facts about spend.
                subscribers: n.subscribers.as_ref().map(|s| s.len()),
            })
            .collect(),
    }
}

impl Budgets {
    pub fn new(aws: BudgetsApi, store: WatchStore, emitter: Emitter) -> Self {
        Self {
            aws,
            store,
            emitter,
        }
    }

    pub fn aws(&self) -> &BudgetsApi {
        &self.aws
    }

    pub fn store(&self) -> &WatchStore {
        &self.store
    }

    pub fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    /// Refuses root credentials for changes; returns the account id.
    pub(crate) async fn guard(&self, operation: &str) -> Result<String, Error> {
        let identity = self.aws.identity().await?;
        identity.require(operation, RootPolicy::Refuse)?;
        Ok(identity.account)
    }

    async fn emit<E: CatalogEvent>(&self, event: &E, account: &str, name: &BudgetName) {
        let resources = vec![budget_arn(account, name)];
        if let Err(e) = self.emitter.emit_event(event, resources).await {
            tracing::error!(error = %e, detail_type = E::DETAIL_TYPE, budget = name.as_str(), "event refused by the bus");
        }
    }

    /// Creates the budget or brings the existing one to `spec`, in place.
    #[tracing::instrument(skip_all, fields(budget = spec.name.as_str(), dry_run))]
    pub async fn ensure(&self, spec: BudgetSpec, dry_run: bool) -> Result<Ensured, Error> {
        let account = self.guard("EnsureBudget").await?;
        let mut notes = Vec::new();
        // Before anything is created: alerts to a topic AWS Budgets cannot publish to
        // would be lost silently.
        for topic in spec.topics() {
            notes.extend(
                sns_policy::ensure_topic_allows_budgets(
                    self.aws.clients(),
                    &topic,
                    &account,
                    !dry_run,
                )
                .await?,
            );
        }
        let existing = self.aws.describe(&spec.name).await?;
        let existing = match existing {
            Some(e) => Some(e),
            None if dry_run => None,
            None => {
                if self.aws.create(&spec).await? {
                    self.store.mark_managed(&spec.name).await?;
                    self.emit(&BudgetCreated(spec_detail(&spec)), &account, &spec.name)
                        .await;
                    tracing::info!("budget created");
                    return Ok(Ensured {
                        outcome: Outcome::Created,
                        changes: Vec::new(),
                        view: View {
                            spec,
                            actual: None,
                            forecast: None,
                            last_updated: None,
                            managed: true,
                        },
                        notes,
                    });
                }
                // Someone else created it meanwhile: correct it like any existing one.
                self.aws.describe(&spec.name).await?
            }
        };
        let Some(existing) = existing else {
            return Ok(Ensured {
                outcome: Outcome::Created,
                changes: Vec::new(),
                view: View {
                    spec,
                    actual: None,
                    forecast: None,
                    last_updated: None,
                    managed: false,
                },
                notes,
            });
        };
        self.correct(existing, spec, dry_run, notes, &account).await
    }

    async fn correct(
        &self,
        existing: AwsBudget,
        spec: BudgetSpec,
        dry_run: bool,
        mut notes: Vec<String>,
        account: &str,
    ) -> Result<Ensured, Error> {
        if existing.budget_type != "COST" {
            return Err(Error::failed_precondition(format!(
                "budget {} exists as a {} budget; Groundwork manages COST budgets. Choose another \
                 name, or delete that budget first",
                spec.name, existing.budget_type
            )));
        }
        let plan = diff::plan(&existing.spec, &spec);
        if plan.subscribers_unverified {
            notes.push(
                "subscribers were not compared: reading them (DescribeSubscribersForNotification) \
                 is switched off (GROUNDWORK_BUDGET__READ_SUBSCRIBERS=false)"
                    .to_owned(),
            );
        }
        let view = |managed| View {
            spec: spec.clone(),
            actual: existing.actual.clone(),
            forecast: existing.forecast.clone(),
            last_updated: existing.last_updated,
            managed,
        };
        if dry_run {
            let managed = self.store.is_managed(&spec.name).await?;
            let outcome = if plan.is_empty() {
                Outcome::Unchanged
            } else {
                Outcome::Updated
            };
            return Ok(Ensured {
                outcome,
                changes: plan.changes,
                view: view(managed),
                notes,
            });
        }
        for step in &plan.steps {
            tracing::info!(action = step.action(), "correcting the budget in place");
            match step {
                Step::UpdateBudget => self.aws.update_budget(&spec).await?,
                Step::UpdateNotification { old, new } => {
                    self.aws.update_notification(&spec.name, old, new).await?;
                }
                Step::CreateSubscriber { key, subscriber } => {
                    self.aws
                        .create_subscriber(&spec.name, key, subscriber)
                        .await?;
                }
                Step::DeleteSubscriber { key, subscriber } => {
                    self.aws
                        .delete_subscriber(&spec.name, key, subscriber)
                        .await?;
                }
                Step::DeleteNotification { key } => {
                    self.aws.delete_notification(&spec.name, key).await?;
                }
                Step::CreateNotification { key, subscribers } => {
                    self.aws
                        .create_notification(&spec.name, key, subscribers)
                        .await?;
                }
            }
        }
        self.store.mark_managed(&spec.name).await?;
        if plan.is_empty() {
            return Ok(Ensured {
                outcome: Outcome::Unchanged,
                changes: Vec::new(),
                view: view(true),
                notes,
            });
        }
        let detail = BudgetUpdated {
            budget: spec_detail(&spec),
            changes: changes_detail(&plan.changes),
        };
        self.emit(&detail, account, &spec.name).await;
        Ok(Ensured {
            outcome: Outcome::Updated,
            changes: plan.changes,
            view: view(true),
            notes,
        })
    }

    #[tracing::instrument(skip_all, fields(budget = name.as_str()))]
    pub async fn get(&self, name: &BudgetName) -> Result<View, Error> {
        let budget = self.aws.describe(name).await?.ok_or_else(|| {
            Error::not_found(format!("budget {name} does not exist in this account"))
        })?;
        let managed = self.store.is_managed(name).await?;
        Ok(View {
            spec: budget.spec,
            actual: budget.actual,
            forecast: budget.forecast,
            last_updated: budget.last_updated,
            managed,
        })
    }

    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<View>, Error> {
        let managed = self.store.managed().await?;
        let mut views: Vec<View> = self
            .aws
            .list()
            .await?
            .into_iter()
            .map(|b| View {
                managed: managed.contains(&b.spec.name),
                spec: b.spec,
                actual: b.actual,
                forecast: b.forecast,
                last_updated: b.last_updated,
            })
            .collect();
        views.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        Ok(views)
    }

    #[tracing::instrument(skip_all, fields(budget = name.as_str()))]
    pub async fn delete(&self, name: &BudgetName) -> Result<(), Error> {
        let account = self.guard("DeleteBudget").await?;
        match self.aws.delete(name).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Forget it anyway, so the watcher stops looking for it.
                self.store.unmark_managed(name).await?;
                return Err(Error::not_found(format!(
                    "budget {name} does not exist in this account"
                )));
            }
            Err(e) => return Err(e),
        }
        self.store.unmark_managed(name).await?;
        self.emit(
            &BudgetDeleted {
                budget: name.as_str().to_owned(),
            },
            &account,
            name,
        )
        .await;
        tracing::info!("budget deleted");
        Ok(())
    }
}
