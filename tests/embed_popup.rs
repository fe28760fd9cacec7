//! The website login on the site's own page, over real sockets against the mock: the
//! embedded QR (`embed` JSON, its state cookie, both `self_redirect` modes, `embed.js`),
//! the popup (`display=popup` callback pages), the replaceable `Pages` hook and the page
//! language, the frame policy of every page, and the Official Account's adaptive scope.

mod common;
#[path = "support/sites.rs"]
mod sites;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, routing::get};
use common::{App, absolute, browser, location, set_cookie};
use wechat_auth::{
    WechatAuthLayer, WechatConfigBuilder,
    client::OaScope,
    mock::MockWechat,
    pages::{Language, Markup, Page, PageKind, Pages},
};

const CSP_NONE: &str = "frame-ancestors 'none'";

/// The app of `common::routes` plus `/consent-profile`, which sends a user without a
/// profile to the consent login `WechatHandle::profile` hands out.
async fn start(builder: WechatConfigBuilder) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = builder.with_public_url(url.clone()).build().unwrap();
    let app: Router = common::routes()
        .route("/consent-profile", get(sites::consent_profile))
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App::from_parts(url, addr, task)
}

fn header<'r>(res: &'r reqwest::Response, name: &str) -> &'r str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} on {}", res.status()))
        .to_str()
        .unwrap()
}

