//! NATS over TLS: a service given the server's CA (`NATS_CA`) and a `tls://` URL connects
//! with its identity and works; a client that does not trust the server's CA, or that
//! speaks plain NATS, gets nowhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use groundwork_testkit::NatsServer;

#[tokio::test(flavor = "multi_thread")]
async fn a_service_with_the_servers_ca_connects_over_tls_and_others_do_not() {
    let nats = NatsServer::start_with_tls().expect("nats-server must be installed");
    assert!(nats.url().starts_with("tls://"));

    // The event bus's own identity and the CA, as NATS_URL / NATS_NKEY / NATS_CA give them.
    let settings = nats.settings_for("eventbus");
    assert!(settings.nats_ca.is_some());
    let client = groundwork_bus::connect::for_service(&settings, "groundwork-eventbus")
        .await
        .unwrap();
    let mut connected = false;
    for _ in 0..100 {
        if client.connection_state() == async_nats::connection::State::Connected {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(connected, "the service did not connect over TLS");
    let js = async_nats::jetstream::new(client.clone());
    js.query_account().await.expect("JetStream over TLS");

    // Without the CA, the server's certificate is not trusted.
    let seed = std::fs::read_to_string(nats.nkey_file("eventbus")).unwrap();
    let untrusted = async_nats::ConnectOptions::new()
        .nkey(seed.trim().to_owned())
        .require_tls(true)
        .connection_timeout(Duration::from_secs(2))
        .connect(nats.url())
        .await;
    assert!(
        untrusted.is_err(),
        "a client trusted a certificate of an unknown CA"
    );

    // Plain NATS to a server that requires TLS is refused.
    let plain = async_nats::ConnectOptions::new()
        .nkey(seed.trim().to_owned())
        .connection_timeout(Duration::from_secs(2))
        .connect(nats.url().replace("tls://", "nats://"))
        .await;
    assert!(plain.is_err(), "a plain client was let in");
}
