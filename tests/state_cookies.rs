//! State cookies cannot pile up: each login start sets a `wechat_state_*` cookie, and a
//! browser that starts many logins must never carry a Cookie header near the 8 KB common
//! reverse proxies accept, while its most recent logins still complete.

mod common;
#[path = "support/jar.rs"]
mod jar;

use common::*;
use jar::Jar;
use reqwest::Client;
use wechat_auth::mock::MockWechat;

/// `GET url` with the jar's cookies; the jar takes the answer's cookies.
async fn get(b: &Client, jar: &mut Jar, url: &str) -> reqwest::Response {
    let mut req = b.get(url).header("accept", "text/html");
    let cookies = jar.header();
    if !cookies.is_empty() {
        req = req.header("cookie", cookies);
    }
    let res = req.send().await.unwrap();
    jar.absorb(&res);
    res
}

#[tokio::test]
async fn forty_login_starts_keep_the_cookie_header_small_and_the_latest_logins_work() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar = Jar::default();
    let mut started = Vec::new();
    let mut longest = 0;
    for i in 0..40 {
        let channel = if i % 2 == 0 { "website" } else { "oa" };
        let res = get(
            &b,
            &mut jar,
            &format!(
                "{}/auth/wechat/login?return_to=/profile%3Fn%3D{i}&channel={channel}",
                app.url
            ),
        )
        .await;
        assert_eq!(res.status(), 302, "start {i}");
        started.push(location(&res).split('#').next().unwrap().to_owned());
        let header = jar.header();
        longest = longest.max(header.len());
        assert!(
            jar.count("wechat_state_") <= 4,
            "start {i}: {} state cookies",
            jar.count("wechat_state_")
        );
        assert!(
            header.len() < 2048,
            "start {i}: Cookie header {} bytes",
            header.len()
        );
    }
    // Without the bound: 40 cookies of ~300 bytes, past 8 KB by start 30.
    assert!(longest > 600, "the cookies were measured: {longest} bytes");

    // The four latest logins complete, each with its own return_to.
    for (i, wechat) in started.iter().enumerate().skip(36).rev() {
        let callback = wechat_answers(&b, wechat, "alice", "approve").await;
        let res = get(&b, &mut jar, &callback).await;
        assert_eq!(res.status(), 302, "login {i}");
        assert_eq!(location(&res), format!("/profile?n={i}"));
        assert!(jar.get("wechat_session").is_some_and(|s| !s.is_empty()));
    }
    // An old one was forgotten by this browser: refused, no session set.
    let callback = wechat_answers(&b, &started[0], "bob", "approve").await;
    let before = jar.get("wechat_session").map(str::to_owned);
    let res = get(&b, &mut jar, &callback).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(set_cookie(&res, "wechat_session").is_none());
    assert_eq!(jar.get("wechat_session").map(str::to_owned), before);
}

#[tokio::test]
async fn forged_and_duplicated_state_cookies_go_first() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar = Jar::default();
    let login = format!("{}/auth/wechat/login?channel=website", app.url);
    let mut wechat = Vec::new();
    for _ in 0..2 {
        let res = get(&b, &mut jar, &login).await;
        wechat.push(location(&res).split('#').next().unwrap().to_owned());
    }
    // Forged tickets (not signed by us) fill the jar up.
    for n in 0..5 {
        jar.set(
            &format!("wechat_state_forged{n}"),
            "eyJhbGciOiJub25lIn0.e30.",
        );
    }
    let res = get(&b, &mut jar, &login).await;
    wechat.push(location(&res).split('#').next().unwrap().to_owned());
    assert_eq!(jar.count("wechat_state_forged"), 0, "{}", jar.header());
    assert_eq!(jar.count("wechat_state_"), 3);
    // The genuine ones survive and complete.
    for w in &wechat {
        let callback = wechat_answers(&b, w, "alice", "approve").await;
        let res = get(&b, &mut jar, &callback).await;
        assert_eq!(res.status(), 302);
    }
}

/// The `data-message` JSON of a popup callback page.
fn popup_message(html: &str) -> serde_json::Value {
    let start = html.find("data-message=\"").expect("a popup page") + 14;
    let end = start + html[start..].find('"').unwrap();
    serde_json::from_str(
        &html[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .unwrap()
}

#[tokio::test]
async fn a_scan_proof_cookie_is_no_login_state_cookie() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar = Jar::default();
    // A scan: the browser's proof is a ticket signed for the scan's id, which has the shape
    // of a login state.
    let res = b
        .post(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    jar.absorb(&res);
    let started: serde_json::Value = res.json().await.unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    let proof = jar
        .get(&format!("wechat_scan_{id}"))
        .expect("the scan proof cookie")
        .to_owned();
    // Replayed as the state cookie of a login whose state is the scan's id.
    let exchanges = mock.calls("sns/oauth2/access_token");
    let res = b
        .get(format!(
            "{}/auth/wechat/callback?display=popup&code=anycode&state={id}",
            app.url
        ))
        .header("cookie", format!("wechat_state_{id}={proof}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(set_cookie(&res, "wechat_session").is_none());
    let message = popup_message(&res.text().await.unwrap());
    assert_eq!(
        message["code"], "state_mismatch",
        "the scan proof passed as a login state: {message}"
    );
    assert_eq!(mock.calls("sns/oauth2/access_token"), exchanges);
    // As a login state cookie of its own name, a new login start clears it (it verifies as
    // no login's ticket).
    let res = b
        .get(format!("{}/auth/wechat/login?channel=website", app.url))
        .header("cookie", format!("wechat_state_{id}={proof}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| c.starts_with(&format!("wechat_state_{id}=;"))),
        "the replayed cookie is cleared"
    );
}
