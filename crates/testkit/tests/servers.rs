//! The test servers start, answer, and are cleaned up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;

use groundwork_testkit::{MotoServer, NatsServer};

#[test]
fn nats_server_starts_restarts_and_stops_on_drop() {
    let mut nats = NatsServer::start().expect("nats-server");
    let port = nats.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    nats.stop();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped server still answers"
    );
    nats.start_again().expect("restart");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(nats);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "dropped server still answers"
    );
}

#[test]
fn moto_server_starts_and_stops_on_drop() {
    let moto = MotoServer::start().expect("moto_server");
    let port = moto.port();
    assert!(moto.endpoint().ends_with(&port.to_string()));
    moto.reset().expect("reset");
    drop(moto);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_missing_binary_names_the_install_command() {
    let err = groundwork_testkit::process::find_binary(
        "no-such-binary-groundwork",
        "NO_SUCH_BINARY_GROUNDWORK",
        groundwork_testkit::INSTALL_HINT,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("no-such-binary-groundwork was not found"),
        "{text}"
    );
    assert!(text.contains("./scripts/setup-venv"), "{text}");
}
