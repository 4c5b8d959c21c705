//! A running budget service for tests: a real nats-server, a real moto_server (or mocked
//! AWS clients), and the service in-process on a free port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use groundwork_budget::{AwsClients, Settings};
use groundwork_cloud::AwsSettings;
use groundwork_kit::Shutdown;
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::budget_client::BudgetClient;
use groundwork_testkit::{MotoServer, NatsServer};

pub use groundwork_testkit::grpc::{API_TOKEN, Channel};

/// A channel to `addr` that sends [`API_TOKEN`] with every call.
pub async fn channel(addr: SocketAddr) -> Channel {
    groundwork_testkit::grpc::channel(addr).await.unwrap()
}

pub const ACCOUNT: &str = "123456789012";

/// The SDK configuration for moto, with the test credentials.
pub async fn moto_config(moto: &MotoServer) -> SdkConfig {
    groundwork_cloud::config::load(&AwsSettings::sandbox(moto.endpoint()))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .build()
}

/// A service instance (restartable against the same NATS).
#[derive(Debug)]
pub struct Service {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<Result<(), groundwork_budget::Error>>,
}

impl Service {
    /// Starts the service; without a token of its own it requires [`API_TOKEN`].
    pub async fn start(mut settings: Settings, clients: AwsClients) -> Self {
        if settings.common.api_token.is_none() {
            settings.common.api_token = Some(API_TOKEN.into());
        }
        let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = groundwork_budget::connect(&settings).await.unwrap();
        let shutdown = Shutdown::new();
        let task = tokio::spawn(groundwork_budget::serve(
            settings,
            groundwork_budget::Deps {
                aws: clients,
                nats: client,
            },
            listener,
            shutdown.clone(),
        ));
        let service = Self {
            addr,
            shutdown,
            task,
        };
        service.wait_ready().await;
        service
    }

    /// Waits until the gRPC port answers health, not a fixed time.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(channel) =
                tonic::transport::Channel::from_shared(format!("http://{}", self.addr))
                    .unwrap()
                    .connect()
                    .await
            {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                if health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("budget service did not start");
    }

    pub async fn client(&self) -> BudgetClient<Channel> {
        BudgetClient::new(channel(self.addr).await)
    }

    /// Stops it as SIGTERM would, and waits until it has stopped.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }
}

/// NATS, moto and the service.
#[derive(Debug)]
pub struct Stack {
    pub nats: NatsServer,
    pub moto: MotoServer,
    pub sdk: SdkConfig,
    pub bus: groundwork_eventbus::Embedded,
    pub service: Service,
}

impl Stack {
    /// The service against moto. Subscribers are not read: moto does not implement
    /// DescribeSubscribersForNotification.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let nats = NatsServer::start().expect("nats-server must be installed");
        let moto = MotoServer::start().expect("moto_server must be installed");
        let sdk = moto_config(&moto).await;
        let bus = start_bus(&nats).await;
        let mut settings = Settings::on(nats.settings_for("budget"));
        settings.common.nats_timeout_ms = 1500;
        settings.read_subscribers = false;
        settings.watch_interval_secs = 0;
        configure(&mut settings);
        let service = Service::start(settings, AwsClients::from_config(&sdk)).await;
        Self {
            nats,
            moto,
            sdk,
            bus,
            service,
        }
    }

    pub async fn client(&self) -> BudgetClient<Channel> {
        self.service.client().await
    }

    /// A Budgets client straight to moto, to look at (or play) AWS.
    pub fn budgets(&self) -> aws_sdk_budgets::Client {
        aws_sdk_budgets::Client::new(&groundwork_cloud::config::billing(&self.sdk))
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    /// The names of the budgets moto holds.
    pub async fn budget_names(&self) -> Vec<String> {
        let out = self
            .budgets()
            .describe_budgets()
            .account_id(ACCOUNT)
            .send()
            .await
            .unwrap();
        let mut names: Vec<String> = out
            .budgets()
            .iter()
            .map(|b| b.budget_name().to_owned())
            .collect();
        names.sort();
        names
    }
}

/// The event bus the service emits its events through, in-process until the test ends.
pub async fn start_bus(nats: &NatsServer) -> groundwork_eventbus::Embedded {
    let settings = groundwork_eventbus::Settings::on(nats.settings_for("eventbus"));
    groundwork_eventbus::start(settings, Shutdown::new())
        .await
        .unwrap()
}

/// Every event stored on a bus stream, in order, as JSON values.
pub async fn stored_events(nats: &NatsServer, stream: &str) -> Vec<serde_json::Value> {
    let js = jetstream::new(nats.admin().await.unwrap());
    groundwork_testkit::events::stored(&js, stream)
        .await
        .unwrap()
}

/// Events of one detail type.
pub async fn events_of(nats: &NatsServer, detail_type: &str) -> Vec<serde_json::Value> {
    stored_events(nats, "EVENTS_default")
        .await
        .into_iter()
        .filter(|e| e["detail-type"] == detail_type)
        .collect()
}

pub fn email(address: &str) -> pb::Subscriber {
    pb::Subscriber {
        subscription_type: "EMAIL".into(),
        address: address.into(),
    }
}

pub fn alert(
    kind: &str,
    threshold: f64,
    subscribers: Vec<pb::Subscriber>,
) -> pb::NotificationWithSubscribers {
    pb::NotificationWithSubscribers {
        notification: Some(pb::Notification {
            notification_type: kind.into(),
            comparison_operator: "GREATER_THAN".into(),
            threshold,
            threshold_type: "PERCENTAGE".into(),
        }),
        subscribers,
    }
}

/// The standard first-day budget: `amount` USD a month, alerts at 50/75/100 % of actual
/// spend to one email.
pub fn first_day(name: &str, kind: pb::BudgetKind, amount: &str) -> pb::BudgetDefinition {
    pb::BudgetDefinition {
        budget_name: name.into(),
        budget_limit: Some(pb::Spend {
            amount: amount.into(),
            unit: "USD".into(),
        }),
        time_unit: "MONTHLY".into(),
        kind: kind.into(),
        filter_expression: None,
        notifications_with_subscribers: [50.0, 75.0, 100.0]
            .iter()
            .map(|t| alert("ACTUAL", *t, vec![email("ops@example.com")]))
            .collect(),
        time_period: None,
    }
}

pub fn ensure(budget: pb::BudgetDefinition) -> pb::EnsureBudgetRequest {
    pb::EnsureBudgetRequest {
        budget: Some(budget),
        dry_run: false,
    }
}

/// Polls `probe` until it returns `Some`, or fails after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
