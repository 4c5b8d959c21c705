//! One-time secrets reach the person whatever runs the apply, against the whole stack
//! (nats-server, moto_server and the five services, every one real, security on).
//!
//! The compose-style flow: `groundwork apply` runs where stdout is not a terminal (as
//! compose's `setup` does), so the admin's initial password and MFA seed are not printed;
//! they wait, sealed, in the orchestrator. The person then runs `groundwork secrets show
//! RUN` on a terminal (a pseudo-terminal made by util-linux `script`), sees them once, signs
//! in with the password (moto's login profile holds exactly it) and completes MFA with
//! codes computed from the seed. A second `secrets show` shows nothing, and no secret is in
//! NATS in clear at any point. Off a terminal, `secrets show` refuses.
//!
//! When the secrets were lost (written with `apply --secrets-dir`, then the files deleted),
//! `groundwork identity reset-password` and `groundwork mfa restart` issue new ones that
//! work, each recorded as an event; off a terminal and without `--secrets-dir` they refuse
//! before anything changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use groundwork_e2e::{Stack, eventually, moto_login_password, two_consecutive_codes};
use groundwork_proto::v1 as pb;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/groundwork.toml")
}

fn env(stack: &Stack) -> Vec<(&'static str, String)> {
    vec![
        (
            "GROUNDWORK_ORCHESTRATOR_URL",
            format!("https://{}", stack.orchestrator),
        ),
        (
            "GROUNDWORK_IDENTITY_URL",
            format!("https://{}", stack.identity),
        ),
        ("GROUNDWORK_API_TOKEN", stack.security.api_token.clone()),
        (
            "GROUNDWORK_CA_FILE",
            stack.security.tls.ca_cert.display().to_string(),
        ),
    ]
}

/// `groundwork ARGS` with stdout a pipe (not a terminal), as in compose's `setup`.
async fn piped(stack: &Stack, args: &[&str]) -> Output {
    let env = env(stack);
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_groundwork"))
            .args(&args)
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `groundwork ARGS` on a pseudo-terminal (util-linux `script`), as a person runs it.
async fn on_terminal(stack: &Stack, args: &[&str]) -> Output {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = std::iter::once(env!("CARGO_BIN_EXE_groundwork"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let env = env(stack);
    tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .envs(env)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run util-linux `script` ({e}): install it (apt-get install bsdutils)"
                )
            })
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\r', "")
}

/// The first JSON object line of a command's stdout.
fn json_line(out: &Output) -> serde_json::Value {
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {stdout}"));
    serde_json::from_str(line).unwrap()
}

/// The run id of `groundwork apply`'s output (`run <id>  (follow it with: …)`).
fn run_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in {stdout}"))
        .to_owned()
}

async fn get_run(stack: &Stack, run: &str) -> pb::SetupRun {
    stack
        .orchestrator()
        .await
        .get_run(pb::GetRunRequest { run_id: run.into() })
        .await
        .unwrap()
        .into_inner()
}

fn outputs<'a>(
    run: &'a pb::SetupRun,
    resource: &str,
) -> &'a std::collections::HashMap<String, String> {
    &groundwork_e2e::step(run, resource)
        .unwrap_or_else(|| panic!("no step {resource}"))
        .outputs
}

/// Confirms the example's email subscription as the person would from the email.
async fn confirm_subscription(stack: &Stack) {
    let mail = eventually(Duration::from_secs(30), || async {
        stack.inbox.confirmation_for("ops@example.com")
    })
    .await
    .expect("a confirmation email");
    aws_sdk_sns::Client::new(&groundwork_e2e::sdk_for(&stack.inbox.endpoint()).await)
        .confirm_subscription()
        .topic_arn(&mail.topic_arn)
        .token(&mail.token)
        .send()
        .await
        .unwrap();
}

async fn until_completed(stack: &Stack, run: &str) {
    let done = eventually(Duration::from_secs(60), || async {
        let r = get_run(stack, run).await;
        (r.status() == pb::SetupRunStatus::Completed).then_some(r)
    })
    .await;
    assert!(done.is_some(), "{:#?}", get_run(stack, run).await);
}

/// Asserts that no value of `secrets` is anywhere in NATS (every message, subject and
/// header of every stream and KV bucket).
async fn assert_not_in_nats(stack: &Stack, secrets: &[(&str, &str)]) {
    let texts = stack.nats_texts().await.unwrap();
    assert!(texts.len() > 20, "only {} texts were read", texts.len());
    for (place, t) in &texts {
        for (what, value) in secrets {
            assert!(!t.contains(value), "{what} found in {place}");
        }
    }
}

