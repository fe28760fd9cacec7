//! Douyin logins in the layer's metrics: `wechat_auth_logins_total{channel="douyin"}` and the
//! Douyin client's `wechat_auth_douyin_requests_total`, through the Prometheus exporter the
//! demo uses. One recorder per process: one test in this binary.

mod common;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use wechat_auth::mock::{Fault, MockWechat};

/// The value of the sample `name{labels}` (labels in the exporter's order), 0 when absent.
fn sample(handle: &PrometheusHandle, name: &str, labels: &str) -> f64 {
    let wanted = format!("{name}{{{labels}}} ");
    handle
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&wanted))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn douyin_logins_and_calls_are_counted_by_provider() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    wechat_auth::metrics::describe();
    let mock = MockWechat::start().await.unwrap();
    let douyin = mock.douyin_app();
    let app = common::start(
        common::config(&mock)
            .with_douyin_app(douyin.client_key.clone(), douyin.client_secret.clone())
            .with_douyin_bases(mock.douyin_open_base(), mock.douyin_miniapp_base()),
    )
    .await;
    let m = |name: &str, labels: &str| sample(&handle, name, labels);
    let post = |code: String| {
        reqwest::Client::new()
            .post(format!("{}/auth/wechat/douyin/app", app.url))
            .json(&json!({ "code": code }))
            .send()
    };
    let res = post(mock.sdk_code(&douyin.client_key, "alice").unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.json::<Value>().await);
    assert_eq!(
        m(
            "wechat_auth_logins_total",
            r#"channel="douyin",outcome="ok""#
        ),
        1.0
    );
    assert_eq!(
        m(
            "wechat_auth_douyin_requests_total",
            r#"endpoint="oauth/access_token/",errcode="0""#
        ),
        1.0
    );
    // A refused exchange is counted with Douyin's number; WeChat's counters do not move.
    mock.inject("oauth/access_token/", Fault::Errcode(28_001_016), 1);
    let res = post(mock.sdk_code(&douyin.client_key, "bob").unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        m(
            "wechat_auth_douyin_requests_total",
            r#"endpoint="oauth/access_token/",errcode="28001016""#
        ),
        1.0
    );
    assert_eq!(
        m(
            "wechat_auth_wechat_requests_total",
            r#"endpoint="sns/oauth2/access_token",errcode="0""#
        ),
        0.0
    );
    assert!(
        handle
            .render()
            .contains("# HELP wechat_auth_douyin_requests_total"),
        "described"
    );
}
