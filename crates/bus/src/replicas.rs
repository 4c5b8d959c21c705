//! How many copies JetStream keeps of each stream and KV bucket Groundwork creates: the
//! one place that decides it.
//!
//! `GROUNDWORK_STREAM_REPLICAS` ([`groundwork_kit::CommonSettings::stream_replicas`]) wins
//! when it is set to 1 or more. Left at [`DETECT`] (0, the default) it is read from the
//! server the client is connected to: [`CLUSTER`] (3) when that server is in a cluster of
//! three or more nodes, else 1. The server's INFO says both: `cluster` names its cluster,
//! and `connect_urls` lists the client URLs of every node it is routed to, itself included.
//!
//! Detection sees the nodes that are up when a stream or bucket is first created: a
//! cluster started with a node missing, or one that hides its URLs (`no_advertise`), makes
//! R1. Deployments that must never get R1 on a cluster set the replicas explicitly. A
//! stream or bucket that exists with fewer copies than decided here is raised to that many
//! when a service opens it ([`crate::streams::raise_replicas`]), never lowered.

use std::collections::HashSet;
use std::time::Duration;

use crate::error::BusError;

/// The setting's value that asks for detection.
pub const DETECT: usize = 0;

/// Replicas on a cluster: survives the loss of one node, the size NATS recommends.
pub const CLUSTER: usize = 3;

/// The replicas for a configured value and what the server says of itself.
pub fn decide(configured: usize, server: &async_nats::ServerInfo) -> usize {
    if configured != DETECT {
        return configured;
    }
    if server.cluster.is_some() && cluster_nodes(server) >= CLUSTER {
        CLUSTER
    } else {
        1
    }
}

/// The nodes of the server's cluster that it knows the client URLs of, itself included.
fn cluster_nodes(server: &async_nats::ServerInfo) -> usize {
    let nodes: HashSet<&str> = server.connect_urls.iter().map(String::as_str).collect();
    nodes.len()
}

/// How long detection waits for a client that has not reached any server yet (it was
/// created with retry on initial connect, so it may still be connecting).
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// The replicas for a configured value on the server `js` is connected to. Detection needs
/// the server's INFO, so it waits for the client's first connection; `Unavailable` when
/// no server answers in time (creating the stream would fail the same way).
pub async fn for_context(
    js: &async_nats::jetstream::Context,
    configured: usize,
) -> Result<usize, BusError> {
    if configured != DETECT {
        return Ok(configured);
    }
    let client = js.client();
    if client.server_info().server_id.is_empty() {
        // A flush is answered only once connected; until then the client knows no INFO.
        match tokio::time::timeout(CONNECT_WAIT, client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(BusError::unavailable(format!(
                    "cannot reach NATS to decide the stream replicas: {e}"
                )));
            }
            Err(_) => {
                return Err(BusError::unavailable(format!(
                    "NATS did not answer within {} s, so the stream replicas cannot be \
                     decided; set GROUNDWORK_STREAM_REPLICAS or try again",
                    CONNECT_WAIT.as_secs()
                )));
            }
        }
    }
    let server = client.server_info();
    let replicas = decide(configured, &server);
    tracing::debug!(
        replicas,
        cluster = server.cluster.as_deref().unwrap_or(""),
        nodes = server.connect_urls.len(),
        "stream replicas detected from the server"
    );
    Ok(replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(cluster: Option<&str>, urls: &[&str]) -> async_nats::ServerInfo {
        async_nats::ServerInfo {
            cluster: cluster.map(str::to_owned),
            connect_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_configured_value_wins() {
        let three = server(Some("c"), &["a:1", "b:1", "c:1"]);
        assert_eq!(decide(1, &three), 1);
        assert_eq!(decide(5, &server(None, &[])), 5);
    }

    #[test]
    fn three_nodes_or_more_make_r3_and_anything_less_r1() {
        assert_eq!(decide(DETECT, &server(None, &[])), 1);
        assert_eq!(decide(DETECT, &server(None, &["a:1"])), 1);
        assert_eq!(decide(DETECT, &server(Some("c"), &["a:1", "b:1"])), 1);
        assert_eq!(
            decide(DETECT, &server(Some("c"), &["a:1", "b:1", "a:1"])),
            1
        );
        assert_eq!(
            decide(DETECT, &server(Some("c"), &["a:1", "b:1", "c:1"])),
            3
        );
        assert_eq!(
            decide(
                DETECT,
                &server(Some("c"), &["a:1", "b:1", "c:1", "d:1", "e:1"])
            ),
            3
        );
        // URLs without a cluster name: a server that only lists its own addresses.
        assert_eq!(decide(DETECT, &server(None, &["a:1", "b:1", "c:1"])), 1);
    }
}