fn secret_value<'a>(secrets: &'a [pb::OneTimeSecret], name: &str) -> &'a str {
    &secrets
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_apply_off_a_terminal_leaves_the_secrets_for_the_person_who_signs_in_and_enrolls_mfa() {
    let stack = Stack::start().await.unwrap();
    let example = example();
    let example = example.to_str().unwrap();

    // As compose's `setup`: no terminal. The run waits; the secrets are not printed.
    let out = piped(&stack, &["apply", "--detach-when-waiting", example]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let run = run_id(&stdout);
    assert!(
        stdout.contains("not printed")
            && stdout.contains(&format!("groundwork secrets show {run}")),
        "{stdout}"
    );
    assert_eq!(
        get_run(&stack, &run).await.status(),
        pb::SetupRunStatus::Waiting
    );
    let admin = outputs(&get_run(&stack, &run).await, "admin-user/admin").clone();
    assert_eq!(admin["secrets_delivered"], "no");
    assert!(!admin["secrets_expire_at"].is_empty());

    // What waits, as the API has it (fetching acknowledges nothing).
    let held = stack
        .orchestrator()
        .await
        .fetch_one_time_secrets(pb::FetchOneTimeSecretsRequest {
            run_id: run.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .secrets;
    let mut names: Vec<&str> = held.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["initial_password", "mfa_base32_seed", "mfa_otpauth_uri"]
    );
    assert!(
        held.iter()
            .all(|s| !s.id.is_empty() && !s.expires_at.is_empty())
    );
    let password = secret_value(&held, "initial_password").to_owned();
    let seed = secret_value(&held, "mfa_base32_seed").to_owned();
    let uri = secret_value(&held, "mfa_otpauth_uri").to_owned();
    assert!(!stdout.contains(&password) && !stdout.contains(&seed));
    let secrets = [
        ("the initial password", password.as_str()),
        ("the MFA seed", seed.as_str()),
        ("the otpauth URI", uri.as_str()),
    ];

    // Held sealed: in NATS, but not in clear.
    let texts = stack.nats_texts().await.unwrap();
    let sealed = texts
        .iter()
        .filter(|(place, t)| {
            place.starts_with("KV_orchestrator-one-time-secrets #") && t.contains("\"sealed\"")
        })
        .count();
    assert_eq!(sealed, 3, "one sealed record per secret");
    assert_not_in_nats(&stack, &secrets).await;

    // Off a terminal, `secrets show` refuses and shows nothing.
    let out = piped(&stack, &["secrets", "show", &run]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a terminal"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stdout).contains(&password));

    // On a terminal, the person sees them once.
    let out = on_terminal(&stack, &["--output", "json", "secrets", "show", &run]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let shown = json_line(&out);
    let shown: Vec<(String, String)> = shown["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(shown.len(), 3);
    assert!(shown.contains(&("initial_password".into(), password.clone())));
    assert!(shown.contains(&("mfa_base32_seed".into(), seed.clone())));

    // The console password is the one moto's login profile holds.
    assert_eq!(
        moto_login_password(&stack.moto, "admin")
            .unwrap()
            .as_deref(),
        Some(password.as_str())
    );

    // Delivered: recorded in the run, and nothing more to show.
    let after = get_run(&stack, &run).await;
    for step in ["admin-user/admin", "mfa-device/admin"] {
        assert_eq!(outputs(&after, step)["secrets_delivered"], "yes", "{step}");
        assert_eq!(
            outputs(&after, step)["secrets_delivered_by"],
            "terminal",
            "{step}"
        );
    }
    let out = on_terminal(&stack, &["--output", "json", "secrets", "show", &run]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        json_line(&out),
        serde_json::json!({"secrets": [], "lost": []})
    );
    let out = on_terminal(&stack, &["secrets", "show", &run]).await;
    assert!(
        text(&out.stdout).contains(&format!("no one-time secret of run {run} waits for you")),
        "{}",
        text(&out.stdout)
    );

    // MFA with codes computed from the seed, as an authenticator app does.
    let serial = outputs(&after, "mfa-device/admin")["serial_number"].clone();
    let (code1, code2) = two_consecutive_codes(&seed).unwrap();
    let out = piped(
        &stack,
        &[
            "mfa", "complete", "--user", "admin", "--serial", &serial, &code1, &code2,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    confirm_subscription(&stack).await;
    until_completed(&stack, &run).await;

    // Acknowledged secrets are purged: no sealed copy is left, and none was ever in clear.
    let texts = stack.nats_texts().await.unwrap();
    assert!(
        !texts.iter().any(
            |(place, t)| place.starts_with("KV_orchestrator-one-time-secrets #")
                && t.contains("\"sealed\"")
        ),
        "a sealed copy outlived its delivery"
    );
    assert_not_in_nats(&stack, &secrets).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_secrets_are_issued_again_by_the_person_and_the_decision_is_an_event() {
    let stack = Stack::start().await.unwrap();
    let example = example();
    let example = example.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sealed = dir.path().join("one-time");
    let sealed_arg = sealed.to_str().unwrap();

    // Off a terminal, into files only the person can read; only paths are printed.
    let out = piped(
        &stack,
        &[
            "apply",
            "--detach-when-waiting",
            "--secrets-dir",
            sealed_arg,
            example,
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let run = run_id(&stdout);
    let folder = sealed.join(&run);
    let password_file = folder.join("admin-user_admin.initial_password");
    let seed_file = folder.join("mfa-device_admin.mfa_base32_seed");
    assert!(
        stdout.contains(&password_file.display().to_string()),
        "{stdout}"
    );
    let password = std::fs::read_to_string(&password_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(!stdout.contains(&password));
    assert_eq!(
        moto_login_password(&stack.moto, "admin")
            .unwrap()
            .as_deref(),
        Some(password.as_str())
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        for f in [
            &password_file,
            &seed_file,
            &folder.join("mfa-device_admin.mfa_otpauth_uri.png"),
        ] {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }
    let delivered = get_run(&stack, &run).await;
    assert_eq!(
        outputs(&delivered, "admin-user/admin")["secrets_delivered_by"],
        "sealed-file"
    );
    let out = on_terminal(&stack, &["secrets", "show", &run]).await;
    assert!(
        text(&out.stdout).contains("waits for you"),
        "{}",
        text(&out.stdout)
    );

    // The person loses them.
    std::fs::remove_dir_all(&sealed).unwrap();

    // Without a terminal or a directory, a new password is refused before anything changes.
    let out = piped(&stack, &["identity", "reset-password", "--user", "admin"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a terminal"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        moto_login_password(&stack.moto, "admin")
            .unwrap()
            .as_deref(),
        Some(password.as_str())
    );

    // On a terminal: a new password, which moto's login profile now holds.
    let out = on_terminal(
        &stack,
        &[
            "--output",
            "json",
            "identity",
            "reset-password",
            "--user",
            "admin",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let new_password = json_line(&out)["secrets"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_password, password);
    assert_eq!(
        moto_login_password(&stack.moto, "admin")
            .unwrap()
            .as_deref(),
        Some(new_password.as_str())
    );

    // A new MFA seed, into files (no terminal needed with --secrets-dir).
    let again = dir.path().join("again");
    let out = piped(
        &stack,
        &[
            "mfa",
            "restart",
            "--user",
            "admin",
            "--secrets-dir",
            again.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("groundwork mfa complete --user admin"),
        "{stdout}"
    );
    let new_seed = std::fs::read_to_string(
        again
            .join("admin-mfa")
            .join("mfa-device_admin.mfa_base32_seed"),
    )
    .unwrap()
    .trim()
    .to_owned();
    assert!(!stdout.contains(&new_seed));

    // Both decisions are events, without the secrets.
    let events = eventually(Duration::from_secs(10), || async {
        let events = stack.events().await;
        let has = |t: &str| events.iter().any(|e| e["detail-type"] == t);
        (has("Login Password Reset") && has("MFA Enrollment Restarted")).then_some(events)
    })
    .await
    .expect("Login Password Reset and MFA Enrollment Restarted");
    let reset = events
        .iter()
        .find(|e| e["detail-type"] == "Login Password Reset")
        .unwrap();
    assert_eq!(reset["source"], "groundwork.identity");
    assert_eq!(reset["detail"]["userName"], "admin");
    let restarted = events
        .iter()
        .find(|e| e["detail-type"] == "MFA Enrollment Restarted")
        .unwrap();
    assert_eq!(restarted["detail"]["replaced"], true);

    // The new seed works: the run finishes once MFA is enabled with it.
    let (code1, code2) = two_consecutive_codes(&new_seed).unwrap();
    let out = piped(
        &stack,
        &["mfa", "complete", "--user", "admin", &code1, &code2],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    confirm_subscription(&stack).await;
    until_completed(&stack, &run).await;

    assert_not_in_nats(
        &stack,
        &[
            ("the first password", password.as_str()),
            ("the new password", new_password.as_str()),
            ("the new MFA seed", new_seed.as_str()),
        ],
    )
    .await;
    stack.stop().await;
}

/// The value of a secret as `groundwork apply` shows it on a terminal
/// (`ONE-TIME SECRET for <resource> — <name>: <value>`).
fn shown_on_terminal(stdout: &str, name: &str) -> Option<String> {
    let marker = format!("— {name}: ");
    stdout
        .lines()
        .find_map(|l| l.split_once(&marker).map(|(_, v)| v.trim().to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_nobody_fetched_in_time_are_discarded_and_a_resume_enrolls_mfa_again() {
    // Held 4 s instead of 24 h.
    let stack = Stack::start_with_secrets_ttl(4).await.unwrap();
    let example = example();
    let example = example.to_str().unwrap();
    let out = piped(&stack, &["apply", "--detach-when-waiting", example]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let run = run_id(&stdout);

    // Nobody fetches them: once expired, nothing waits and nothing sealed is left.
    let mut orchestrator = stack.orchestrator().await;
    let gone = eventually(Duration::from_secs(20), || {
        let mut orchestrator = orchestrator.clone();
        let run = run.clone();
        async move {
            let left = orchestrator
                .fetch_one_time_secrets(pb::FetchOneTimeSecretsRequest { run_id: run })
                .await
                .unwrap()
                .into_inner()
                .secrets;
            left.is_empty().then_some(())
        }
    })
    .await;
    assert!(gone.is_some(), "the secrets outlived their 4 s");
    let texts = stack.nats_texts().await.unwrap();
    assert!(
        !texts.iter().any(
            |(place, t)| place.starts_with("KV_orchestrator-one-time-secrets #")
                && t.contains("\"sealed\"")
        ),
        "an expired secret is still stored"
    );
    let before = get_run(&stack, &run).await;
    assert_eq!(
        outputs(&before, "admin-user/admin")["secrets_delivered"],
        "no"
    );
    let old_seed_serial = outputs(&before, "mfa-device/admin")["serial_number"].clone();

    // The person is told what was lost and how to get new ones.
    let out = on_terminal(&stack, &["--output", "json", "secrets", "show", &run]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let lost = json_line(&out)["lost"].clone();
    let lost = lost.as_array().unwrap();
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost.iter().any(|h| {
        h.as_str()
            .unwrap()
            .contains("groundwork identity reset-password --user admin")
    }));
    assert!(lost.iter().any(|h| {
        h.as_str()
            .unwrap()
            .contains("groundwork mfa restart --user admin")
    }));

    // `apply --resume` on a terminal: the waiting MFA step enrolls again; its new seed is
    // shown there and acknowledged.
    let out = on_terminal(
        &stack,
        &["apply", "--resume", &run, "--detach-when-waiting"],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let seed = shown_on_terminal(&stdout, "mfa_base32_seed")
        .unwrap_or_else(|| panic!("no new seed shown: {stdout}"));
    let after = get_run(&stack, &run).await;
    let mfa = outputs(&after, "mfa-device/admin");
    assert_eq!(mfa["secrets_delivered"], "yes", "{mfa:?}");
    assert_eq!(mfa["secrets_delivered_by"], "terminal");
    assert_eq!(mfa["serial_number"], old_seed_serial);
    let again = orchestrator
        .fetch_one_time_secrets(pb::FetchOneTimeSecretsRequest {
            run_id: run.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .secrets;
    assert!(again.is_empty(), "acknowledged: {again:?}");

    // The new seed completes the enrollment and the run.
    let (code1, code2) = two_consecutive_codes(&seed).unwrap();
    let out = piped(
        &stack,
        &["mfa", "complete", "--user", "admin", &code1, &code2],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    confirm_subscription(&stack).await;
    until_completed(&stack, &run).await;
    assert_not_in_nats(&stack, &[("the new MFA seed", seed.as_str())]).await;
    stack.stop().await;
}
