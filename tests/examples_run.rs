//! Every example, run as the program a user runs: each starts, prints its URL and answers its
//! first request; the demo lists every endpoint the README names; a bad setting ends the
//! program with status 1 and a message that says what to fix.
//!
//! The binaries are the ones `cargo test` builds next to this test (`target/…/examples/`);
//! when this test runs alone (`cargo test --test examples_run`), it builds them first.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::{Output, Stdio},
    sync::OnceLock,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Where cargo put this build's examples (built once, if they are not there yet).
fn examples_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // target/<profile>/deps/examples_run-HASH → target/<profile>/examples
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().join("examples");
        let all_there = EXAMPLES.iter().all(|name| {
            dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
                .exists()
        });
        if !all_there {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--examples", "--all-features"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "cargo build --examples failed");
        }
        dir
    })
    .clone()
}

/// Every file in examples/ (checked against the directory below).
const EXAMPLES: [&str; 6] = [
    "demo",
    "website",
    "official_account",
    "unionid_linking",
    "mock_server",
    "accounts_sqlite",
];

fn example(name: &str) -> Command {
    let mut cmd = Command::new(examples_dir().join(name));
    // Whatever the environment of the test run, the example starts from a clean slate.
    for (var, _) in std::env::vars() {
        if var.starts_with("WECHAT_") || var == "RUST_LOG" || var.ends_with("PORT") {
            cmd.env_remove(var);
        }
    }
    cmd.env("PORT", "0")
        .env("MOCK_PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Reads the child's stdout until a line starts with `prefix`; returns every line read.
async fn read_until(child: &mut Child, prefix: &str) -> Vec<String> {
    let stdout = child.stdout.as_mut().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with(prefix);
            seen.push(line);
            if done {
                return;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .is_err()
    {
        panic!("no line starting with {prefix:?} within 60 s; got {seen:#?}");
    }
    seen
}

/// The URL on a line like `app: http://127.0.0.1:PORT`.
fn url_on(lines: &[String], prefix: &str) -> String {
    let line = lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:#?}"));
    line[prefix.len()..].trim().to_owned()
}

async fn first_request(url: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // As a browser navigates: a protected page answers with a redirect to the login.
    client
        .get(url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn every_example_in_the_directory_is_run_here() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let found: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    let listed: BTreeSet<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        found, listed,
        "add the new example to EXAMPLES (and to a test below)"
    );
}

#[tokio::test]
async fn every_server_example_prints_its_url_and_answers_its_first_request() {
    let db = tempfile::tempdir().unwrap();
    for name in ["website", "official_account", "accounts_sqlite", "demo"] {
        let mut cmd = example(name);
        cmd.env("ACCOUNTS_DB", db.path().join("accounts.db"));
        let mut child = cmd.spawn().unwrap();
        let lines = read_until(&mut child, "app: ").await;
        let url = url_on(&lines, "app: ");
        let status = first_request(&format!("{url}/")).await;
        assert!(
            (200..400).contains(&status),
            "{name}: GET / answered {status}"
        );
        // A protected page sends a browser to the login, which sends it to (mock) WeChat.
        let login = first_request(&format!("{url}/auth/wechat/login")).await;
        assert_eq!(login, 302, "{name}: the login starts");
        child.kill().await.unwrap();
    }
    let mut mock = example("mock_server").spawn().unwrap();
    let lines = read_until(&mut mock, "mock wechat: ").await;
    let url = url_on(&lines, "mock wechat: ");
    assert_eq!(first_request(&format!("{url}/mock/config")).await, 200);
    mock.kill().await.unwrap();
}

#[tokio::test]
async fn unionid_linking_runs_to_the_end() {
    let out = tokio::time::timeout(Duration::from_secs(60), example("unionid_linking").output())
        .await
        .expect("unionid_linking finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("app: http://"), "{stdout}");
    assert!(stdout.contains("accounts created: 1"), "{stdout}");
}

/// Every `/auth/wechat/…` path the README names (query strings and `{id}` kept as written).
fn readme_endpoints() -> BTreeSet<String> {
    let readme = include_str!("../README.md");
    let mut found = BTreeSet::new();
    for (i, _) in readme.match_indices("/auth/wechat/") {
        let path: String = readme[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/_{}.".contains(*c))
            .collect();
        let path = path.trim_end_matches(['.', '/']);
        if path.len() > "/auth/wechat".len() {
            found.insert(path.to_owned());
        }
    }
    found
}

#[tokio::test]
async fn the_demo_lists_every_endpoint_it_serves() {
    let mut child = example("demo").spawn().unwrap();
    let lines = read_until(&mut child, "  POST       /auth/wechat/logout").await;
    let listed: BTreeSet<String> = lines
        .iter()
        .skip_while(|l| *l != "endpoints:")
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')))
        .map(str::to_owned)
        .collect();
    // `relay` exists only on a relay hub (with `WECHAT_RELAY_TARGETS`), which the demo is not.
    let missing: Vec<_> = readme_endpoints()
        .into_iter()
        .filter(|p| !listed.contains(p) && p != "/auth/wechat/relay")
        .collect();
    assert!(
        missing.is_empty(),
        "the demo's startup list lacks {missing:?}; it lists {listed:?}"
    );
    assert!(listed.contains("/") && listed.contains("/profile"));
    // And every listed layer endpoint is served (not 404).
    let url = url_on(&lines, "app: ");
    for path in listed.iter().filter(|p| p.starts_with("/auth/wechat/")) {
        let path = path.replace("{id}", "nosuchscan");
        let status = first_request(&format!("{url}{path}")).await;
        assert!(
            status != 404 || path.contains("nosuchscan"),
            "{path} answered 404"
        );
    }
    child.kill().await.unwrap();
}

async fn fails(mut cmd: Command) -> (Output, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the example exits")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {stderr}");
    (out, stderr)
}

#[tokio::test]
async fn a_bad_setting_ends_every_example_with_the_message_that_says_what_to_fix() {
    // The README's quick start, in the website example: real settings without a public URL.
    let mut cmd = example("website");
    cmd.env("WECHAT_WEBSITE_APP_ID", "wx1000000000000001")
        .env("WECHAT_WEBSITE_APP_SECRET", "secret");
    let (_, stderr) = fails(cmd).await;
    assert!(
        stderr.contains("Error: no public URL: set WECHAT_PUBLIC_URL"),
        "{stderr}"
    );

    let mut cmd = example("official_account");
    cmd.env("WECHAT_OA_APP_ID", "wx2000000000000002")
        .env("WECHAT_PUBLIC_URL", "https://example.com")
        .env("WECHAT_SESSION_SECRET", "short")
        .env("WECHAT_OA_APP_SECRET", "secret");
    let (_, stderr) = fails(cmd).await;
    assert!(
        stderr.contains(
            "Error: session secret #0 is 5 bytes long; each key must have at least 32 bytes"
        ),
        "{stderr}"
    );

    let mut cmd = example("demo");
    cmd.env("WECHAT_WEBSITE_APP_ID", "wx1000000000000001");
    let (_, stderr) = fails(cmd).await;
    assert!(
        stderr.contains(
            "Error: the website app has an AppID but no AppSecret: set WECHAT_WEBSITE_APP_SECRET"
        ),
        "{stderr}"
    );

    let mut cmd = example("demo");
    cmd.env("PORT", "eighty");
    let (_, stderr) = fails(cmd).await;
    assert!(stderr.contains("PORT must be a port number"), "{stderr}");

    let mut cmd = example("accounts_sqlite");
    cmd.env("ACCOUNTS_DB", "/nonexistent-dir/accounts.db");
    let (_, stderr) = fails(cmd).await;
    assert!(
        stderr.contains("cannot open the accounts database") && stderr.contains("ACCOUNTS_DB"),
        "{stderr}"
    );

    // A port already taken: the message names it and the setting that moves it.
    let db = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for name in ["demo", "website", "official_account", "accounts_sqlite"] {
        let mut cmd = example(name);
        cmd.env("PORT", &port)
            .env("ACCOUNTS_DB", db.path().join("accounts.db"));
        let (_, stderr) = fails(cmd).await;
        assert!(
            stderr.contains(&format!("cannot listen on 127.0.0.1:{port}"))
                && stderr.contains("set PORT"),
            "{name}: {stderr}"
        );
    }
}

/// A base URL `build()` cannot use exactly as written (a query, credentials, a fragment) used
/// to pass it, and the client then fell back to the real WeChat hosts: the demo started
/// against WeChat. Now the start ends with status 1 and a message naming the variable (and no
/// password in it).
#[tokio::test]
async fn a_base_url_with_a_query_credentials_or_a_fragment_ends_the_demo_naming_it() {
    for (var, value, why) in [
        (
            "WECHAT_API_BASE",
            "http://127.0.0.1:9/?x=1",
            "must not have a query",
        ),
        (
            "WECHAT_API_BASE",
            "http://user:pw@127.0.0.1:9/",
            "must not contain credentials",
        ),
        (
            "WECHAT_API_BASE",
            "http://127.0.0.1:9/#frag",
            "must not have a fragment",
        ),
        (
            "WECHAT_OPEN_BASE",
            "http://127.0.0.1:9/?x=1",
            "must not have a query",
        ),
        (
            "WECHAT_MP_BASE",
            "http://127.0.0.1:9/#frag",
            "must not have a fragment",
        ),
        (
            "WECHAT_OA_PUSH_FORWARD_URL",
            "http://user:pw@127.0.0.1:9/wechat",
            "without user:password@",
        ),
    ] {
        let mut cmd = example("demo");
        cmd.env("WECHAT_WEBSITE_APP_ID", "wx1000000000000001")
            .env("WECHAT_WEBSITE_APP_SECRET", "secret")
            .env(var, value);
        let (_, stderr) = fails(cmd).await;
        assert!(stderr.contains(&format!("Error: {var} ")), "{stderr}");
        assert!(stderr.contains(why), "{var}={value}: {stderr}");
        assert!(!stderr.contains(":pw@"), "the password is hidden: {stderr}");
    }
}

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_store_that_does_not_answer_ends_the_demo_unless_retry_is_asked_for() {
    let port = closed_port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");

    // By default: exit 1, with the URL (password hidden) and what failed.
    let mut cmd = example("demo");
    cmd.env("WECHAT_REDIS_URL", &url);
    let (out, stderr) = fails(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains(&format!("redis://:***@127.0.0.1:{port}/0"))
            && stderr.contains("cannot use Redis at"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2") && !stdout.contains("hunter2"),
        "{stderr}{stdout}"
    );
    assert!(
        !stdout.contains("endpoints:"),
        "it did not start serving: {stdout}"
    );

    // A setting that is neither: refused, naming the variable.
    let mut cmd = example("demo");
    cmd.env("WECHAT_REDIS_URL", &url)
        .env("WECHAT_REDIS_START", "later");
    let (_, stderr) = fails(cmd).await;
    assert!(stderr.contains("WECHAT_REDIS_START"), "{stderr}");

    // WECHAT_REDIS_START=retry: it starts, and says at error level that the store is down.
    let mut cmd = example("demo");
    cmd.env("WECHAT_REDIS_URL", &url)
        .env("WECHAT_REDIS_START", "retry")
        .env("NO_COLOR", "1");
    let mut child = cmd.spawn().unwrap();
    let lines = read_until(&mut child, "app: ").await;
    let logged = lines.join("\n");
    assert!(
        logged.contains("ERROR") && logged.contains("does not answer"),
        "{logged}"
    );
    assert!(!logged.contains("hunter2"), "{logged}");
    let app = url_on(&lines, "app: ");
    assert_eq!(first_request(&format!("{app}/")).await, 200);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn the_examples_sign_sessions_with_a_key_of_their_own_not_a_published_one() {
    // The key every example used to sign with in mock mode (it is in the repository).
    const OLD_FIXED: &str = "example-only-secret-0123456789abcdef";
    let mut child = example("website").spawn().unwrap();
    let lines = read_until(&mut child, "app: ").await;
    let (app, mock) = (url_on(&lines, "app: "), url_on(&lines, "mock wechat: "));
    let config: serde_json::Value = reqwest::get(format!("{mock}/mock/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let appid = config["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "website")
        .unwrap()["appid"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session",
        "sub": format!("openid:{appid}:oForged"), "oid": "oForged", "aid": appid,
        "ch": "website", "jti": "forged-jti", "iat": now - 10, "exp": now + 600,
    });
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(OLD_FIXED.as_bytes()),
    )
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(format!("{app}/"))
        .header("accept", "text/html")
        .header("cookie", format!("wechat_session={forged}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert!(
        status != 200 && !body.contains("oForged"),
        "a session signed with the published key opened the page: {status} {body}"
    );
    child.kill().await.unwrap();

    // WECHAT_SESSION_SECRET still pins the key (sessions survive a restart): the same
    // forgery with that key is a valid session, which shows the check above is the key's.
    const PINNED: &str = "pinned-secret-for-this-test-0123456789abcdef";
    let mut cmd = example("website");
    cmd.env("WECHAT_SESSION_SECRET", PINNED);
    let mut child = cmd.spawn().unwrap();
    let lines = read_until(&mut child, "app: ").await;
    let (app, mock) = (url_on(&lines, "app: "), url_on(&lines, "mock wechat: "));
    let config: serde_json::Value = reqwest::get(format!("{mock}/mock/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let website = config["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "website")
        .unwrap()["appid"]
        .clone();
    let mut claims = claims;
    claims["aid"] = website.clone();
    claims["sub"] = format!("openid:{}:oForged", website.as_str().unwrap()).into();
    let signed = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(PINNED.as_bytes()),
    )
    .unwrap();
    let res = client
        .get(format!("{app}/"))
        .header("accept", "text/html")
        .header("cookie", format!("wechat_session={signed}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("oForged"));
    child.kill().await.unwrap();
}
