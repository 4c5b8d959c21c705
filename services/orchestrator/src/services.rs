//! The steps, done by the services over gRPC: identity (admin, MFA, password policy,
//! console checks), budget (budgets), alerting (topic, subscriptions, billing alarm) and
//! the event bus (notification rules). Every call is one of their idempotent `Ensure*`
//! RPCs or a read, so a step that runs twice (after a crash) changes nothing the second
//! time. What each kind does lives in its module under [`crate::resources`]; this is the
//! [`StepRunner`] the engine sees.

use futures::FutureExt;
use futures::future::BoxFuture;
use groundwork_proto::v1 as pb;

use crate::clients::Clients;
pub use crate::clients::ServiceUrls;
use crate::error::Error;
use crate::plan::LiveState;
use crate::resource::Resource;
use crate::resources::{self, Ctx, Reads};
use crate::run::{Run, RunKind, StepRecord};
use crate::runner::{StepResult, StepRunner};

/// The services, reached with lazily connected clients (a service that is down makes its
/// steps retry, not the orchestrator fail to start).
#[derive(Debug, Clone)]
pub struct Services {
    clients: Clients,
}

impl Services {
    pub fn new(urls: &ServiceUrls) -> Result<Self, Error> {
        Ok(Self {
            clients: Clients::new(urls)?,
        })
    }

    async fn live(&self, resources: &[Resource]) -> Result<LiveState, Error> {
        let mut reads = Reads::default();
        let mut live = LiveState::new();
        for r in resources {
            if let Some(fields) =
                resources::read_live(&self.clients, &r.desired, &mut reads).await?
            {
                live.insert(r.id.clone(), fields);
            }
        }
        Ok(live)
    }
}

impl StepRunner for Services {
    fn run<'a>(
        &'a self,
        kind: RunKind,
        step: &'a StepRecord,
        run: &'a Run,
    ) -> BoxFuture<'a, StepResult> {
        let cx = Ctx {
            clients: &self.clients,
            step,
            run,
        };
        // A step that deletes a resource the spec no longer has is a destroy in an apply.
        match (kind, step.delete) {
            (RunKind::Apply, false) => resources::apply(cx).boxed(),
            (RunKind::Apply, true) | (RunKind::Destroy, _) => {
                resources::destroy(&self.clients, &step.resource.desired).boxed()
            }
        }
    }

    fn is_done<'a>(&'a self, step: &'a StepRecord) -> BoxFuture<'a, Result<bool, Error>> {
        async move {
            // A check reads only the step itself.
            let run = Run::new(String::new(), RunKind::Apply, Vec::new());
            resources::is_done(Ctx {
                clients: &self.clients,
                step,
                run: &run,
            })
            .await
        }
        .boxed()
    }

    fn read_live<'a>(
        &'a self,
        resources: &'a [Resource],
    ) -> BoxFuture<'a, Result<LiveState, Error>> {
        self.live(resources).boxed()
    }

    fn account_plan(&self) -> BoxFuture<'_, Result<Option<pb::AccountPlan>, Error>> {
        async move {
            let described = self
                .clients
                .budget
                .clone()
                .describe_account_plan(pb::DescribeAccountPlanRequest {})
                .await
                .map_err(|e| crate::clients::read_error("budget DescribeAccountPlan", &e))?;
            Ok(described.into_inner().plan)
        }
        .boxed()
    }

    fn missing_policies<'a>(
        &'a self,
        arns: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, Error>> {
        async move {
            match self
                .clients
                .identity
                .clone()
                .check_policies(pb::CheckPoliciesRequest {
                    policy_arns: arns.to_vec(),
                })
                .await
            {
                Ok(resp) => Ok(resp.into_inner().missing),
                Err(e) if e.code() == tonic::Code::InvalidArgument => {
                    Err(Error::invalid("identity", e.message().to_owned()))
                }
                Err(e) => Err(Error::unavailable(format!(
                    "identity CheckPolicies: {}",
                    e.message()
                ))),
            }
        }
        .boxed()
    }
}
