//! No Douyin secret — client secret, mini-app secret, user access or refresh token,
//! `session_key` — reaches a response or a log line, through every Douyin login, a profile
//! read with a refresh, and a renewal. Its own binary: it installs the global log capture.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use serde_json::{Value, json};
use wechat_auth::mock::{Fault, MockWechat};

fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("wechat_auth=trace")
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Douyin's user tokens as the mock makes them: `act.…` / `rft.…` (not inside a word).
fn has_douyin_token(text: &str) -> bool {
    ["act.", "rft.", "clt."].iter().any(|p| {
        text.match_indices(p)
            .any(|(i, _)| i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric())
    })
}

#[tokio::test]
async fn no_douyin_secret_reaches_a_response_or_a_log_line() {
    let logs = logs();
    let mock = MockWechat::start().await.unwrap();
    let app_cfg = mock.douyin_app().clone();
    let mini = mock.douyin_miniapp().clone();
    let app = common::start(
        common::config(&mock)
            .with_douyin_app(app_cfg.client_key.clone(), app_cfg.client_secret.clone())
            .with_douyin_miniapp(mini.appid.clone(), mini.secret.clone())
            .with_douyin_bases(mock.douyin_open_base(), mock.douyin_miniapp_base())
            .with_userinfo_ttl(Duration::from_secs(1)),
    )
    .await;
    let mut bodies = String::new();
    let b = common::browser();
    let start = b
        .get(format!("{}/auth/wechat/login?channel=douyin", app.url))
        .send()
        .await
        .unwrap();
    let douyin = common::location(&start);
    let cb = b
        .get(format!("{douyin}&mock_user=carol&mock_action=approve"))
        .send()
        .await
        .unwrap();
    let res = b.get(common::location(&cb)).send().await.unwrap();
    bodies.push_str(&format!("{:?}", res.headers()));
    let c = reqwest::Client::new();
    for (path, appid) in [
        ("douyin/app", &app_cfg.client_key),
        ("douyin/miniapp", &mini.appid),
    ] {
        let code = mock.sdk_code(appid, "carol").unwrap();
        let text = c
            .post(format!("{}/auth/wechat/{path}", app.url))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token: Value = serde_json::from_str(&text).unwrap();
        assert!(token["token"].is_string(), "{text}");
        bodies.push_str(&text);
    }
    // A profile read that refreshes, and a renewal.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    mock.inject("oauth/userinfo/", Fault::Errcode(28_001_008), 1);
    let (status, p) =
        common::get_json(&b, &format!("{}/auth/wechat/douyin/profile", app.url)).await;
    assert_eq!(status, 200, "{p}");
    bodies.push_str(&p.to_string());
    let renewed = b
        .post(format!("{}/auth/wechat/douyin/renew", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    bodies.push_str(&renewed);
    let (_, me) = common::get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    bodies.push_str(&me.to_string());
    assert!(
        mock.calls("oauth/refresh_token/") >= 1 && mock.calls("oauth/renew_refresh_token/") == 1
    );

    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("login"), "the capture works: {logged:.400}");
    assert!(
        logged.contains("Douyin call"),
        "the client's own lines are captured"
    );
    for (name, text) in [("responses", &bodies), ("logs", &logged)] {
        for secret in [&app_cfg.client_secret, &mini.secret] {
            assert!(!text.contains(secret.as_str()), "{name} leak a secret");
        }
        assert!(!has_douyin_token(text), "{name} contain a Douyin token");
        for word in [
            "access_token",
            "refresh_token",
            "session_key",
            "client_secret",
        ] {
            assert!(!text.contains(&format!("{word}=")), "{name}: {word}=");
            assert!(!text.contains(&format!("\"{word}\"")), "{name}: \"{word}\"");
        }
    }
}
