//! The confirm-page cookie bomb in a real browser: another site sends headless Chromium to
//! `scan/{id}/confirm` of the app on `localhost` again and again. Pages of ids that are no
//! live scan set no cookie; pages of live scans (each sends the browser on to WeChat's web
//! authorization on `127.0.0.1`, another site) leave only the latest few confirm cookies in
//! Chromium's jar, so the Cookie header stays far below the 8 KB a proxy takes. Skips (one
//! line) without Chromium, fails under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::net::SocketAddr;

use browser::in_chromium;
use fantoccini::Client;
use wechat_auth::{WechatAuthLayer, mock::MockWechat};

/// The app, served on 127.0.0.1 but known as `http://localhost:PORT`: another site than the
/// mock's `http://127.0.0.1:PORT`.
async fn app_on_localhost(mock: &MockWechat) -> common::App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://localhost:{}", addr.port());
    let cfg = common::config(mock)
        .with_scan_confirm(true)
        .with_public_url(url.clone())
        .build()
        .unwrap();
    let app = common::routes().layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    common::App::from_parts(url, addr, task)
}

/// The confirm-page cookies Chromium holds for the app's endpoints: (how many, the size of
/// the Cookie header they make).
async fn confirm_cookies(client: &Client, app: &str) -> (usize, usize) {
    // A page under the cookies' path, so that WebDriver lists them.
    client
        .goto(&format!("{app}/auth/wechat/scan/{}", "0".repeat(32)))
        .await
        .unwrap();
    let cookies = client.get_all_cookies().await.unwrap();
    let ours: Vec<_> = cookies
        .iter()
        .filter(|c| c.name().starts_with("wechat_cstate_") || c.name().starts_with("wechat_cuser_"))
        .collect();
    let header: usize = cookies
        .iter()
        .map(|c| c.name().len() + c.value().len() + 3)
        .sum();
    (ours.len(), header)
}

#[tokio::test]
async fn chromium_sent_to_many_confirm_pages_keeps_a_small_cookie_jar() {
    let mock = MockWechat::start().await.unwrap();
    let app = app_on_localhost(&mock).await;
    // Live scans, started by someone else's browsers (as an attacker would, to send the
    // victim to their confirm pages).
    let mut live = Vec::new();
    for _ in 0..10 {
        let started: serde_json::Value = common::browser()
            .post(format!("{}/auth/wechat/scan", app.url))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        live.push(started["id"].as_str().unwrap().to_owned());
    }
    let url = app.url.clone();
    in_chromium(|client| async move {
        // 30 made-up ids: nothing set.
        for i in 0..30 {
            let id = format!("{i:0>4}{}", "Zz9".repeat(10).get(..28).unwrap());
            client
                .goto(&format!("{url}/auth/wechat/scan/{id}/confirm"))
                .await
                .unwrap();
        }
        let (count, _) = confirm_cookies(&client, &url).await;
        assert_eq!(count, 0, "no cookie for made-up ids");
        // Every live scan's page, three times over (30 navigations, each on to WeChat).
        let mut most = 0;
        let mut biggest = 0;
        for _ in 0..3 {
            for id in &live {
                client
                    .goto(&format!("{url}/auth/wechat/scan/{id}/confirm"))
                    .await
                    .unwrap();
                let here = client.current_url().await.unwrap();
                assert_eq!(
                    here.port(),
                    url::Url::parse(&mock.url()).unwrap().port(),
                    "sent on to WeChat's web authorization: {here}"
                );
            }
            let (count, header) = confirm_cookies(&client, &url).await;
            most = most.max(count);
            biggest = biggest.max(header);
        }
        assert!(
            (1..=3).contains(&most),
            "at most 3 confirm cookies, saw {most}"
        );
        assert!(biggest < 2048, "a {biggest} byte Cookie header");
    })
    .await;
}
