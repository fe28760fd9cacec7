//! Issue 18, item 2: forging a scan login from one leaked push URL signature. The real layer
//! in a real axum server and the mock WeChat, over loopback sockets.
//!
//! WeChat's URL `signature` covers the token, `timestamp` and `nonce`, not the body. These
//! tests check that a signed query seen once (in a proxy's access log, say) cannot be used
//! again with another body, on this instance or another one sharing the store; that stale
//! and malformed timestamps are refused; that an event without a usable openid confirms
//! nothing; and that `build()` refuses push settings that invite all this.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::*;
use reqwest::Client;
use serde_json::Value;
use wechat_auth::{
    ConfigError, WechatConfig, WechatConfigBuilder, WechatUser,
    mock::{
        AppKind, MockApp, MockConfig, MockWechat,
        wire::{event_xml, safe_mode_xml},
    },
    push::PushCrypto,
    store::{MemoryStore, Store},
};

/// Now, Unix seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A mock whose Official Account pushes plaintext (no EncodingAESKey).
async fn plaintext_mock() -> MockWechat {
    let oa = MockApp::default_for(AppKind::OfficialAccount).without_encoding_aes_key();
    MockWechat::start_with(MockConfig::new().with_app(oa))
        .await
        .unwrap()
}

/// The app's config for `mock`: safe mode when the mock's account has a key, otherwise
/// plaintext, explicitly opted into.
fn app_config(mock: &MockWechat) -> WechatConfigBuilder {
    let plaintext = mock.official_account().encoding_aes_key.is_none();
    config(mock).with_insecure_plaintext_push(plaintext)
}

/// A push request as WeChat would sign it: `(query, body)`, sealed in safe mode when
/// `crypto` has a key.
fn signed(crypto: &PushCrypto, xml: &str, ts: &str, nonce: &str) -> (String, String) {
    let mut query = format!(
        "signature={}&timestamp={}&nonce={nonce}&openid=oX",
        crypto.signature(ts, nonce),
        url_encode(ts)
    );
    if !crypto.has_aes() {
        return (query, xml.to_owned());
    }
    let encrypt = crypto.encrypt(xml, rand::random()).unwrap();
    query.push_str(&format!(
        "&encrypt_type=aes&msg_signature={}",
        crypto.msg_signature(ts, nonce, &encrypt)
    ));
    (query, safe_mode_xml("gh_000000000001", &encrypt))
}

