//! The `groundwork.v1.Orchestrator` service: wire types converted at once, the work done
//! by the engine, runs followed through KV watches.

use std::pin::Pin;

use futures::StreamExt;
use groundwork_proto::v1 as pb;
use secrecy::ExposeSecret;
use tokio_stream::Stream;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status};

use crate::engine::Engine;
use crate::error::{Error, invalid_spec};
use crate::machine::{RunStatus, StepState};
use crate::plan::{Action, Plan, diff};
use crate::resource::{Desired, Kind, Resource, resources};
use crate::run::{self, Run, RunKind, rfc3339};
use crate::runner::OneTimeSecret;
use crate::spec::{self, Spec, SpecError, SpecProblem};

type RunStream = Pin<Box<dyn Stream<Item = Result<pb::SetupRunUpdate, Status>> + Send>>;

/// The gRPC API.
#[derive(Debug, Clone)]
pub struct OrchestratorApi {
    engine: Engine,
}

impl OrchestratorApi {
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

/// Resources of the plan: console steps are checks, not resources.
fn planned(spec: &Spec) -> Vec<Resource> {
    resources(spec)
        .into_iter()
        .filter(|r| r.kind() != Kind::ConsoleStep)
        .collect()
}

fn action(a: Action) -> pb::PlanAction {
    match a {
        Action::Create => pb::PlanAction::Create,
        Action::Update => pb::PlanAction::Update,
        Action::Unchanged => pb::PlanAction::Unchanged,
        Action::Delete => pb::PlanAction::Delete,
    }
}

fn plan_to_pb(plan: &Plan) -> pb::PlanSpecResponse {
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    pb::PlanSpecResponse {
        account_plan: None,
        noop: plan.is_noop(),
        changes: plan
            .changes
            .iter()
            .map(|c| pb::PlanChange {
                resource: c.id.0.clone(),
                kind: c.kind.as_str().into(),
                action: action(c.action) as i32,
                fields: c
                    .fields
                    .iter()
                    .map(|f| pb::PlanFieldChange {
                        field: f.field.clone(),
                        before_json: json(&f.before),
                        after_json: json(&f.after),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn state(s: StepState) -> pb::SetupStepState {
    match s {
        StepState::Pending => pb::SetupStepState::Pending,
        StepState::Running => pb::SetupStepState::Running,
        StepState::Backoff => pb::SetupStepState::Backoff,
        StepState::Waiting => pb::SetupStepState::Waiting,
        StepState::Succeeded => pb::SetupStepState::Succeeded,
        StepState::ActionRequired => pb::SetupStepState::ActionRequired,
        StepState::Failed => pb::SetupStepState::Failed,
        StepState::Cancelled => pb::SetupStepState::Cancelled,
    }
}

fn status(s: RunStatus) -> pb::SetupRunStatus {
    match s {
        RunStatus::Pending => pb::SetupRunStatus::Pending,
        RunStatus::Running => pb::SetupRunStatus::Running,
        RunStatus::Waiting => pb::SetupRunStatus::Waiting,
        RunStatus::Completed => pb::SetupRunStatus::Completed,
        RunStatus::Failed => pb::SetupRunStatus::Failed,
    }
}

/// A run on the wire (no secrets: the record holds none).
pub fn run_to_pb(run: &Run) -> pb::SetupRun {
    pb::SetupRun {
        run_id: run.id.clone(),
        kind: match run.kind {
            RunKind::Apply => pb::SetupRunKind::Apply,
            RunKind::Destroy => pb::SetupRunKind::Destroy,
        } as i32,
        status: status(run.status) as i32,
        steps: run
            .steps
            .iter()
            .map(|s| pb::SetupStep {
                resource: s.resource.id.0.clone(),
                kind: s.resource.kind().as_str().into(),
                state: state(s.state) as i32,
                attempts: s.attempts,
                outcome: s.outcome.clone(),
                error: s.error.clone(),
                instructions: s.instructions.clone(),
                outputs: s.outputs.clone().into_iter().collect(),
                depends_on: s.resource.depends_on.iter().map(|d| d.0.clone()).collect(),
            })
            .collect(),
        error: run.error.clone(),
        created_at: rfc3339(run.created_at_ms),
        updated_at: rfc3339(run.updated_at_ms),
    }
}

fn secrets_to_pb(secrets: Vec<OneTimeSecret>) -> Vec<pb::OneTimeSecret> {
    secrets
        .into_iter()
        .map(|s| pb::OneTimeSecret {
            resource: s.resource,
            name: s.name,
            value: s.value.expose_secret().to_owned(),
            png: s
                .png
                .map(|p| p.expose_secret().to_vec())
                .unwrap_or_default(),
            expires_at: if s.expires_at_ms > 0 {
                rfc3339(s.expires_at_ms)
            } else {
                String::new()
            },
            id: s.id,
        })
        .collect()
}

impl OrchestratorApi {
    /// What only the account can tell about a valid spec: that every IAM policy it names
    /// exists. Problems carry the spec path and, when the ARN is found in `text`, its line.
    async fn live_problems(&self, spec: &Spec, text: &str) -> Result<Vec<SpecProblem>, Error> {
        let Some(identity) = &spec.identity else {
            return Ok(Vec::new());
        };
        let named: Vec<(String, String)> = [
            ("group_policies", &identity.group_policies),
            ("user_policies", &identity.user_policies),
        ]
        .into_iter()
        .flat_map(|(field, list)| {
            list.iter()
                .enumerate()
                .map(move |(i, p)| (format!("identity.{field}[{i}]"), p.as_str().to_owned()))
        })
        .collect();
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let arns: Vec<String> = named.iter().map(|(_, arn)| arn.clone()).collect();
        let missing = self.engine.runner().missing_policies(&arns).await?;
        Ok(named
            .into_iter()
            .filter(|(_, arn)| missing.contains(arn))
            .map(|(path, arn)| SpecProblem {
                line: text
                    .lines()
                    .position(|l| l.contains(&format!("\"{arn}\"")))
                    .map(|i| i + 1),
                reason: format!("the IAM policy {arn} does not exist in this account"),
                path,
            })
            .collect())
    }

    /// The spec, checked offline and against the account; nothing is changed.
    /// What earlier applies made that left the spec and that Destroy would remove: an
    /// apply deletes it, as the plan says.
    async fn removed(&self, desired: &[Resource]) -> Result<Vec<Resource>, Error> {
        let runs = self.engine.store().list().await?;
        Ok(run::managed(&runs)
            .into_iter()
            .filter(|r| r.kind().destroyable() && !desired.iter().any(|d| d.id == r.id))
            .collect())
    }

    async fn checked(&self, text: &str) -> Result<Spec, Error> {
        let spec = spec::parse(text).map_err(invalid_spec)?;
        let problems = self.live_problems(&spec, text).await?;
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(invalid_spec(SpecError { problems }))
        }
    }

    /// Refuses an empty or unknown run id.
    async fn known(&self, id: &str) -> Result<(), Error> {
        if id.is_empty() {
            return Err(Error::invalid("run_id", "a run id is required"));
        }
        match self.engine.store().get(id).await? {
            Some(_) => Ok(()),
            None => Err(Error::not_found(format!("no run {id}"))),
        }
    }

    /// Follows a run until it is terminal, merging secrets (apply only) into the updates.
    /// `waiting` (secrets that already wait for the person) go in the first update, with
    /// the run: a client that stops at the first WAITING still receives them.
    async fn follow(
        &self,
        run_id: &str,
        with_secrets: bool,
        waiting: Vec<OneTimeSecret>,
    ) -> Result<RunStream, Error> {
        let mut waiting = Some(waiting);
        let secrets = with_secrets.then(|| self.engine.secrets().attach(run_id));
        let watch = self.engine.store().watch(run_id).await?;
        enum Item {
            Run(Result<Run, Error>),
            Secrets(Vec<OneTimeSecret>),
        }
        let runs = watch.map(Item::Run);
        let merged: Pin<Box<dyn Stream<Item = Item> + Send>> = match secrets {
            Some(rx) => Box::pin(futures::stream::select(
                runs,
                UnboundedReceiverStream::new(rx).map(Item::Secrets),
            )),
            None => Box::pin(runs),
        };
        let mut last: Option<pb::SetupRun> = None;
        let stream = merged.filter_map(move |item| {
            let out = match item {
                Item::Run(Ok(run)) => {
                    let terminal = run.status.is_terminal()
                        && !run.steps.iter().any(|s| s.state == StepState::Running);
                    let pb_run = run_to_pb(&run);
                    last = Some(pb_run.clone());
                    Some(Ok((
                        pb::SetupRunUpdate {
                            run: Some(pb_run),
                            secrets: secrets_to_pb(waiting.take().unwrap_or_default()),
                        },
                        terminal,
                    )))
                }
                Item::Run(Err(e)) => Some(Err(Status::from(e))),
                Item::Secrets(s) => Some(Ok((
                    pb::SetupRunUpdate {
                        run: last.clone(),
                        secrets: secrets_to_pb(s),
                    },
                    false,
                ))),
            };
            futures::future::ready(out)
        });
        // End the stream right after the first terminal update: a marker follows it at
        // once, so the end does not wait for a further change of the run (there is none).
        let stream = stream
            .flat_map(|item| {
                let end = matches!(&item, Ok((_, true)));
                futures::stream::iter(std::iter::once(Some(item)).chain(end.then_some(None)))
            })
            .take_while(|item| futures::future::ready(item.is_some()))
            .filter_map(futures::future::ready);
        // A follower must not hold the server open at shutdown: its stream ends with
        // UNAVAILABLE, and the run goes on where another orchestrator picks it up.
        let shutdown = self.engine.shutdown().clone();
        let stopped = shutdown.clone();
        let watch_again = format!(
            "the orchestrator is shutting down; run {run_id} goes on: follow it again with \
             `groundwork watch {run_id}` once an orchestrator is up"
        );
        let stream = stream
            .map(|r| Some(r.map(|(u, _)| u)))
            .take_until(shutdown.wait_owned())
            .chain(futures::stream::once(async move {
                stopped
                    .is_triggered()
                    .then(|| Err(Status::unavailable(watch_again)))
            }))
            .filter_map(futures::future::ready);
        Ok(Box::pin(stream))
    }
}

#[tonic::async_trait]
impl pb::orchestrator_server::Orchestrator for OrchestratorApi {
    #[tracing::instrument(skip_all)]
    async fn validate_spec(
        &self,
        request: Request<pb::ValidateSpecRequest>,
    ) -> Result<Response<pb::ValidateSpecResponse>, Status> {
        let text = &request.get_ref().spec_toml;
        let problems = match spec::parse(text) {
            Ok(spec) => self.live_problems(&spec, text).await?,
            Err(e) => e.problems,
        };
        let problems: Vec<pb::SpecProblem> = problems
            .into_iter()
            .map(|p| pb::SpecProblem {
                path: p.path,
                line: p.line.unwrap_or(0) as u32,
                reason: p.reason,
            })
            .collect();
        Ok(Response::new(pb::ValidateSpecResponse {
            valid: problems.is_empty(),
            problems,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn plan_spec(
        &self,
        request: Request<pb::PlanSpecRequest>,
    ) -> Result<Response<pb::PlanSpecResponse>, Status> {
        let spec = self.checked(&request.get_ref().spec_toml).await?;
        let desired = planned(&spec);
        let removed = self.removed(&desired).await?;
        let read: Vec<Resource> = desired.iter().chain(&removed).cloned().collect();
        let live = self.engine.runner().read_live(&read).await?;
        let mut response = plan_to_pb(&diff(&desired, &live, &removed));
        // The Free plan's credits and end date, where the spec asks about the plan.
        let asks = desired.iter().any(|r| match &r.desired {
            Desired::AccountPlan(_) => true,
            Desired::Budget(b) => b.limit_usd == spec::BudgetLimit::REMAINING_CREDITS,
            _ => false,
        });
        if asks {
            response.account_plan = self.engine.runner().account_plan().await?;
        }
        Ok(Response::new(response))
    }

    type ApplySpecStream = RunStream;

    #[tracing::instrument(skip_all, fields(resume = %request.get_ref().resume_run_id))]
    async fn apply_spec(
        &self,
        request: Request<pb::ApplySpecRequest>,
    ) -> Result<Response<Self::ApplySpecStream>, Status> {
        let req = request.into_inner();
        if !req.resume_run_id.is_empty() {
            let id = &req.resume_run_id;
            // Attach first, so that secrets of re-run steps reach this client; the ones that
            // still wait for the person come first.
            let waiting = self.engine.vault().waiting(id, run::now_ms()).await?;
            let stream = self.follow(id, true, waiting).await?;
            self.engine.resume(id).await?;
            return Ok(Response::new(stream));
        }
        let spec = self.checked(&req.spec_toml).await?;
        let desired = resources(&spec);
        let removed = self.removed(&desired).await?;
        let run = Engine::prepare_apply(desired, removed)?;
        // Attach to the run's secrets before it starts: the admin step's initial password
        // may come back before a later attach, and would then reach nobody.
        let stream = self.follow(&run.id, true, Vec::new()).await?;
        self.engine.launch(&run).await?;
        Ok(Response::new(stream))
    }

    type DestroySpecStream = RunStream;

    #[tracing::instrument(skip_all)]
    async fn destroy_spec(
        &self,
        request: Request<pb::DestroySpecRequest>,
    ) -> Result<Response<Self::DestroySpecStream>, Status> {
        let spec = spec::parse(&request.get_ref().spec_toml).map_err(invalid_spec)?;
        // The account password policy is removed only when an apply of ours created it;
        // one that was there before stays as it is.
        let runs = self.engine.store().list().await?;
        let policy_is_ours = runs.iter().any(|r| {
            r.kind == RunKind::Apply
                && r.steps
                    .iter()
                    .any(|s| s.resource.kind() == Kind::PasswordPolicy && s.outcome == "created")
        });
        let run = self
            .engine
            .start(
                RunKind::Destroy,
                resources(&spec)
                    .into_iter()
                    .filter(|r| {
                        r.kind().destroyable()
                            || (policy_is_ours && r.kind() == Kind::PasswordPolicy)
                    })
                    .collect(),
            )
            .await?;
        Ok(Response::new(
            self.follow(&run.id, false, Vec::new()).await?,
        ))
    }

    type WatchRunStream = RunStream;

    #[tracing::instrument(skip_all, fields(run = %request.get_ref().run_id))]
    async fn watch_run(
        &self,
        request: Request<pb::WatchRunRequest>,
    ) -> Result<Response<Self::WatchRunStream>, Status> {
        let id = &request.get_ref().run_id;
        if self.engine.store().get(id).await?.is_none() {
            return Err(Error::not_found(format!("no run {id}")).into());
        }
        Ok(Response::new(self.follow(id, false, Vec::new()).await?))
    }

    async fn get_run(
        &self,
        request: Request<pb::GetRunRequest>,
    ) -> Result<Response<pb::SetupRun>, Status> {
        let id = &request.get_ref().run_id;
        // An empty id is no KV key: it was answered UNAVAILABLE by the store.
        if id.is_empty() {
            return Err(Error::invalid("run_id", "a run id is required").into());
        }
        match self.engine.store().get(id).await? {
            Some((run, _)) => Ok(Response::new(run_to_pb(&run))),
            None => Err(Error::not_found(format!("no run {id}")).into()),
        }
    }

    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        let limit = match request.get_ref().limit {
            0 => 20,
            n => n as usize,
        };
        let runs = self.engine.store().list().await?;
        Ok(Response::new(pb::ListRunsResponse {
            runs: runs.iter().take(limit).map(run_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(run = %request.get_ref().run_id))]
    async fn fetch_one_time_secrets(
        &self,
        request: Request<pb::FetchOneTimeSecretsRequest>,
    ) -> Result<Response<pb::FetchOneTimeSecretsResponse>, Status> {
        let id = &request.get_ref().run_id;
        self.known(id).await?;
        let waiting = self.engine.vault().waiting(id, run::now_ms()).await?;
        Ok(Response::new(pb::FetchOneTimeSecretsResponse {
            secrets: secrets_to_pb(waiting),
        }))
    }

    #[tracing::instrument(skip_all, fields(run = %request.get_ref().run_id))]
    async fn ack_one_time_secrets(
        &self,
        request: Request<pb::AckOneTimeSecretsRequest>,
    ) -> Result<Response<pb::AckOneTimeSecretsResponse>, Status> {
        let req = request.into_inner();
        let how = match req.delivery() {
            pb::SecretDelivery::Terminal => "terminal",
            pb::SecretDelivery::SealedFile => "sealed-file",
            pb::SecretDelivery::Unspecified => {
                return Err(Error::invalid(
                    "delivery",
                    "say how the secrets reached the person: TERMINAL or SEALED_FILE",
                )
                .into());
            }
        };
        self.known(&req.run_id).await?;
        let (delivered, remaining) = self
            .engine
            .acknowledge(&req.run_id, &req.secret_ids, how)
            .await?;
        tracing::info!(delivered, remaining, how, "one-time secrets delivered");
        Ok(Response::new(pb::AckOneTimeSecretsResponse {
            delivered: u32::try_from(delivered).unwrap_or(u32::MAX),
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        }))
    }

    async fn draw_diagram(
        &self,
        request: Request<pb::DrawDiagramRequest>,
    ) -> Result<Response<pb::DrawDiagramResponse>, Status> {
        let req = request.get_ref();
        let spec = spec::parse(&req.spec_toml).map_err(invalid_spec)?;
        let live = if req.include_live {
            Some(self.engine.runner().read_live(&planned(&spec)).await?)
        } else {
            None
        };
        let d = crate::diagram::draw(&spec, live.as_ref());
        Ok(Response::new(pb::DrawDiagramResponse {
            conceptual: d.conceptual,
            logical: d.logical,
        }))
    }
}