/// The value of `data-NAME="…"` in a page (HTML-unescaped).
fn data_attr(page: &str, name: &str) -> String {
    let start = page
        .find(&format!("data-{name}=\""))
        .unwrap_or_else(|| panic!("no data-{name} in {page}"))
        + name.len()
        + 7;
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

async fn embed_json(app: &App, b: &reqwest::Client, query: &str) -> reqwest::Response {
    b.get(format!("{}/auth/wechat/embed{query}", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn embed_answers_the_iframe_and_binds_its_state_like_login() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    let b = browser();
    let res = embed_json(&app, &b, "?return_to=/profile&style=white").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let cookie = set_cookie(&res, "wechat_state_")
        .map(str::to_owned)
        .or_else(|| {
            res.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with("wechat_state_"))
                .map(str::to_owned)
        })
        .expect("embed sets the state cookie");
    let json: serde_json::Value = res.json().await.unwrap();
    let state = json["state"].as_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("wechat_state_{state}=")),
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/auth/wechat"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert_eq!(json["appid"], mock.website().appid.as_str());
    assert_eq!(json["scope"], "snsapi_login");
    assert_eq!(json["self_redirect"], false);
    assert_eq!(json["style"], "white");
    assert_eq!(json["href"], serde_json::Value::Null);
    let redirect_uri = format!("{}/auth/wechat/callback", app.url);
    assert_eq!(json["redirect_uri"], redirect_uri.as_str());
    let iframe = url::Url::parse(json["iframe_url"].as_str().unwrap()).unwrap();
    assert!(
        iframe
            .as_str()
            .starts_with(&format!("{}/connect/qrconnect?", mock.url())),
        "{iframe}"
    );
    let q: std::collections::HashMap<_, _> = iframe.query_pairs().into_owned().collect();
    assert_eq!(q["login_type"], "jssdk");
    assert_eq!(q["self_redirect"], "false");
    assert_eq!(q["state"], state);
    assert_eq!(q["redirect_uri"], redirect_uri);
    assert!(!q.contains_key("response_type"), "wxLogin.js sends none");

    // The mock frames it with links that move the top window (self_redirect=false) …
    let page = b
        .get(iframe.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("target=\"_top\""), "{page}");
    assert!(!page.contains("target=\"_self\""), "{page}");
    // … and approving lands on an ordinary callback: a redirect to return_to.
    let callback = common::wechat_answers(&b, iframe.as_str(), "alice", "approve").await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/profile");
    assert!(common::session_token(&res).is_some());
    let (status, me) = common::get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        me["openid"],
        mock.user("alice")
            .unwrap()
            .openid_for(&mock.website().appid)
    );

    // A callback for this embedded state in another browser is refused.
    let res = embed_json(&app, &b, "?return_to=/profile").await;
    let json: serde_json::Value = res.json().await.unwrap();
    let callback =
        common::wechat_answers(&b, json["iframe_url"].as_str().unwrap(), "bob", "approve").await;
    let res = browser().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 400, "state not bound to the other browser");

    // Bad options are a clear 400.
    let res = embed_json(&app, &b, "?style=purple").await;
    assert_eq!(res.status(), 400);
    let err: serde_json::Value = res.json().await.unwrap();
    assert!(err["message"].as_str().unwrap().contains("style"), "{err}");
    // An open redirect is not possible through embed either.
    let res = embed_json(&app, &b, "?return_to=//evil.example/x").await;
    let json: serde_json::Value = res.json().await.unwrap();
    let callback =
        common::wechat_answers(&b, json["iframe_url"].as_str().unwrap(), "alice", "approve").await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn self_redirect_runs_the_callback_in_the_frame_then_moves_the_top_window() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    let b = browser();
    let res = embed_json(&app, &b, "?return_to=/profile%3Ftab%3D1&self_redirect=true").await;
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["self_redirect"], true);
    let redirect_uri = format!("{}/auth/wechat/callback?display=iframe", app.url);
    assert_eq!(json["redirect_uri"], redirect_uri.as_str());
    let iframe = json["iframe_url"].as_str().unwrap();
    assert!(iframe.contains("self_redirect=true"), "{iframe}");
    let page = b.get(iframe).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("target=\"_self\""), "in-frame links: {page}");
    assert!(!page.contains("target=\"_top\""), "{page}");

    let callback = common::wechat_answers(&b, iframe, "alice", "approve").await;
    assert!(callback.contains("display=iframe"), "{callback}");
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200, "a page that moves the top window");
    assert!(common::session_token(&res).is_some(), "the session is set");
    let csp = header(&res, "content-security-policy").to_owned();
    assert!(csp.ends_with("frame-ancestors 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    assert_eq!(data_attr(&html, "return-to"), "/profile?tab=1");
    assert!(html.contains("window.top.location.assign"), "{html}");

    // A browser that withholds the state cookie inside the frame (Chromium: the frame was
    // navigated by WeChat's page, another site) gets the same callback moved to the top
    // window, unconsumed; there the cookie is sent and the login finishes.
    let res = embed_json(&app, &b, "?return_to=/profile&self_redirect=true").await;
    let json: serde_json::Value = res.json().await.unwrap();
    let callback =
        common::wechat_answers(&b, json["iframe_url"].as_str().unwrap(), "bob", "approve").await;
    let res = browser().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        common::session_token(&res).is_none(),
        "nothing done in the frame"
    );
    assert!(header(&res, "content-security-policy").ends_with("frame-ancestors 'self'"));
    let top = data_attr(&res.text().await.unwrap(), "return-to");
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        top,
        format!(
            "/auth/wechat/callback?code={code}&state={}",
            json["state"].as_str().unwrap()
        )
    );
    assert_eq!(
        mock.calls("sns/oauth2/access_token"),
        1,
        "the code is unused"
    );
    let res = b.get(absolute(&app, &top)).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/profile");
    assert!(common::session_token(&res).is_some());

    // Only to this site: an allow-listed other origin becomes `/` inside the frame.
    let mock2 = MockWechat::start().await.unwrap();
    let app2 = start(common::config(&mock2).with_allowed_origin("https://shop.example.com")).await;
    let b2 = browser();
    let res = embed_json(
        &app2,
        &b2,
        "?return_to=https%3A%2F%2Fshop.example.com%2Fcart&self_redirect=true",
    )
    .await;
    let json: serde_json::Value = res.json().await.unwrap();
    let callback = common::wechat_answers(
        &b2,
        json["iframe_url"].as_str().unwrap(),
        "alice",
        "approve",
    )
    .await;
    let html = b2
        .get(&callback)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(data_attr(&html, "return-to"), "/");
}

