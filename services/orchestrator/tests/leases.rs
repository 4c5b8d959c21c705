//! Run leases between orchestrator replicas, against a real nats-server with the
//! orchestrator's own NATS identity: a replica whose lease was taken over cannot overwrite
//! the new holder's progress (fencing), and a replica that is not driving a run makes the
//! one that does act at once (a nudge), not at its periodic check an hour away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use groundwork_kit::Shutdown;
use groundwork_orchestrator::engine::{Engine, EngineSettings};
use groundwork_orchestrator::error::Error;
use groundwork_orchestrator::lease::{self, LeaseSettings, Leases};
use groundwork_orchestrator::machine::{RunStatus, StepEvent, StepState};
use groundwork_orchestrator::resource::{Desired, LiveState, Resource, ResourceId, Topic};
use groundwork_orchestrator::run::{Run, RunKind, StepRecord};
use groundwork_orchestrator::runner::{StepResult, StepRunner};
use groundwork_orchestrator::store::RunStore;
use groundwork_orchestrator::vault::{SealingKey, Vault};
use groundwork_testkit::NatsServer;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn orchestrator_client(nats: &NatsServer) -> async_nats::Client {
    let common = nats.settings_for("orchestrator");
    groundwork_bus::connect::for_service(&common, "groundwork-orchestrator")
        .await
        .unwrap()
}

fn topic(name: &str) -> Resource {
    Resource {
        id: ResourceId(format!("topic/{name}")),
        desired: Desired::Topic(Topic { name: name.into() }),
        depends_on: Vec::new(),
    }
}

async fn leases(client: &async_nats::Client, replica: &str, ttl: Duration) -> Leases {
    Leases::open(
        client,
        TIMEOUT,
        1,
        replica.into(),
        LeaseSettings {
            ttl,
            heartbeat: Duration::from_millis(100),
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_replica_that_lost_its_lease_cannot_overwrite_the_new_holders_progress() {
    let nats = NatsServer::start().unwrap();
    let client = orchestrator_client(&nats).await;
    let store = RunStore::open(&client, TIMEOUT, 1).await.unwrap();
    // A lease time of zero: the lease of `a` is expired as soon as it is taken, as if `a`
    // had stopped renewing it (paused, cut off from NATS).
    let a = leases(&client, "a", Duration::ZERO).await;
    let b = leases(&client, "b", Duration::from_secs(60)).await;
    let run = Run::new("r".into(), RunKind::Apply, vec![topic("x"), topic("y")]);
    store.create(&run).await.unwrap();
    let x = ResourceId("topic/x".into());
    let y = ResourceId("topic/y".into());

    let ta = a.acquire("r", 0).await.unwrap().unwrap();
    let (stamped, _) = store
        .modify_fenced("r", ta, |r| r.step_event(&x, StepEvent::Start))
        .await
        .unwrap();
    assert_eq!(stamped.lease_token, ta, "the first write stores the token");

    // `b` takes the expired lease over with a greater token, and moves the run on.
    let tb = b.acquire("r", stamped.lease_token).await.unwrap().unwrap();
    assert!(tb > ta);
    assert_eq!(a.acquire("r", 0).await.unwrap(), None, "b holds it live");
    store
        .modify_fenced("r", tb, |r| r.step_event(&x, StepEvent::Resume))
        .await
        .unwrap();

    // `a` still thinks it drives the run: each of its writes is refused, the run keeps
    // b's progress, and its heartbeat learns that the lease is gone.
    let refused = store
        .modify_fenced("r", ta, |r| r.step_event(&y, StepEvent::Start))
        .await
        .unwrap_err();
    assert!(lease::is_lost(&refused), "{refused:?}");
    let (now, _) = store.get("r").await.unwrap().unwrap();
    assert_eq!(now.lease_token, tb);
    assert_eq!(now.step(&x).unwrap().state, StepState::Pending);
    assert_eq!(now.step(&y).unwrap().state, StepState::Pending);
    assert!(!a.renew("r", ta).await.unwrap());
    assert!(b.renew("r", tb).await.unwrap());

    // Given up, the lease is free at once, and the next token is greater still.
    b.release("r", tb).await.unwrap();
    let again = a.acquire("r", 0).await.unwrap().unwrap();
    assert!(again > tb, "{again} after {tb}");
}

/// A run of one step that waits for a person; the person is done when `done` says so.
#[derive(Debug, Default)]
struct PersonStep {
    done: AtomicBool,
}

impl StepRunner for PersonStep {
    fn run<'a>(
        &'a self,
        _kind: RunKind,
        _step: &'a StepRecord,
        _run: &'a Run,
    ) -> BoxFuture<'a, StepResult> {
        Box::pin(async {
            StepResult {
                outcome: groundwork_orchestrator::runner::StepOutcome::NeedPerson {
                    instructions: vec!["confirm".into()],
                    outputs: BTreeMap::new(),
                },
                secrets: Vec::new(),
            }
        })
    }

    fn is_done<'a>(&'a self, _step: &'a StepRecord) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async { Ok(self.done.load(Ordering::SeqCst)) })
    }

    fn missing_policies<'a>(
        &'a self,
        _arns: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, Error>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn read_live<'a>(
        &'a self,
        _resources: &'a [Resource],
    ) -> BoxFuture<'a, Result<LiveState, Error>> {
        Box::pin(async { Ok(LiveState::new()) })
    }
}

