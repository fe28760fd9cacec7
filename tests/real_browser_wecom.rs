//! WeCom (企业微信) login through the embedded panel in real Chromium, cross-site: the app on
//! `localhost`, the mock WeCom on `127.0.0.1`. `embed.js` frames WeCom's login page (no
//! third-party script); the member approves inside the frame, WeCom's redirect runs the
//! callback in the frame (which Chromium sends without the `SameSite=Lax` state cookie), the
//! callback moves the top window on, and the top window ends signed in; the same through the
//! layer's own host page (`login?channel=wecom&display=embed`). Skips (one line)
//! without Chromium, fails under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::{net::SocketAddr, time::Duration};

use axum::{Json, Router, response::Html, routing::get};
use browser::{APPROVE_ALICE, STEP, in_chromium_with};
use fantoccini::{Client, Locator};
use http::header;
use wechat_auth::{Identity, WechatAuthLayer, WechatConfig, WecomCorp, mock::MockWechat};

/// The landing page: `embed.js` draws the WeCom panel into `#panel`.
const LANDING: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>landing</title></head>
<body><h1>landing</h1><div id="panel"></div><pre id="error"></pre>
<script src="/auth/wechat/embed.js"></script>
<script>
  WechatAuth.wecom("panel", { returnTo: "/whoami" }).catch(function (e) {
    document.getElementById("error").textContent = String(e);
  });
</script></body></html>"#;

struct Site {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn app_on_localhost(mock: &MockWechat) -> Site {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://localhost:{port}");
    let corp = mock.wecom_corp();
    let cfg = WechatConfig::builder()
        .with_session_secret(common::SECRET)
        .with_wechat_bases(mock.url(), mock.url(), mock.url())
        .with_wecom_bases(mock.url(), mock.url())
        .with_wecom_corp(WecomCorp::new(
            &corp.corp_id,
            &corp.agent_id,
            corp.secret.clone(),
        ))
        .with_public_path("/")
        .with_public_url(url.clone())
        .build()
        .unwrap();
    // The site's own CSP lets WeCom's login page (the mock's origin) into a frame.
    let csp = format!(
        "default-src 'none'; script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-src {} 'self'; frame-ancestors 'none'",
        mock.url()
    );
    let app = Router::new()
        .route(
            "/",
            get(move || {
                let csp = csp.clone();
                async move { ([(header::CONTENT_SECURITY_POLICY, csp)], Html(LANDING)) }
            }),
        )
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Site { url, task }
}

/// Waits until `locator` finds an element (any error counts as "not yet": a frame may be
/// between documents).
async fn find(client: &Client, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let last = match client.find(locator).await {
            Ok(element) => return element,
            Err(e) => e.to_string(),
        };
        assert!(
            std::time::Instant::now() < deadline,
            "timed out: {what} (last: {last})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the top window shows `/whoami` with a WeCom member; returns its JSON.
async fn signed_in(client: &Client, app_url: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let here = client.current_url().await.map(|u| u.to_string());
        if here
            .as_deref()
            .is_ok_and(|u| u == format!("{app_url}/whoami"))
            && let Ok(text) = client.find(Locator::Css("body")).await
            && let Ok(text) = text.text().await
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(text.trim())
        {
            return json;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not signed in on /whoami (at {here:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn chromium_logs_in_through_the_embedded_wecom_panel_cross_site() {
    let mock = MockWechat::start().await.unwrap();
    let app = app_on_localhost(&mock).await;
    let app_url = app.url.clone();
    in_chromium_with(
        |caps| caps["pageLoadStrategy"] = "none".into(),
        |client| async move {
            client.goto(&format!("{app_url}/")).await.unwrap();
            let frame = find(&client, Locator::Css("#panel iframe"), "the WeCom panel").await;
            let src = frame.attr("src").await.unwrap().unwrap();
            assert!(
                src.starts_with(&format!(
                    "{}/wwlogin/sso/login?login_type=CorpApp&appid=ww6000000000000006&agentid=1000002&redirect_uri=",
                    mock.url()
                )),
                "{src}"
            );
            assert!(src.contains("display%3Diframe"), "{src}");
            frame.enter_frame().await.unwrap();
            find(
                &client,
                Locator::XPath(APPROVE_ALICE),
                "the mock's WeCom page inside the frame",
            )
            .await
            .click()
            .await
            .unwrap();
            client.enter_parent_frame().await.unwrap();
            let me = signed_in(&client, &app_url).await;
            assert_eq!(me["provider"], "wecom", "{me}");
            assert_eq!(me["corp_id"], "ww6000000000000006", "{me}");
            assert_eq!(me["user_id"], "LiAiLi", "{me}");
            let session = client.get_named_cookie("wechat_session").await.unwrap();
            assert_eq!(session.http_only(), Some(true));
            assert_eq!(mock.calls("cgi-bin/auth/getuserinfo"), 1);

            // The layer's own host page (login?display=embed): its CSP lets WeCom's page
            // (and this site's in-frame callback) into the frame, and the login ends the same.
            client.delete_all_cookies().await.unwrap();
            client
                .goto(&format!(
                    "{app_url}/auth/wechat/login?channel=wecom&display=embed&return_to=/whoami"
                ))
                .await
                .unwrap();
            let frame = find(&client, Locator::Css("iframe#wecom-panel"), "the host's frame").await;
            frame.enter_frame().await.unwrap();
            find(
                &client,
                Locator::XPath(APPROVE_ALICE),
                "the host page's CSP lets WeCom's frame load",
            )
            .await
            .click()
            .await
            .unwrap();
            client.enter_parent_frame().await.unwrap();
            let me = signed_in(&client, &app_url).await;
            assert_eq!(me["user_id"], "LiAiLi", "{me}");
            assert_eq!(mock.calls("cgi-bin/auth/getuserinfo"), 2);
        },
    )
    .await;
}
