//! Where `groundwork up` (or `groundwork secrets init`) ran, the CLI needs no flags: it
//! reads the operator token from `.groundwork/secrets/api-token` and trusts the local CA in
//! `.groundwork/secrets/tls/ca.pem`, so a call to a service that requires both succeeds;
//! elsewhere the same call is refused. The secrets are written once, readable by their
//! owner only, and never printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use groundwork_kit::Shutdown;
use groundwork_kit::secrets::LocalSecrets;
use groundwork_testkit::NatsServer;

/// `groundwork` run in `dir` with no token, CA or token file from the environment.
async fn groundwork_in(dir: &Path, args: &[&str], url: &str) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let (dir, url) = (dir.to_owned(), url.to_owned());
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_groundwork"))
            .args(args)
            .current_dir(dir)
            .env("GROUNDWORK_EVENTBUS_URL", url)
            .env_remove("GROUNDWORK_API_TOKEN")
            .env_remove("GROUNDWORK_API_TOKEN_FILE")
            .env_remove("GROUNDWORK_CA_FILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_finds_the_token_and_ca_where_the_secrets_were_written() {
    let root = tempfile::tempdir().unwrap();
    let init = groundwork_in(
        root.path(),
        &["secrets", "init", "--dir", ".groundwork/secrets"],
        "http://unused",
    )
    .await;
    assert!(init.status.success(), "{}", text(&init.stderr));
    let secrets = LocalSecrets::under(root.path());
    let token = std::fs::read_to_string(secrets.api_token()).unwrap();
    let token = token.trim();
    assert!(
        !text(&init.stdout).contains(token),
        "the token is never printed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(secrets.dir()), 0o700);
        for file in [secrets.api_token(), secrets.read_only_token()] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        for file in ["ca.pem", "ca.key", "server.pem", "server.key"] {
            assert_eq!(mode(&secrets.tls_dir().join(file)), 0o600, "{file}");
        }
    }
    // A second init keeps what is there.
    let again = groundwork_in(root.path(), &["secrets", "init"], "http://unused").await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        std::fs::read_to_string(secrets.api_token()).unwrap().trim(),
        token
    );

    // The event bus as `groundwork up` runs it: the token files and TLS from the secrets.
    let nats = NatsServer::start().expect("nats-server");
    let tls = groundwork_kit::tls::LocalTls::at(&secrets.tls_dir());
    let mut settings = groundwork_eventbus::Settings::on(nats.settings_for("eventbus"));
    settings.common.api_token_file = Some(secrets.api_token());
    settings.common.read_only_token_file = Some(secrets.read_only_token());
    settings.common.tls_cert = Some(tls.server_cert.clone());
    settings.common.tls_key = Some(tls.server_key.clone());
    let listener = groundwork_kit::grpc::bind(settings.listen).await.unwrap();
    // The URL as the CLI's default has it: http, upgraded to TLS by the local CA.
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = groundwork_eventbus::connect(&settings).await.unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(groundwork_eventbus::serve(
        settings,
        client,
        listener,
        shutdown.clone(),
    ));

    let mut listed = groundwork_in(root.path(), &["rules", "list"], &url).await;
    for _ in 0..100 {
        if listed.status.success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        listed = groundwork_in(root.path(), &["rules", "list"], &url).await;
    }
    assert!(listed.status.success(), "{}", text(&listed.stderr));

    // Elsewhere there is no token and no CA: refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = groundwork_in(elsewhere.path(), &["rules", "list"], &url).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(!text(&refused.stderr).contains(token));

    // With the CA but no token (a copy of ca.pem only): UNAUTHENTICATED, said plainly.
    let only_ca = groundwork_in(
        elsewhere.path(),
        &["rules", "list", "--ca-file", tls.ca_cert.to_str().unwrap()],
        &url,
    )
    .await;
    assert_eq!(only_ca.status.code(), Some(1));
    assert!(
        text(&only_ca.stderr).contains("API token"),
        "{}",
        text(&only_ca.stderr)
    );

    shutdown.trigger();
    task.await.unwrap().unwrap();
}

/// `secrets init --nats-cluster` (compose's `cluster-secrets`) writes one configuration per
/// node that nats-server accepts: the users of `nats-server.conf`, the node's name, routes
/// to every node by name with one password kept across runs and never printed.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_init_writes_each_cluster_node_s_configuration() {
    let root = tempfile::tempdir().unwrap();
    let nodes = ["nats-1", "nats-2", "nats-3"];
    let args = [
        "secrets",
        "init",
        "--dir",
        ".groundwork/secrets",
        "--nats-cluster",
        "nats-1,nats-2,nats-3",
    ];
    let init = groundwork_in(root.path(), &args, "http://unused").await;
    assert!(init.status.success(), "{}", text(&init.stderr));
    let dir = LocalSecrets::under(root.path()).dir().join("nats");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("nats-server.conf")).unwrap())
            .unwrap();
    let password = std::fs::read_to_string(dir.join("cluster/route-password")).unwrap();
    let password = password.trim();
    assert!(!text(&init.stdout).contains(password), "never printed");
    let nats_server = groundwork_testkit::process::find_binary(
        "nats-server",
        "NATS_SERVER_BIN",
        groundwork_testkit::INSTALL_HINT,
    )
    .unwrap();
    for node in nodes {
        let path = dir.join(format!("cluster/{node}.json"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{node}: it holds the route password");
        }
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(config["server_name"], node);
        assert_eq!(config["listen"], "0.0.0.0:4222");
        assert_eq!(config["jetstream"]["store_dir"], "/data");
        assert_eq!(config["authorization"], base["authorization"]);
        assert_eq!(config["cluster"]["authorization"]["password"], password);
        let routes: Vec<String> = config["cluster"]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = nodes
            .iter()
            .map(|n| format!("nats-route://route:{password}@{n}:6222"))
            .collect();
        assert_eq!(routes, expected);
        // `-t`: nats-server reads the configuration and says whether it is valid.
        let checked = Command::new(&nats_server)
            .arg("-c")
            .arg(&path)
            .arg("-t")
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{node}: {}{}",
            text(&checked.stdout),
            text(&checked.stderr)
        );
    }

    // Again: the same password, so that nodes configured before still route together.
    let again = groundwork_in(root.path(), &args, "http://unused").await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let kept = std::fs::read_to_string(dir.join("cluster/route-password")).unwrap();
    assert_eq!(kept.trim(), password);

    for bad in ["nats-1,nats-2", "nats-1,nats 2,nats-3", "nats-1,,nats-3"] {
        let refused = groundwork_in(
            root.path(),
            &["secrets", "init", "--dir", "other", "--nats-cluster", bad],
            "http://unused",
        )
        .await;
        assert_eq!(refused.status.code(), Some(2), "--nats-cluster {bad}");
        assert!(
            text(&refused.stderr).contains("--nats-cluster"),
            "{}",
            text(&refused.stderr)
        );
    }
}
