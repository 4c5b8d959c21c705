//! gRPC for tests: the operator token every test service runs with (security is on in tests
//! too) and channels that send it, through kit's one client builder.

use std::net::SocketAddr;

/// The operator token of the services tests start.
pub const API_TOKEN: &str = "test-operator-token";

/// What the generated clients of the tests wrap: a channel that sends [`API_TOKEN`].
pub type Channel = groundwork_kit::client::Channel;

/// A channel to the plain-HTTP service at `addr` that sends [`API_TOKEN`] with every call.
pub async fn channel(addr: SocketAddr) -> Result<Channel, groundwork_kit::Error> {
    let target = groundwork_kit::client::Target::new(
        format!("http://{addr}"),
        Some(API_TOKEN.into()),
        "the test service",
    );
    groundwork_kit::client::connect(&target, "test service").await
}
