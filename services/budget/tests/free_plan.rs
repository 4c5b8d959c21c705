//! The Free plan against real servers: nats-server, moto_server and, in front of moto, the
//! testkit's AWS stand-in that serves the Free Tier API moto lacks. The test plays AWS by
//! changing the stand-in's plan state between the watcher's passes, and counts the
//! events on the bus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use common::{Service, Stack, events_of, eventually, start_bus};
use groundwork_budget::state::{Pass, WatchStore};
use groundwork_budget::{AwsClients, Settings};
use groundwork_cloud::AwsSettings;
use groundwork_proto::v1 as pb;
use groundwork_testkit::standin::rfc3339;
use groundwork_testkit::{AccountPlan, AwsStandIn, MotoServer, NatsServer};

const LOW: &str = "Free Plan Credits Low";
const ENDING: &str = "Free Plan Ending";

/// NATS, moto, the stand-in in front of moto, the bus and the service (no watcher).
struct FreeStack {
    nats: NatsServer,
    _moto: MotoServer,
    standin: AwsStandIn,
    sdk: SdkConfig,
    _bus: groundwork_eventbus::Embedded,
    service: Service,
}

async fn sdk_for(endpoint: &str) -> SdkConfig {
    groundwork_cloud::config::load(&AwsSettings::sandbox(endpoint))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build()
}

fn settings(nats: &NatsServer, watch_interval_secs: u64) -> Settings {
    let mut s = Settings::on(nats.settings_for("budget"));
    s.common.nats_timeout_ms = 1500;
    s.read_subscribers = false;
    s.watch_interval_secs = watch_interval_secs;
    s
}

impl FreeStack {
    async fn start(plan: AccountPlan) -> Self {
        let nats = NatsServer::start().expect("nats-server must be installed");
        let moto = MotoServer::start().expect("moto_server must be installed");
        let standin = AwsStandIn::start(&moto.endpoint(), plan).unwrap();
        let sdk = sdk_for(&standin.endpoint()).await;
        let bus = start_bus(&nats).await;
        let service = Service::start(settings(&nats, 0), AwsClients::from_config(&sdk)).await;
        Self {
            nats,
            _moto: moto,
            standin,
            sdk,
            _bus: bus,
            service,
        }
    }

    async fn client(&self) -> pb::budget_client::BudgetClient<common::Channel> {
        self.service.client().await
    }

    /// A watcher instance passing every second.
    async fn watcher(&self) -> Service {
        Service::start(settings(&self.nats, 1), AwsClients::from_config(&self.sdk)).await
    }

    async fn store(&self) -> WatchStore {
        let js = async_nats::jetstream::new(self.nats.admin().await.unwrap());
        WatchStore::open(&js, 1).await.unwrap()
    }
}

fn watch(expected: &str) -> pb::EnsureAccountPlanWatchRequest {
    pb::EnsureAccountPlanWatchRequest {
        watch: Some(pb::AccountPlanWatch {
            expected: expected.into(),
            credits_low_usd: "20".into(),
            ending_within_days: 30,
        }),
        dry_run: false,
    }
}

fn in_days(days: i64) -> String {
    rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(days))
}

/// Waits for two passes completed after `after`, so that a pass that could publish did.
async fn two_passes(store: &WatchStore, after: Option<&Pass>) -> Pass {
    eventually(20, "two watcher passes", || async {
        let pass = store.last_pass().await.unwrap()?;
        let newer = match after {
            None => pass.passes >= 2,
            Some(a) => pass.holder != a.holder && pass.passes >= 2 || pass.passes >= a.passes + 2,
        };
        newer.then_some(pass)
    })
    .await
}