async fn engine(
    client: &async_nats::Client,
    replica: &str,
    runner: Arc<PersonStep>,
    shutdown: &Shutdown,
) -> Engine {
    let store = RunStore::open(client, TIMEOUT, 1).await.unwrap();
    let vault = Vault::open(
        client,
        TIMEOUT,
        1,
        SealingKey::ephemeral().unwrap(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    Engine::new(
        store,
        vault,
        runner,
        None,
        EngineSettings {
            // The periodic check would be an hour away: only a nudge can finish the step.
            recheck_interval: Duration::from_secs(3600),
            ..EngineSettings::default()
        },
        leases(client, replica, Duration::from_secs(60)).await,
        shutdown.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_on_a_replica_not_driving_the_run_wakes_the_driver_at_once() {
    let nats = NatsServer::start().unwrap();
    let client = orchestrator_client(&nats).await;
    let shutdown = Shutdown::new();
    let runner = Arc::new(PersonStep::default());
    let driver = engine(&client, "driver", runner.clone(), &shutdown).await;
    let other = engine(&client, "other", runner.clone(), &shutdown).await;
    tokio::spawn({
        let driver = driver.clone();
        async move { driver.follow_nudges().await }
    });

    let run = driver
        .start(RunKind::Apply, vec![topic("confirmed-by-a-person")])
        .await
        .unwrap();
    let mut watch = Box::pin(driver.store().watch(&run.id).await.unwrap());
    let waiting = tokio::time::timeout(TIMEOUT, async {
        while let Some(r) = watch.next().await {
            if r.unwrap().status == RunStatus::Waiting {
                return;
            }
        }
    })
    .await;
    assert!(waiting.is_ok(), "the run never waited for the person");
    assert_eq!(
        driver.leases().get(&run.id).await.unwrap().unwrap().holder,
        "driver"
    );

    // The person acts; the event lands on the replica that does not drive the run.
    runner.done.store(true, Ordering::SeqCst);
    assert_eq!(other.event_wakes(|_| true).await.unwrap(), 1);
    let completed = tokio::time::timeout(TIMEOUT, async {
        while let Some(r) = watch.next().await {
            if r.unwrap().status == RunStatus::Completed {
                return;
            }
        }
    })
    .await;
    assert!(
        completed.is_ok(),
        "the driver did not act on the nudge: {:?}",
        driver.store().get(&run.id).await.unwrap()
    );
    let (done, _) = driver.store().get(&run.id).await.unwrap().unwrap();
    assert_eq!(done.lease_token, 1, "driven by the one replica throughout");
    shutdown.trigger();
}
