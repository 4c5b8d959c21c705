//! The watcher against a real moto_server and nats-server: the test plays AWS by setting
//! the budget's `CalculatedSpend` in moto (moto has no UpdateBudget, so the budget is
//! written again through CreateBudget with the same definition, notifications and the new
//! spend), and counts the `Budget Threshold Crossed` events on the bus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ACCOUNT, Service, Stack, ensure, events_of, eventually, first_day};
use groundwork_budget::state::{Pass, WatchStore};
use groundwork_budget::{AwsClients, Settings};
use groundwork_proto::v1::BudgetKind;

const CROSSED: &str = "Budget Threshold Crossed";

fn settings(stack: &Stack) -> Settings {
    let mut s = Settings::on(stack.nats.settings_for("budget"));
    s.read_subscribers = false;
    s.watch_interval_secs = 1;
    s
}

/// Plays AWS: the budget's spend so far and its forecast become `actual` and `forecast`.
async fn set_spend(stack: &Stack, name: &str, actual: &str, forecast: &str) {
    use aws_sdk_budgets::types::{
        CalculatedSpend, NotificationWithSubscribers, Spend, Subscriber, SubscriptionType,
    };
    let budgets = stack.budgets();
    let mut budget = budgets
        .describe_budget()
        .account_id(ACCOUNT)
        .budget_name(name)
        .send()
        .await
        .unwrap()
        .budget
        .unwrap();
    let notifications = budgets
        .describe_notifications_for_budget()
        .account_id(ACCOUNT)
        .budget_name(name)
        .send()
        .await
        .unwrap()
        .notifications
        .unwrap_or_default();
    let spend = |a: &str| Spend::builder().amount(a).unit("USD").build().unwrap();
    budget.calculated_spend = Some(
        CalculatedSpend::builder()
            .actual_spend(spend(actual))
            .forecasted_spend(spend(forecast))
            .build(),
    );
    budget.last_updated_time = None;
    budgets
        .delete_budget()
        .account_id(ACCOUNT)
        .budget_name(name)
        .send()
        .await
        .unwrap();
    let with_subscribers = notifications
        .into_iter()
        .map(|n| {
            NotificationWithSubscribers::builder()
                .notification(n)
                .subscribers(
                    Subscriber::builder()
                        .subscription_type(SubscriptionType::Email)
                        .address("ops@example.com")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        })
        .collect();
    budgets
        .create_budget()
        .account_id(ACCOUNT)
        .budget(budget)
        .set_notifications_with_subscribers(Some(with_subscribers))
        .send()
        .await
        .unwrap();
}

async fn store(stack: &Stack) -> WatchStore {
    let js = async_nats::jetstream::new(stack.nats.admin().await.unwrap());
    WatchStore::open(&js, 1).await.unwrap()
}

/// Waits until a watcher pass completes that started after `after` (a newer pass, from
/// any holder, or from a different holder when `other_holder` is set).
async fn next_pass(store: &WatchStore, after: Option<&Pass>, other_holder: bool) -> Pass {
    eventually(20, "a completed watcher pass", || async {
        let pass = store.last_pass().await.unwrap()?;
        let newer = match after {
            None => true,
            Some(a) if other_holder => pass.holder != a.holder && pass.passes >= 2,
            Some(a) => pass.holder != a.holder || pass.passes >= a.passes + 2,
        };
        newer.then_some(pass)
    })
    .await
}

async fn crossed(stack: &Stack) -> Vec<serde_json::Value> {
    events_of(&stack.nats, CROSSED).await
}

fn thresholds(events: &[serde_json::Value]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = events
        .iter()
        .map(|e| {
            (
                e["detail"]["notificationType"].as_str().unwrap().to_owned(),
                e["detail"]["threshold"].as_f64().unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    out
}

#[tokio::test]
async fn each_crossing_is_published_once_and_not_again_after_a_restart() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    let mut def = first_day("spend", BudgetKind::Spend, "20");
    def.notifications_with_subscribers.push(common::alert(
        "FORECASTED",
        100.0,
        vec![common::email("ops@example.com")],
    ));
    client.ensure_budget(ensure(def)).await.unwrap();

    // The watcher instance; AWS reports 16 USD spent (80 %) and 18 forecast (90 %).
    let first = Service::start(settings(&stack), AwsClients::from_config(&stack.sdk)).await;
    set_spend(&stack, "spend", "16", "18").await;
    let events = eventually(20, "two crossings", || async {
        let e = crossed(&stack).await;
        (e.len() >= 2).then_some(e)
    })
    .await;
    let kv = store(&stack).await;
    let seen = next_pass(&kv, None, false).await;
    let later = next_pass(&kv, Some(&seen), false).await;
    assert!(later.passes >= seen.passes + 2);
    let events_now = crossed(&stack).await;
    assert_eq!(
        thresholds(&events_now),
        [("ACTUAL".to_owned(), 50.0), ("ACTUAL".to_owned(), 75.0)],
        "once each, across several passes"
    );
    let d = &events[0]["detail"];
    assert_eq!(events[0]["source"], "groundwork.budget");
    assert_eq!(d["budget"], "spend");
    assert_eq!(d["thresholdType"], "PERCENTAGE");
    assert_eq!(d["actual"], 16.0);
    assert_eq!(d["forecast"], 18.0);
    assert_eq!(d["currency"], "USD");
    let period = d["period"].as_str().unwrap();
    assert_eq!(
        period,
        time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year]-[month]"))
            .unwrap()
    );
    assert_eq!(
        events[0]["resources"][0],
        format!("arn:aws:budgets::{ACCOUNT}:budget/spend")
    );

    // Restart: a new instance against the same NATS. Its passes publish nothing again.
    let before = kv.last_pass().await.unwrap().unwrap();
    first.stop().await;
    let second = Service::start(settings(&stack), AwsClients::from_config(&stack.sdk)).await;
    let after = next_pass(&kv, Some(&before), true).await;
    assert_ne!(after.holder, before.holder);
    assert_eq!(
        crossed(&stack).await.len(),
        2,
        "none again after the restart"
    );

    // Spend goes over the limit and the forecast too: exactly the new crossings.
    set_spend(&stack, "spend", "21", "25").await;
    eventually(20, "the 100 % crossings", || async {
        (crossed(&stack).await.len() >= 4).then_some(())
    })
    .await;
    let seen = next_pass(&kv, None, false).await;
    next_pass(&kv, Some(&seen), false).await;
    assert_eq!(
        thresholds(&crossed(&stack).await),
        [
            ("ACTUAL".to_owned(), 50.0),
            ("ACTUAL".to_owned(), 75.0),
            ("ACTUAL".to_owned(), 100.0),
            ("FORECASTED".to_owned(), 100.0),
        ]
    );
    second.stop().await;
    stack.service.stop().await;
}

#[tokio::test]
async fn two_replicas_publish_each_crossing_once() {
    let stack = Stack::start().await;
    let mut client = stack.client().await;
    client
        .ensure_budget(ensure(first_day("credits", BudgetKind::Credits, "20")))
        .await
        .unwrap();
    set_spend(&stack, "credits", "30", "30").await;
    let a = Service::start(settings(&stack), AwsClients::from_config(&stack.sdk)).await;
    let b = Service::start(settings(&stack), AwsClients::from_config(&stack.sdk)).await;
    eventually(20, "three crossings", || async {
        (crossed(&stack).await.len() >= 3).then_some(())
    })
    .await;
    let kv = store(&stack).await;
    let seen = next_pass(&kv, None, false).await;
    next_pass(&kv, Some(&seen), false).await;
    assert_eq!(
        crossed(&stack).await.len(),
        3,
        "50, 75 and 100 %, once each"
    );
    a.stop().await;
    b.stop().await;
    stack.service.stop().await;
}