#[tokio::test]
async fn embed_js_is_served_cached_and_revalidated() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    let b = browser();
    let res = b
        .get(format!("{}/auth/wechat/embed.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&res, "cache-control"), "public, max-age=3600");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let etag = header(&res, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() > 4, "{etag}");
    let js = res.text().await.unwrap();
    assert!(js.contains("window.WechatAuth = { embed: embed, popup: popup"));
    assert!(
        !js.contains("http:")
            && !js.contains("https:")
            && !js.contains("createElement(\"script\")"),
        "no third-party script"
    );
    let res = b
        .get(format!("{}/auth/wechat/embed.js", app.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(header(&res, "etag"), etag);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = b
        .get(format!("{}/auth/wechat/embed.js", app.url))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = b
        .post(format!("{}/auth/wechat/embed.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
}

/// Starts `login?display=popup…` and returns WeChat's URL.
async fn popup_login(app: &App, b: &reqwest::Client, query: &str) -> String {
    let res = b
        .get(format!(
            "{}/auth/wechat/login?display=popup{query}",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    location(&res).split('#').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_popup_callback_tells_its_opener_and_only_its_origin() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    let b = browser();
    let wechat = popup_login(&app, &b, "&return_to=/profile").await;
    let url = url::Url::parse(&wechat).unwrap();
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        redirect,
        format!("{}/auth/wechat/callback?display=popup", app.url)
    );
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(common::session_token(&res).is_some(), "logged in");
    assert!(header(&res, "content-security-policy").ends_with(CSP_NONE));
    let html = res.text().await.unwrap();
    let message: serde_json::Value = serde_json::from_str(&data_attr(&html, "message")).unwrap();
    assert_eq!(
        message,
        serde_json::json!({ "type": "wechat-auth", "ok": true, "return_to": "/profile" })
    );
    assert_eq!(data_attr(&html, "origin"), app.url, "postMessage target");
    assert!(html.contains("window.opener.postMessage(msg, origin)"));
    assert!(html.contains("new BroadcastChannel(\"wechat-auth\")"));
    assert!(html.contains("window.close()"));
    assert!(!html.contains("wechat_session"), "no token in the page");

    // Denial reaches the opener too.
    let wechat = popup_login(&app, &b, "&return_to=/profile").await;
    let callback = common::wechat_answers(&b, &wechat, "alice", "deny").await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(common::session_token(&res).is_none());
    let html = res.text().await.unwrap();
    let message: serde_json::Value = serde_json::from_str(&data_attr(&html, "message")).unwrap();
    assert_eq!(message["ok"], false);
    assert_eq!(message["code"], "cancelled");

    // So do errors: a state this browser did not start.
    let wechat = popup_login(&app, &b, "").await;
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    let res = browser().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    let message: serde_json::Value = serde_json::from_str(&data_attr(&html, "message")).unwrap();
    assert_eq!(message["ok"], false);
    assert_eq!(message["code"], "state_mismatch");

    // An unknown display is refused plainly.
    let res = b
        .get(format!("{}/auth/wechat/login?display=window", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

/// The popup page's message (`data-message`) of a callback response.
async fn popup_message(res: reqwest::Response) -> serde_json::Value {
    let html = res.text().await.unwrap();
    serde_json::from_str(&data_attr(&html, "message")).unwrap()
}

#[tokio::test]
async fn the_popup_message_carries_the_popups_nonce_only_when_its_state_verified() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    let b = browser();
    const NONCE: &str = "0123456789abcdef0123456789abcdef";
    let with_nonce = format!("&return_to=/profile&nonce={NONCE}");

    // The nonce stays on this site: WeChat never sees it.
    let wechat = popup_login(&app, &b, &with_nonce).await;
    assert!(!wechat.contains(NONCE), "{wechat}");
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    assert!(!callback.contains(NONCE), "{callback}");
    // Logged in: the opener's nonce is echoed.
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(common::session_token(&res).is_some());
    assert_eq!(
        popup_message(res).await,
        serde_json::json!({ "type": "wechat-auth", "ok": true, "return_to": "/profile", "nonce": NONCE })
    );

    // Declined: echoed too.
    let wechat = popup_login(&app, &b, &with_nonce).await;
    let callback = common::wechat_answers(&b, &wechat, "alice", "deny").await;
    let message = popup_message(b.get(&callback).send().await.unwrap()).await;
    assert_eq!(
        (message["code"].as_str(), message["nonce"].as_str()),
        (Some("cancelled"), Some(NONCE))
    );

    // A failure after the state verified (a code WeChat refuses): the opener must learn it.
    let wechat = popup_login(&app, &b, &with_nonce).await;
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    let mut forged = url::Url::parse(&absolute(&app, &callback)).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                "not-a-code".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let res = b.get(forged.as_str()).send().await.unwrap();
    assert!(common::session_token(&res).is_none());
    let message = popup_message(res).await;
    assert_eq!(message["ok"], false, "{message}");
    assert_eq!(message["nonce"], NONCE, "{message}");

    // The state does not verify: another browser, a made-up state, a nonce in the callback's
    // own query. No nonce in any of these messages, so no pending popup takes them.
    let wechat = popup_login(&app, &b, &with_nonce).await;
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    let attacker = browser();
    for url in [
        absolute(&app, &callback),
        format!("{}&nonce={NONCE}", absolute(&app, &callback)),
        format!("{}/auth/wechat/callback?display=popup&state=x", app.url),
        format!(
            "{}/auth/wechat/callback?display=popup&state=x&nonce={NONCE}",
            app.url
        ),
        format!(
            "{}/auth/wechat/callback?display=popup&state=x&code=c",
            app.url
        ),
        format!("{}/auth/wechat/callback?display=popup", app.url),
    ] {
        let res = attacker.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 400, "{url}");
        let html = res.text().await.unwrap();
        assert!(!html.contains(NONCE), "{url}: {html}");
        let message: serde_json::Value =
            serde_json::from_str(&data_attr(&html, "message")).unwrap();
        assert_eq!(message["ok"], false, "{url}: {message}");
        assert!(
            matches!(
                message["code"].as_str(),
                Some("state_mismatch" | "bad_request")
            ),
            "{url}: {message}"
        );
        assert!(message.get("nonce").is_none(), "{url}: {message}");
    }
    // The victim's own browser still completes that login, with its nonce.
    let res = b.get(absolute(&app, &callback)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(popup_message(res).await["nonce"], NONCE);

    // A nonce of another shape is refused at the start.
    for bad in [
        "short",
        "has%20space0123456789",
        &"x".repeat(65),
        "%3Cscript%3E0123456789abcdef",
    ] {
        let res = b
            .get(format!(
                "{}/auth/wechat/login?display=popup&nonce={bad}",
                app.url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        assert!(!set_cookie_named(&res, "wechat_state_"), "{bad}");
    }
    // embed.js makes a nonce per popup with the browser's CSPRNG and ignores messages
    // without it.
    let js = b
        .get(format!("{}/auth/wechat/embed.js", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains("crypto.getRandomValues(bytes)"));
    assert!(js.contains("data.nonce === nonce"));
}

#[tokio::test]
async fn every_page_keeps_frames_out_except_the_embed_host_and_the_in_frame_callback() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    let b = browser();
    // The embed host page frames the open-platform base, and nothing else frames it.
    let res = b
        .get(format!(
            "{}/auth/wechat/login?display=embed&return_to=/profile",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookie_named(&res, "wechat_state_"), "state bound");
    let csp = header(&res, "content-security-policy").to_owned();
    let mock_origin = mock.url().trim_end_matches('/').to_owned();
    assert!(
        csp.contains(&format!(
            "; frame-src {mock_origin}; frame-ancestors 'none'"
        )),
        "{csp}"
    );
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.contains("<iframe id=\"wechat-qr\""), "{html}");
    assert!(html.contains("allow=\"local-network-access\""), "{html}");
    assert!(html.contains("login_type=jssdk"), "{html}");

    // Every other page: no frames, never framed.
    for path in [
        "/auth/wechat/scan?return_to=/",
        "/auth/wechat/callback?code=x&state=nope",
        "/auth/wechat/callback?code=x&state=AAAA&display=popup",
        "/auth/wechat/login?display=window",
    ] {
        let res = b.get(format!("{}{path}", app.url)).send().await.unwrap();
        let csp = header(&res, "content-security-policy");
        assert!(csp.ends_with(CSP_NONE), "{path}: {csp}");
        assert!(!csp.contains("frame-src"), "{path}: {csp}");
    }
    // The in-frame callback may show only inside this site's own pages.
    let res = b
        .get(format!(
            "{}/auth/wechat/callback?state=AAAA&display=iframe",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let csp = header(&res, "content-security-policy");
    assert!(csp.ends_with("frame-ancestors 'self'"), "{csp}");
}

fn set_cookie_named(res: &reqwest::Response, prefix: &str) -> bool {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with(prefix))
}

/// A site's own pages: its error page, and its frame around every other page.
struct Acme;

impl Pages for Acme {
    fn layout(&self, page: &Page<'_>) -> Markup {
        Markup::trusted(format!(
            "<!doctype html><html lang=\"{}\"><title>ACME · {}</title><body class=\"acme\">{}</body></html>",
            page.language().tag(),
            page.title(),
            page.body()
        ))
    }

    fn message(&self, page: &Page<'_>) -> Markup {
        assert_ne!(page.kind(), PageKind::Scan);
        Markup::trusted(format!(
            "<!doctype html><p id=acme-error data-code=\"{}\" data-status=\"{}\">{} — {}</p><a href=\"{}\">again</a>",
            page.error_code().unwrap_or(""),
            page.http_status().as_u16(),
            page.heading(),
            page.text(),
            page.retry_url().cloned().unwrap_or_default(),
        ))
    }
}

#[tokio::test]
async fn a_pages_hook_replaces_the_pages_and_escaping_stays_in_the_layer() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock).with_pages(Arc::new(Acme))).await;
    let b = browser();
    // An error page is Acme's, in the browser's language, with the layer's escaping.
    let res = b
        .get(format!(
            "{}/auth/wechat/callback?code=x&state=AAAA",
            app.url
        ))
        .header("accept-language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(header(&res, "content-security-policy").ends_with(CSP_NONE));
    let html = res.text().await.unwrap();
    assert!(
        html.starts_with("<!doctype html><p id=acme-error data-code=\"state_mismatch\" data-status=\"400\">Login failed — This login was not started in this browser"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"/auth/wechat/login?return_to=/\">again</a>"),
        "{html}"
    );

    // Chinese by default.
    let html = b
        .get(format!(
            "{}/auth/wechat/callback?code=x&state=AAAA",
            app.url
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(">登录失败 — 这次登录不是在本浏览器中发起的"),
        "{html}"
    );

    // The scan page sits in Acme's layout, with the layer's script intact.
    let html = b
        .get(format!("{}/auth/wechat/scan?return_to=/x", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.starts_with("<!doctype html><html lang=\"zh-CN\"><title>ACME · 微信扫码登录 · Scan to log in</title><body class=\"acme\">"),
        "{html}"
    );
    assert!(
        html.contains("data-start=\"/auth/wechat/scan?return_to=/x\""),
        "{html}"
    );
    assert!(
        html.contains("<script>") && html.contains("async function poll"),
        "{html}"
    );

    // So do the embed host page and the popup's answer, each with its working parts.
    let html = b
        .get(format!(
            "{}/auth/wechat/login?display=embed&return_to=/x",
            app.url
        ))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.starts_with(
            "<!doctype html><html lang=\"en\"><title>ACME · Log in with WeChat</title>"
        ),
        "{html}"
    );
    assert!(html.contains("<iframe id=\"wechat-qr\""), "{html}");
    let wechat = popup_login(&app, &b, "&return_to=/x").await;
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    let html = b.get(&callback).send().await.unwrap().text().await.unwrap();
    assert!(
        html.starts_with("<!doctype html><html lang=\"zh-CN\"><title>ACME · 登录成功"),
        "{html}"
    );
    assert!(
        html.contains("window.opener.postMessage(msg, origin)"),
        "{html}"
    );

    // A refused login's message (from on_login) is escaped by the layer before Acme sees it.
    let mock2 = MockWechat::start().await.unwrap();
    let app2 = start(
        common::config(&mock2)
            .with_pages(Arc::new(Acme))
            .with_on_login(|_user| async {
                Err(wechat_auth::LoginRefused::new("<b>closed</b> & gone"))
            }),
    )
    .await;
    let b2 = browser();
    let res = common::login(&app2, &b2, "?return_to=/profile", "alice").await;
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-code=\"refused\""), "{html}");
    assert!(
        html.contains("&lt;b&gt;closed&lt;/b&gt; &amp; gone"),
        "{html}"
    );
    assert!(!html.contains("<b>closed"), "{html}");
}

#[tokio::test]
async fn the_language_follows_accept_language_unless_fixed() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    let b = browser();
    let page = |lang: Option<&'static str>| {
        let b = b.clone();
        let url = format!("{}/auth/wechat/callback?code=x&state=AAAA", app.url);
        async move {
            let mut req = b.get(url);
            if let Some(l) = lang {
                req = req.header("accept-language", l);
            }
            req.send().await.unwrap().text().await.unwrap()
        }
    };
    let zh = page(None).await;
    assert!(
        zh.contains("<html lang=\"zh-CN\">") && zh.contains("<h1>登录失败</h1>"),
        "{zh}"
    );
    assert!(
        zh.contains("class=\"en\">This login was not started"),
        "an English line: {zh}"
    );
    let en = page(Some("en-GB,en;q=0.8")).await;
    assert!(
        en.contains("<html lang=\"en\">") && en.contains("<h1>Login failed</h1>"),
        "{en}"
    );
    assert!(!en.contains("登录失败"), "{en}");
    assert!(
        page(Some("zh-CN,en;q=0.5"))
            .await
            .contains("<h1>登录失败</h1>")
    );

    let mock2 = MockWechat::start().await.unwrap();
    let fixed = start(common::config(&mock2).with_language(Language::En)).await;
    let html = b
        .get(format!(
            "{}/auth/wechat/callback?code=x&state=AAAA",
            fixed.url
        ))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<h1>Login failed</h1>"), "{html}");
}

#[tokio::test]
async fn adaptive_scope_signs_in_silently_and_asks_for_consent_once_when_needed() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock).with_oa_scope(OaScope::BaseThenUserinfo)).await;
    let b = common::wechat_browser();

    // 1. Inside WeChat the login is silent: snsapi_base, no profile read.
    let wechat = common::start_login(&app, &b, "?return_to=/consent-profile").await;
    assert!(wechat.contains("scope=snsapi_base"), "{wechat}");
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/consent-profile");
    assert_eq!(mock.calls("sns/oauth2/access_token"), 1);
    assert_eq!(
        mock.calls("sns/userinfo"),
        0,
        "the first login reads no profile"
    );

    // 2. The page that needs the profile gets a typed error with a ready login URL …
    let res = b
        .get(format!("{}/consent-profile", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let login = location(&res);
    assert_eq!(
        login,
        "/auth/wechat/login?return_to=/consent-profile&channel=oa&scope=userinfo"
    );
    assert_eq!(mock.calls("sns/userinfo"), 0);
    // … which asks for consent (snsapi_userinfo) once …
    let res = b.get(absolute(&app, &login)).send().await.unwrap();
    let wechat = location(&res).split('#').next().unwrap().to_owned();
    assert!(wechat.contains("scope=snsapi_userinfo"), "{wechat}");
    let callback = common::wechat_answers(&b, &wechat, "alice", "approve").await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(location(&res), "/consent-profile");
    // … and the profile is there now, read once.
    let (status, body) = common::get_json(&b, &format!("{}/consent-profile", app.url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["nickname"],
        mock.user("alice").unwrap().nickname.as_str()
    );
    let (_, again) = common::get_json(&b, &format!("{}/consent-profile", app.url)).await;
    assert_eq!(again, body);
    assert_eq!(mock.calls("sns/oauth2/access_token"), 2);
    assert_eq!(
        mock.calls("sns/userinfo"),
        1,
        "one consent, one userinfo call"
    );

    // A website user has a profile from the start: no consent round.
    let w = browser();
    let res = common::login(&app, &w, "?return_to=/consent-profile", "bob").await;
    assert_eq!(res.status(), 302);
    let (status, body) = common::get_json(&w, &format!("{}/consent-profile", app.url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["nickname"],
        mock.user("bob").unwrap().nickname.as_str()
    );

    // With the plain snsapi_base scope, profile() stays Ok(None): nothing to ask for.
    let mock2 = MockWechat::start().await.unwrap();
    let plain = start(common::config(&mock2).with_oa_scope(OaScope::Base)).await;
    let b2 = common::wechat_browser();
    let res = common::login(&plain, &b2, "?return_to=/", "alice").await;
    assert_eq!(res.status(), 302);
    let (status, body) = common::get_json(&b2, &format!("{}/consent-profile", plain.url)).await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({ "nickname": null }))
    );

    // `scope=` takes only userinfo.
    let res = b
        .get(format!(
            "{}/auth/wechat/login?channel=oa&scope=admin",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn reloading_a_page_with_an_embedded_qr_does_not_pile_up_state_cookies() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::config(&mock)).await;
    // Ten page loads, each with a fresh embedded QR: ten state cookies, oldest first.
    let plain = reqwest::Client::new();
    let mut jar = Vec::new();
    for _ in 0..10 {
        let cookie_header = jar.join("; ");
        let mut req = plain.get(format!("{}/auth/wechat/embed", app.url));
        if !jar.is_empty() {
            req = req.header("cookie", cookie_header);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap().to_owned();
            let (name, value) = pair.split_once('=').unwrap();
            jar.retain(|p: &String| !p.starts_with(&format!("{name}=")));
            if !value.is_empty() && !c.contains("Max-Age=0") {
                jar.push(pair.clone());
            }
        }
        assert!(jar.len() <= 4, "{} state cookies", jar.len());
        let newest = jar.last().unwrap().split('=').next().unwrap().to_owned();
        assert!(newest.starts_with("wechat_state_"), "{newest}");
        assert!(
            set_cookie(&res, &newest).is_some_and(|c| !c.contains("Max-Age=0")),
            "the login just started stays"
        );
    }
    assert_eq!(jar.len(), 4, "four logins stay open");
    // A garbage state cookie is cleared too.
    let res = plain
        .get(format!("{}/auth/wechat/embed", app.url))
        .header("cookie", "wechat_state_AAAA=forged")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("wechat_state_AAAA=;")),
        "{:?}",
        res.headers()
    );
}
