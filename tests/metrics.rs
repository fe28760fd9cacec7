//! The layer's metrics (`src/metrics.rs`) through the Prometheus exporter the demo uses:
//! counters move during real logins over real sockets. One recorder per process, so this
//! binary has one test that runs the flows one after the other.

mod common;

use std::time::Duration;

use common::*;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use reqwest::Client;
use serde_json::Value;
use wechat_auth::mock::MockWechat;

/// The value of the sample `name{labels}` (labels in the exporter's order), 0 when absent.
fn sample(handle: &PrometheusHandle, name: &str, labels: &str) -> f64 {
    let rendered = handle.render();
    let wanted = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    rendered
        .lines()
        .find_map(|l| l.strip_prefix(&wanted))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn counters_move_during_logins() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    wechat_auth::metrics::describe();
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let m = |name: &str, labels: &str| sample(&handle, name, labels);

    // Anonymous, then a website login, then signed in.
    let b = browser();
    let (status, _) = get_json(&b, &format!("{}/api/data", app.url)).await;
    assert_eq!(status, 401);
    assert_eq!(
        m("wechat_auth_guard_decisions_total", r#"decision="missing""#),
        1.0
    );
    let res = login(&app, &b, "?return_to=/profile", "alice").await;
    assert_eq!(res.status(), 302);
    let (status, _) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        m(
            "wechat_auth_logins_total",
            r#"channel="website",outcome="ok""#
        ),
        1.0
    );
    assert_eq!(
        m(
            "wechat_auth_wechat_requests_total",
            r#"endpoint="sns/oauth2/access_token",errcode="0""#
        ),
        1.0
    );
    assert!(
        handle
            .render()
            .contains(r#"wechat_auth_wechat_request_duration_seconds_count{endpoint="sns/oauth2/access_token"} 1"#),
        "{}",
        handle.render()
    );
    assert_eq!(
        m("wechat_auth_guard_decisions_total", r#"decision="valid""#),
        1.0
    );

    // A forged bearer token, and a code WeChat refuses.
    let res = Client::new()
        .get(format!("{}/api/data", app.url))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        m("wechat_auth_guard_decisions_total", r#"decision="invalid""#),
        1.0
    );
    let res = Client::new()
        .post(format!("{}/auth/wechat/app", app.url))
        .json(&serde_json::json!({ "code": "made-up-code" }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let refused: f64 = handle
        .render()
        .lines()
        .filter(|l| {
            l.starts_with("wechat_auth_wechat_requests_total{endpoint=\"sns/oauth2/access_token\"")
        })
        .filter(|l| !l.contains(r#"errcode="0""#))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(refused >= 1.0, "{}", handle.render());

    // A logout, then the same token again: revoked.
    let token = {
        let res = Client::new()
            .post(format!("{}/auth/wechat/app", app.url))
            .json(
                &serde_json::json!({ "code": mock.sdk_code(&mock.mobile().appid, "bob").unwrap() }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        m(
            "wechat_auth_logins_total",
            r#"channel="mobile_app",outcome="ok""#
        ),
        1.0
    );
    let res = Client::new()
        .post(format!("{}/auth/wechat/logout", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection() || res.status().is_success());
    assert_eq!(status_with_bearer(&app, &token).await, 401);
    assert_eq!(
        m("wechat_auth_guard_decisions_total", r#"decision="revoked""#),
        1.0
    );

    // A scan login: started, one long-poll, confirmed; the global token fetched once.
    wire(&mock, &app);
    let started: Value = b
        .post(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        m(
            "wechat_auth_scans_total",
            r#"event="started",via="follow_oa""#
        ),
        1.0
    );
    assert_eq!(
        m(
            "wechat_auth_global_token_fetches_total",
            r#"source="stable_token""#
        ),
        1.0
    );
    let id = started["id"].as_str().unwrap().to_owned();
    let waiting = {
        let b = b.clone();
        let url = format!("{}/auth/wechat/scan/{id}?wait=10", app.url);
        tokio::spawn(async move { b.get(url).send().await.unwrap().json::<Value>().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    mock.scan(started["qr_url"].as_str().unwrap(), "carol")
        .await
        .unwrap();
    let body = waiting.await.unwrap().unwrap();
    assert_eq!(body["status"], "confirmed", "{body}");
    assert_eq!(
        m(
            "wechat_auth_scans_total",
            r#"event="confirmed",via="follow_oa""#
        ),
        1.0
    );
    assert!(m("wechat_auth_long_poll_waits_total", "") >= 1.0);
    assert!(
        handle
            .render()
            .contains("# HELP wechat_auth_guard_decisions_total"),
        "described"
    );
}