/// `POST /auth/wechat/push?{query}` with `body`: status and answer.
async fn post(app: &App, query: &str, body: &str) -> (u16, String) {
    let res = Client::new()
        .post(format!("{}/auth/wechat/push?{query}", app.url))
        .header("content-type", "text/xml")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// `GET /auth/wechat/push?{query}`: status and answer.
async fn get(app: &App, query: &str) -> (u16, String) {
    let res = Client::new()
        .get(format!("{}/auth/wechat/push?{query}", app.url))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Starts a scan in browser `b`; returns its id.
async fn start_scan(app: &App, b: &Client) -> String {
    let res = b
        .post(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// The scan's status as browser `b` sees it (after waiting up to `wait` seconds for a
/// change), and whether a session came with it.
async fn status_of(app: &App, b: &Client, id: &str, wait: u64) -> (String, bool) {
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}?wait={wait}", app.url))
        .send()
        .await
        .unwrap();
    let token = session_token(&res).is_some();
    let v: Value = res.json().await.unwrap();
    (v["status"].as_str().unwrap_or_default().to_owned(), token)
}

/// The SCAN event that would log the browser waiting on `scene` in as `openid`.
fn scan_event(openid: &str, scene: &str) -> String {
    event_xml("gh_000000000001", openid, now(), "SCAN", scene, "TICKET")
}

/// An event that has nothing to do with login, as WeChat pushes many of.
fn unrelated_event(openid: &str) -> String {
    event_xml("gh_000000000001", openid, now(), "unsubscribe", "", "")
}

/// An app that counts `on_login` calls.
async fn counting_app(builder: WechatConfigBuilder) -> (App, Arc<AtomicUsize>) {
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = logins.clone();
    let app = start(builder.with_on_login(move |_u: WechatUser| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(None) }
    }))
    .await;
    (app, logins)
}

#[tokio::test]
async fn a_leaked_signed_query_cannot_carry_a_forged_plaintext_event() {
    let mock = plaintext_mock().await;
    let (app, logins) = counting_app(app_config(&mock)).await;
    let crypto = oa_crypto(&mock);
    assert!(!crypto.has_aes());
    let victim = mock
        .user("alice")
        .unwrap()
        .openid_for(&mock.official_account().appid);

    // WeChat pushes something ordinary; its signed query lands in a proxy's log.
    let ts = now().to_string();
    let (leaked, genuine) = signed(&crypto, &unrelated_event(&victim), &ts, "1234567");
    assert_eq!(post(&app, &leaked, &genuine).await, (200, "success".into()));
    // WeChat's own re-delivery (same query, same body) is still acknowledged.
    assert_eq!(post(&app, &leaked, &genuine).await, (200, "success".into()));

    // The attacker starts a scan in their browser and replays the query with a body that
    // says the victim scanned it.
    let attacker = browser();
    let id = start_scan(&app, &attacker).await;
    let (status, answer) = post(&app, &leaked, &scan_event(&victim, &id)).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        status_of(&app, &attacker, &id, 1).await,
        ("pending".into(), false)
    );
    assert_eq!(logins.load(Ordering::SeqCst), 0);
    // Upper-case hex is the same signature, and refused the same way.
    let shouting = leaked.replacen(
        &crypto.signature(&ts, "1234567"),
        &crypto.signature(&ts, "1234567").to_ascii_uppercase(),
        1,
    );
    assert_eq!(
        post(&app, &shouting, &scan_event(&victim, &id)).await.0,
        403
    );

    // The query of WeChat's URL check (GET, with its echostr) is just as signed.
    let ts = now().to_string();
    let check = format!(
        "signature={}&timestamp={ts}&nonce=7654321&echostr=4375120948345356249",
        crypto.signature(&ts, "7654321")
    );
    assert_eq!(get(&app, &check).await, (200, "4375120948345356249".into()));
    assert_eq!(get(&app, &check).await.0, 200, "the same check again");
    let (status, _) = post(&app, &check, &scan_event(&victim, &id)).await;
    assert_eq!(status, 403);
    assert_eq!(
        status_of(&app, &attacker, &id, 0).await,
        ("pending".into(), false)
    );

    // A genuine push with a fresh query still logs the right browser in, once, even when
    // WeChat delivers it again.
    let (query, body) = signed(
        &crypto,
        &scan_event(&victim, &id),
        &now().to_string(),
        "99999",
    );
    assert_scan_reply(post(&app, &query, &body).await);
    assert_eq!(post(&app, &query, &body).await, (200, "success".into()));
    assert_eq!(
        status_of(&app, &attacker, &id, 5).await,
        ("confirmed".into(), true)
    );
    assert_eq!(logins.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn stale_and_malformed_timestamps_are_refused_in_both_modes() {
    for mock in [MockWechat::start().await.unwrap(), plaintext_mock().await] {
        let app = start(app_config(&mock).with_scan_ttl(Duration::from_secs(3600))).await;
        let crypto = oa_crypto(&mock);
        let mode = if crypto.has_aes() { "safe" } else { "plain" };
        let b = browser();
        let id = start_scan(&app, &b).await;
        let openid = mock
            .user("bob")
            .unwrap()
            .openid_for(&mock.official_account().appid);
        let t = now();
        for ts in [
            "0".to_owned(),
            "abc".to_owned(),
            (t - 600).to_string(),
            (t + 600).to_string(),
            format!(" {t}"),
            format!("+{t}"),
        ] {
            let nonce = "31337";
            let (query, body) = signed(&crypto, &scan_event(&openid, &id), &ts, nonce);
            let (status, answer) = post(&app, &query, &body).await;
            assert_eq!(status, 403, "{mode} POST timestamp={ts:?}: {answer}");
            let check = format!(
                "signature={}&timestamp={}&nonce={nonce}&echostr=42",
                crypto.signature(&ts, nonce),
                url_encode(&ts)
            );
            let (status, answer) = get(&app, &check).await;
            assert_eq!(status, 403, "{mode} GET timestamp={ts:?}: {answer}");
        }
        assert_eq!(
            status_of(&app, &b, &id, 1).await,
            ("pending".into(), false),
            "{mode}: nothing changed"
        );

        // Within the window (a few minutes of clock skew) is fine.
        let (query, body) = signed(
            &crypto,
            &scan_event(&openid, &id),
            &(t - 240).to_string(),
            "1",
        );
        assert_scan_reply(post(&app, &query, &body).await);
        assert_eq!(
            status_of(&app, &b, &id, 5).await,
            ("confirmed".into(), true),
            "{mode}"
        );

        // The mock stamps its pushes with the real time, also after a test moved its clock:
        // a scan 10 minutes later on the mock's clock still lands.
        mock.set_push_url(
            &mock.official_account().appid,
            Some(&format!("{}/auth/wechat/push", app.url)),
        )
        .unwrap();
        let b = browser();
        let res = b
            .post(format!("{}/auth/wechat/scan", app.url))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let started: Value = res.json().await.unwrap();
        mock.advance(Duration::from_secs(600));
        let report = mock
            .scan(started["qr_url"].as_str().unwrap(), "alice")
            .await
            .unwrap();
        assert!(report.acknowledged, "{mode}: {report:?}");
        assert_eq!(report.last_status, Some(200), "{mode}: {report:?}");
        let id = started["id"].as_str().unwrap();
        assert_eq!(
            status_of(&app, &b, id, 5).await,
            ("confirmed".into(), true),
            "{mode}"
        );
    }
}

/// Percent-encodes the few characters the timestamps above use.
fn url_encode(s: &str) -> String {
    s.replace('+', "%2B").replace(' ', "%20")
}

#[tokio::test]
async fn a_replay_on_another_instance_sharing_the_store_is_refused() {
    let mock = plaintext_mock().await;
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let instance = || {
        base_config(&mock)
            .with_insecure_plaintext_push(true)
            .with_store(shared.clone())
    };
    let (a, logins_a) = counting_app(instance()).await;
    let (b, logins_b) = counting_app(instance()).await;
    let crypto = oa_crypto(&mock);
    let victim = mock
        .user("alice")
        .unwrap()
        .openid_for(&mock.official_account().appid);

    // WeChat's push reaches instance A; its query leaks.
    let (leaked, genuine) = signed(
        &crypto,
        &unrelated_event(&victim),
        &now().to_string(),
        "555",
    );
    assert_eq!(post(&a, &leaked, &genuine).await, (200, "success".into()));
    // A re-delivery that the load balancer sends to B is acknowledged there.
    assert_eq!(post(&b, &leaked, &genuine).await, (200, "success".into()));

    // The forged event sent to B is refused: B knows the query from the shared store.
    let attacker = browser();
    let id = start_scan(&a, &attacker).await;
    let (status, answer) = post(&b, &leaked, &scan_event(&victim, &id)).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(post(&a, &leaked, &scan_event(&victim, &id)).await.0, 403);
    assert_eq!(
        status_of(&a, &attacker, &id, 1).await,
        ("pending".into(), false)
    );
    assert_eq!(
        logins_a.load(Ordering::SeqCst) + logins_b.load(Ordering::SeqCst),
        0
    );

    // In safe mode too: a sealed push replayed on the other instance changes nothing more.
    let mock = MockWechat::start().await.unwrap();
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let instance = || base_config(&mock).with_store(shared.clone());
    let (a, logins_a) = counting_app(instance()).await;
    let (b, logins_b) = counting_app(instance()).await;
    let crypto = oa_crypto(&mock);
    let browser_a = browser();
    let id = start_scan(&a, &browser_a).await;
    let (query, body) = signed(
        &crypto,
        &scan_event(&victim, &id),
        &now().to_string(),
        "556",
    );
    assert_scan_reply(post(&a, &query, &body).await);
    assert_eq!(post(&b, &query, &body).await, (200, "success".into()));
    // Same sealed query, other outer body: not the request that was accepted.
    let tampered = body.replace("gh_000000000001", "gh_999999999999");
    assert_eq!(post(&b, &query, &tampered).await.0, 403);
    assert_eq!(
        status_of(&a, &browser_a, &id, 5).await,
        ("confirmed".into(), true)
    );
    assert_eq!(
        logins_a.load(Ordering::SeqCst) + logins_b.load(Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn an_event_without_a_usable_openid_confirms_nothing() {
    let mock = MockWechat::start().await.unwrap();
    let (app, logins) = counting_app(app_config(&mock)).await;
    let crypto = oa_crypto(&mock);
    let b = browser();
    let id = start_scan(&app, &b).await;
    let long = "o".repeat(65);
    for (i, openid) in ["", " ", "o/../admin", "o x", "用户", long.as_str()]
        .into_iter()
        .enumerate()
    {
        let (query, body) = signed(
            &crypto,
            &scan_event(openid, &id),
            &now().to_string(),
            &format!("77{i}"),
        );
        // Acknowledged, so that WeChat stops re-sending it, and otherwise ignored.
        assert_eq!(
            post(&app, &query, &body).await,
            (200, "success".into()),
            "{openid:?}"
        );
    }
    assert_eq!(status_of(&app, &b, &id, 2).await, ("pending".into(), false));
    assert_eq!(logins.load(Ordering::SeqCst), 0);
    assert_eq!(mock.calls("cgi-bin/user/info"), 0);
}

#[tokio::test]
async fn build_refuses_unusable_push_tokens_and_unasked_for_plaintext() {
    const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let oa = || {
        WechatConfig::builder()
            .with_public_url("https://example.com")
            .with_session_secret(SECRET)
            .with_official_account("wx2000000000000002", "secret")
    };
    let too_long = "a".repeat(33);
    for token in ["", "ab", "push-token", "tok en", "tokén", too_long.as_str()] {
        let err = oa().with_oa_push(token, Some(AES)).build().unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidPushToken { .. }),
            "{token:?}: {err:?}"
        );
        assert!(err.to_string().contains("WECHAT_OA_TOKEN"), "{err}");
        // The opt-in does not excuse a bad token.
        assert!(
            oa().with_oa_push(token, None)
                .with_insecure_plaintext_push(true)
                .build()
                .is_err(),
            "{token:?}"
        );
    }
    assert!(oa().with_oa_push("abc", Some(AES)).build().is_ok());
    assert!(oa().with_oa_push("a".repeat(32), Some(AES)).build().is_ok());

    // A push token without a key is plaintext push: only when asked for by name.
    let err = oa().with_oa_push("mocktoken", None).build().unwrap_err();
    assert_eq!(err, ConfigError::PlaintextPushNotAllowed);
    let msg = err.to_string();
    assert!(msg.contains("WECHAT_OA_ENCODING_AES_KEY"), "{msg}");
    assert!(msg.contains("WECHAT_OA_INSECURE_PLAINTEXT_PUSH"), "{msg}");
    assert!(
        oa().with_oa_push("mocktoken", None)
            .with_insecure_plaintext_push(false)
            .build()
            .is_err()
    );
    let cfg = oa()
        .with_oa_push("mocktoken", None)
        .with_insecure_plaintext_push(true)
        .build()
        .unwrap();
    assert!(cfg.official_account().unwrap().insecure_plaintext_push());
    // An Official Account without push (web authorization only) needs neither.
    assert!(oa().build().is_ok());

    // The same from the environment, in a child process (the environment is global).
    for (vars, expect) in [
        (
            &[("WECHAT_OA_TOKEN", "mocktoken")][..],
            "PlaintextPushNotAllowed",
        ),
        (
            &[
                ("WECHAT_OA_TOKEN", "mocktoken"),
                ("WECHAT_OA_INSECURE_PLAINTEXT_PUSH", "1"),
            ][..],
            "ok",
        ),
        (
            &[
                ("WECHAT_OA_TOKEN", "mocktoken"),
                ("WECHAT_OA_INSECURE_PLAINTEXT_PUSH", "maybe"),
            ][..],
            "InvalidFlag",
        ),
        (
            &[
                ("WECHAT_OA_TOKEN", "x"),
                ("WECHAT_OA_ENCODING_AES_KEY", AES),
            ][..],
            "InvalidPushToken",
        ),
    ] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "from_env_in_a_child_process",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env_remove("WECHAT_REDIS_URL")
            .env("SECURITY_PUSH_CHILD_EXPECT", expect)
            .env("WECHAT_PUBLIC_URL", "https://example.com")
            .env("WECHAT_SESSION_SECRET", SECRET)
            .env("WECHAT_OA_APP_ID", "wx2000000000000002")
            .env("WECHAT_OA_APP_SECRET", "secret")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "{vars:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Run by the test above with a prepared environment; does nothing otherwise.
#[test]
#[ignore = "run by build_refuses_unusable_push_tokens_and_unasked_for_plaintext"]
fn from_env_in_a_child_process() {
    let Ok(expect) = std::env::var("SECURITY_PUSH_CHILD_EXPECT") else {
        return;
    };
    let got = match WechatConfig::from_env() {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{e:?}"),
    };
    assert!(
        got == expect || got.ends_with(&format!("(ConfigError::{expect})")),
        "expected {expect}, got {got}"
    );
}

/// An accepted scan push is answered with the passive reply that names the browser (plain
/// or sealed), not a bare `success`.
fn assert_scan_reply((status, body): (u16, String)) {
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("<xml>") && (body.contains("扫码登录") || body.contains("<Encrypt>")),
        "{body}"
    );
}