#[tokio::test]
async fn the_plan_is_read_and_an_expected_plan_is_checked() {
    let ends = "2026-06-01T00:00:00Z";
    let stack = FreeStack::start(AccountPlan::free(87.5, ends)).await;
    let mut client = stack.client().await;

    let read = client
        .describe_account_plan(pb::DescribeAccountPlanRequest {})
        .await
        .unwrap()
        .into_inner();
    let plan = read.plan.unwrap();
    assert_eq!(plan.plan_type(), pb::AccountPlanType::Free);
    assert_eq!(plan.status, "ACTIVE");
    assert_eq!(plan.account_id, common::ACCOUNT);
    let credits = plan.remaining_credits.unwrap();
    assert_eq!(
        (credits.amount.as_str(), credits.unit.as_str()),
        ("87.5", "USD")
    );
    assert_eq!(plan.ends_at.unwrap().seconds, 1_780_272_000, "{ends}");
    assert!(read.watch.is_none());
    assert!(
        stack
            .standin
            .calls()
            .contains(&"AWSFreeTierService.GetAccountPlanState".to_owned())
    );

    // `paid` on a Free plan account: refused, saying which and what to do; nothing kept.
    let refused = client
        .ensure_account_plan_watch(watch("paid"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("account.plan = \"paid\""),
        "{refused:?}"
    );
    assert!(refused.message().contains("the Free plan"), "{refused:?}");
    assert!(stack.store().await.plan_watch().await.unwrap().is_none());

    let created = client
        .ensure_account_plan_watch(watch("free"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.outcome, "CREATED");
    assert_eq!(created.plan.unwrap().plan_type(), pb::AccountPlanType::Free);
    let again = client
        .ensure_account_plan_watch(watch("free"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.outcome, "UNCHANGED");
    let recorded = client
        .describe_account_plan(pb::DescribeAccountPlanRequest {})
        .await
        .unwrap()
        .into_inner()
        .watch
        .unwrap();
    assert_eq!(
        (
            recorded.expected.as_str(),
            recorded.credits_low_usd.as_str(),
            recorded.ending_within_days
        ),
        ("free", "20", 30)
    );

    // The account is upgraded: `free` no longer holds, `auto` does.
    stack.standin.set_plan(AccountPlan::paid());
    let refused = client
        .ensure_account_plan_watch(watch("free"))
        .await
        .unwrap_err();
    assert!(refused.message().contains("the Paid plan"), "{refused:?}");
    let auto = client
        .ensure_account_plan_watch(watch("auto"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(auto.outcome, "UPDATED");
    assert_eq!(auto.plan.unwrap().plan_type(), pb::AccountPlanType::Paid);

    client
        .delete_account_plan_watch(pb::DeleteAccountPlanWatchRequest {})
        .await
        .unwrap();
    assert!(stack.store().await.plan_watch().await.unwrap().is_none());
}

#[tokio::test]
async fn moto_alone_leaves_the_plan_unknown_and_auto_does_not_fail() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let plan = client
        .describe_account_plan(pb::DescribeAccountPlanRequest {})
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(plan.plan_type(), pb::AccountPlanType::Unknown);
    assert!(
        plan.unknown_reason.contains("Free Tier API"),
        "{}",
        plan.unknown_reason
    );
    let auto = client
        .ensure_account_plan_watch(watch("auto"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(auto.outcome, "CREATED");
    assert_eq!(auto.plan.unwrap().plan_type(), pb::AccountPlanType::Unknown);
    let free = client
        .ensure_account_plan_watch(watch("free"))
        .await
        .unwrap_err();
    assert_eq!(free.code(), tonic::Code::FailedPrecondition);
    assert!(free.message().contains("cannot be read"), "{free:?}");
}

#[tokio::test]
async fn credits_low_and_ending_are_published_once_per_crossing_across_restarts() {
    // Plenty of credits, and months left.
    let stack = FreeStack::start(AccountPlan::free(100.0, &in_days(150))).await;
    let mut client = stack.client().await;
    client
        .ensure_account_plan_watch(watch("free"))
        .await
        .unwrap();
    let store = stack.store().await;

    let first = stack.watcher().await;
    let seen = two_passes(&store, None).await;
    assert!(events_of(&stack.nats, LOW).await.is_empty());
    assert!(events_of(&stack.nats, ENDING).await.is_empty());

    // The credits fall under 20 USD.
    stack
        .standin
        .set_plan(AccountPlan::free(12.5, &in_days(150)));
    let low = eventually(20, "Free Plan Credits Low", || async {
        let e = events_of(&stack.nats, LOW).await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    let seen = two_passes(&store, Some(&seen)).await;
    assert_eq!(
        events_of(&stack.nats, LOW).await.len(),
        1,
        "once, over several passes"
    );
    let d = &low[0]["detail"];
    assert_eq!(low[0]["source"], "groundwork.budget");
    assert_eq!(d["remainingCredits"], 12.5);
    assert_eq!(d["threshold"], 20.0);
    assert_eq!(d["currency"], "USD");
    assert_eq!(d["accountId"], common::ACCOUNT);

    // A restart against the same KV publishes nothing again.
    first.stop().await;
    let second = stack.watcher().await;
    let seen = two_passes(&store, Some(&seen)).await;
    assert_eq!(
        events_of(&stack.nats, LOW).await.len(),
        1,
        "none again after the restart"
    );

    // The close date comes within 30 days: Free Plan Ending, once.
    stack
        .standin
        .set_plan(AccountPlan::free(12.5, &in_days(21)));
    let ending = eventually(20, "Free Plan Ending", || async {
        let e = events_of(&stack.nats, ENDING).await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    two_passes(&store, Some(&seen)).await;
    assert_eq!(events_of(&stack.nats, ENDING).await.len(), 1);
    let d = &ending[0]["detail"];
    assert!((19..=21).contains(&d["daysLeft"].as_i64().unwrap()), "{d}");
    assert_eq!(d["withinDays"], 30);
    assert_eq!(d["remainingCredits"], 12.5);
    assert_eq!(events_of(&stack.nats, LOW).await.len(), 1);
    second.stop().await;
}
