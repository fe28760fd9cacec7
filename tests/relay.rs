//! One registered callback domain for many sites (`src/flows/relay.rs`): the hub on
//! `127.0.0.1` passes WeChat's callback on to sites on `localhost` and `127.0.0.2`, which the
//! mock WeChat does not accept as callback domains (`tests/support/relay_sites.rs`).

#[path = "support/browser.rs"]
mod browser;
mod common;
#[path = "support/relay_sites.rs"]
mod relay_sites;

use browser::{APPROVE_ALICE, STEP};
use common::*;
use fantoccini::{Client as Driver, Locator};
use relay_sites::RelaySites;
use wechat_auth::mock::MockWechat;

/// The `redirect_uri` a WeChat authorize URL carries.
fn redirect_uri(wechat_url: &str) -> String {
    url::Url::parse(wechat_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("a redirect_uri")
}

/// A website login on `site` through the hub; the hub's answer and the site's callback's.
async fn relayed_login(
    sites: &RelaySites,
    site: &App,
    b: &reqwest::Client,
    user: &str,
) -> reqwest::Response {
    let wechat = start_login(site, b, "?return_to=/profile").await;
    let relay = format!("{}/auth/wechat/relay?to=", sites.hub.url);
    assert!(
        redirect_uri(&wechat).starts_with(&relay),
        "WeChat is sent to the hub: {wechat}"
    );
    let at_hub = wechat_answers(b, &wechat, user, "approve").await;
    assert!(at_hub.starts_with(&relay), "WeChat calls the hub: {at_hub}");
    let res = b.get(&at_hub).send().await.unwrap();
    assert_eq!(res.status(), 302, "the hub passes it on");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(
        res.headers().get("set-cookie").is_none(),
        "the hub sets no cookie"
    );
    let callback = location(&res);
    assert!(
        callback.starts_with(&format!("{}/auth/wechat/callback?code=", site.url)),
        "on to the site that started the login: {callback}"
    );
    b.get(callback).send().await.unwrap()
}

#[tokio::test]
async fn without_the_hub_wechat_refuses_a_second_site() {
    let mock = MockWechat::start().await.unwrap();
    let _sites = RelaySites::start(&mock).await;
    // Site A as it would be without relay: its own callback, on a host WeChat refuses.
    let (listener, addr) = relay_sites::bind("127.0.0.1").await;
    let plain = relay_sites::serve(
        listener,
        format!("http://localhost:{}", addr.port()),
        base_config(&mock),
        None,
    );
    let b = browser();
    let wechat = start_login(&plain, &b, "?return_to=/profile").await;
    assert!(redirect_uri(&wechat).starts_with("http://localhost:"));
    let res = b
        .get(format!("{wechat}&mock_user=alice&mock_action=approve"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 302, "the mock refuses an unregistered domain");
    let body = res.text().await.unwrap();
    assert!(
        body.contains("10003") || body.contains("redirect_uri"),
        "{body}"
    );
}

#[tokio::test]
async fn two_sites_log_in_through_one_hub_and_the_hub_sees_no_cookie() {
    let mock = MockWechat::start().await.unwrap();
    let sites = RelaySites::start(&mock).await;
    let exchanges = || mock.calls("sns/oauth2/access_token");
    let before = exchanges();

    let alice = browser();
    let res = relayed_login(&sites, &sites.a, &alice, "alice").await;
    assert_eq!(
        res.status(),
        302,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert!(session_token(&res).is_some(), "site A set the session");
    assert_eq!(location(&res), "/profile");
    let (status, user) = get_json(&alice, &format!("{}/profile", sites.a.url)).await;
    assert_eq!(status, 200, "{user}");
    let website = mock.website().appid.clone();
    assert_eq!(
        user["openid"],
        mock.user("alice").unwrap().openid_for(&website)
    );
    // Logged in on A only: the session cookie is A's.
    let (status, _) = get_json(&alice, &format!("{}/profile", sites.b.url)).await;
    assert_eq!(status, 401);
    let (status, _) = get_json(&alice, &format!("{}/profile", sites.hub.url)).await;
    assert_eq!(status, 401);

    let bob = browser();
    let res = relayed_login(&sites, &sites.b, &bob, "bob").await;
    assert_eq!(res.status(), 302);
    let (status, user) = get_json(&bob, &format!("{}/profile", sites.b.url)).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        user["openid"],
        mock.user("bob").unwrap().openid_for(&website)
    );

    // Each site exchanged its own code; the hub none.
    assert_eq!(exchanges() - before, 2);
    // The state cookies were the sites' own: nothing reached the hub.
    let seen = sites.hub_cookies.lock().unwrap().clone();
    assert!(seen.is_empty(), "cookies at the hub: {seen:?}");
}

#[tokio::test]
async fn a_relayed_code_is_useless_to_another_browser() {
    let mock = MockWechat::start().await.unwrap();
    let sites = RelaySites::start(&mock).await;
    let victim = browser();
    let wechat = start_login(&sites.a, &victim, "?return_to=/profile").await;
    let at_hub = wechat_answers(&victim, &wechat, "alice", "approve").await;
    // An attacker who got hold of the hub link (or of the code and state) follows it.
    let attacker = browser();
    let res = attacker.get(&at_hub).send().await.unwrap();
    let callback = location(&res);
    let stolen = attacker.get(&callback).send().await.unwrap();
    assert_eq!(
        stolen.status(),
        400,
        "the state is bound to the victim's browser"
    );
    assert!(session_token(&stolen).is_none());
    // The victim's own browser still logs in with it (nothing was exchanged).
    let res = victim.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert!(session_token(&res).is_some());
}

#[tokio::test]
async fn unknown_and_forged_targets_are_refused() {
    let mock = MockWechat::start().await.unwrap();
    let sites = RelaySites::start(&mock).await;
    let b = browser();
    let a_port = sites.a.addr.port();
    let relay = |to: &str| {
        format!(
            "{}/auth/wechat/relay?to={}&code=CODE&state=S1",
            sites.hub.url,
            form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
        )
    };
    let ok = format!("{}/auth/wechat/callback", sites.a.url);
    let res = b.get(relay(&ok)).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), format!("{ok}?code=CODE&state=S1"));
    for forged in [
        "http://127.0.0.3:1/auth/wechat/callback".to_owned(),
        format!("http://localhost:{}/auth/wechat/callback", a_port + 1),
        format!("http://localhost.evil.test:{a_port}/auth/wechat/callback"),
        format!("http://me@localhost:{a_port}/auth/wechat/callback"),
        format!("{}/auth/wechat/logout", sites.a.url),
        format!("{ok}?return_to=//evil.test"),
        format!("//localhost:{a_port}/auth/wechat/callback"),
        "/auth/wechat/callback".to_owned(),
        String::new(),
    ] {
        let res = b.get(relay(&forged)).send().await.unwrap();
        assert_eq!(res.status(), 400, "{forged:?} was relayed");
        assert!(res.headers().get("location").is_none());
    }
    // A state of another shape is not passed on either.
    let res = b
        .get(format!(
            "{}/auth/wechat/relay?to={}&code=C&state=a%26code%3DX",
            sites.hub.url,
            form_urlencoded::byte_serialize(ok.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // A site that is no hub has no relay endpoint.
    let res = b
        .get(format!(
            "{}/auth/wechat/relay?to={}&code=C&state=S1",
            sites.b.url,
            form_urlencoded::byte_serialize(ok.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// `GET hub/relay?to=TO&code=CODE&state=S1`.
async fn relay_to(sites: &RelaySites, b: &reqwest::Client, to: &str) -> reqwest::Response {
    b.get(format!(
        "{}/auth/wechat/relay?to={}&code=CODE&state=S1",
        sites.hub.url,
        form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
    ))
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn the_hub_passes_codes_only_to_the_registered_callback_path() {
    let mock = MockWechat::start().await.unwrap();
    let sites = RelaySites::start(&mock).await;
    let b = browser();
    let a = &sites.a.url;
    let ok = format!("{a}/auth/wechat/callback");
    let res = relay_to(&sites, &b, &ok).await;
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), format!("{ok}?code=CODE&state=S1"));
    for forged in [
        // Another path of the site that a server may route elsewhere.
        format!("{a}/anything/..;/callback"),
        format!("{a}/auth/wechat/..;/callback"),
        format!("{a}/auth/wechat/callback;x=1"),
        format!("{a}/auth;/wechat/callback"),
        // Another integration's callback on the same site.
        format!("{a}/callback"),
        format!("{a}/oauth/github/callback"),
        format!("{a}/auth/other/callback"),
        format!("{a}/auth/wechat/callback/"),
        format!("{a}/AUTH/wechat/callback"),
        // Dot segments, plain or encoded.
        format!("{a}/x/../auth/wechat/callback"),
        format!("{a}/x/%2e%2e/auth/wechat/callback"),
        format!("{a}/x/%2E%2E/auth/wechat/callback"),
        format!("{a}/x/.%2e/auth/wechat/callback"),
        // Encoded slashes and backslashes.
        format!("{a}/auth%2fwechat/callback"),
        format!("{a}/auth/wechat%2Fcallback"),
        format!("{a}/x%5c..%5cauth/wechat/callback"),
        format!("{a}/x\\..\\auth/wechat/callback"),
        format!("{a}\\auth\\wechat\\callback"),
        // Other encodings of the same path.
        format!("{a}/auth/wechat/%63allback"),
        // Queries other than the login's display.
        format!("{ok}?display=page"),
        format!("{ok}?display=popup&return_to=//evil.test"),
        format!("{ok}?"),
    ] {
        let res = relay_to(&sites, &b, &forged).await;
        assert_eq!(res.status(), 400, "{forged:?} was relayed");
        assert!(res.headers().get("location").is_none(), "{forged:?}");
    }
    // The two displays a login can have pass, and nothing else rides along.
    for display in ["popup", "iframe"] {
        let to = format!("{ok}?display={display}");
        let res = relay_to(&sites, &b, &to).await;
        assert_eq!(res.status(), 302, "{to}");
        assert_eq!(location(&res), format!("{to}&code=CODE&state=S1"));
    }
}

#[tokio::test]
async fn a_target_with_its_own_prefix_gets_codes_at_that_callback_only() {
    let mock = MockWechat::start().await.unwrap();
    let (listener, addr) = relay_sites::bind("127.0.0.1").await;
    let hub_url = format!("http://127.0.0.1:{}", addr.port());
    let site = "http://localhost:9";
    let hub = relay_sites::serve(
        listener,
        hub_url,
        base_config(&mock)
            .with_relay_target(format!("{site}/login"))
            .with_relay_target("http://127.0.0.2:9"),
        None,
    );
    let b = browser();
    let relay = |to: String| {
        let b = b.clone();
        let url = format!(
            "{}/auth/wechat/relay?to={}&code=CODE&state=S1",
            hub.url,
            form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
        );
        async move { b.get(url).send().await.unwrap().status() }
    };
    assert_eq!(relay(format!("{site}/login/callback")).await, 302);
    assert_eq!(relay(format!("{site}/auth/wechat/callback")).await, 400);
    assert_eq!(relay(format!("{site}/login/x/callback")).await, 400);
    assert_eq!(relay(format!("{site}/callback")).await, 400);
    // An origin alone: the hub's own prefix.
    assert_eq!(
        relay("http://127.0.0.2:9/auth/wechat/callback".into()).await,
        302
    );
    assert_eq!(relay("http://127.0.0.2:9/login/callback".into()).await, 400);
    // Prefixes a target cannot have.
    for bad in [
        format!("{site}/login/"),
        format!("{site}/login/callback"),
        format!("{site}/a/../login"),
        format!("{site}/a;b"),
        format!("{site}/a%2fb"),
        format!("{site}/login?x=1"),
    ] {
        let err = base_config(&mock)
            .with_public_url("http://127.0.0.1:1")
            .with_relay_target(bad.clone())
            .build()
            .expect_err(&bad)
            .to_string();
        assert!(err.contains("WECHAT_RELAY_TARGETS"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn popup_and_in_frame_logins_go_through_the_hub() {
    let mock = MockWechat::start().await.unwrap();
    let sites = RelaySites::start(&mock).await;
    let relay = format!("{}/auth/wechat/relay?to=", sites.hub.url);
    let b = browser();
    // The popup: its display rides inside `to`, the hub passes it on.
    let wechat = start_login(&sites.a, &b, "?display=popup&return_to=/profile").await;
    assert_eq!(
        redirect_uri(&wechat),
        format!(
            "{relay}{}",
            form_urlencoded::byte_serialize(
                format!("{}/auth/wechat/callback?display=popup", sites.a.url).as_bytes()
            )
            .collect::<String>()
        )
    );
    let at_hub = wechat_answers(&b, &wechat, "alice", "approve").await;
    let res = b.get(&at_hub).send().await.unwrap();
    assert_eq!(
        res.status(),
        302,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let callback = location(&res);
    assert!(
        callback.starts_with(&format!(
            "{}/auth/wechat/callback?display=popup&code=",
            sites.a.url
        )),
        "{callback}"
    );
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(session_token(&res).is_some());
    let html = res.text().await.unwrap();
    assert!(html.contains("&quot;ok&quot;:true"), "{html}");

    // The embedded QR with self_redirect: the in-frame callback.
    let b = browser();
    let res = b
        .get(format!(
            "{}/auth/wechat/embed?self_redirect=true&return_to=/profile",
            sites.a.url
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let embed: serde_json::Value = res.json().await.unwrap();
    let redirect = embed["redirect_uri"].as_str().unwrap();
    assert!(redirect.starts_with(&relay), "{redirect}");
    let wechat = embed["iframe_url"].as_str().unwrap();
    let at_hub = wechat_answers(&b, wechat, "alice", "approve").await;
    let res = b.get(&at_hub).send().await.unwrap();
    assert_eq!(
        res.status(),
        302,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let callback = location(&res);
    assert!(
        callback.starts_with(&format!(
            "{}/auth/wechat/callback?display=iframe&code=",
            sites.a.url
        )),
        "{callback}"
    );
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(session_token(&res).is_some());
    // The layer's page hosting the QR lets its frame go through the hub.
    let res = b
        .get(format!(
            "{}/auth/wechat/login?display=embed&self_redirect=true",
            sites.a.url
        ))
        .send()
        .await
        .unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!(
            "frame-src {} {} 'self';",
            url::Url::parse(&mock.url())
                .unwrap()
                .origin()
                .ascii_serialization(),
            sites.hub.url
        )),
        "{csp}"
    );
}

#[tokio::test]
async fn chromium_logs_in_on_site_b_through_the_hub() {
    let mock = MockWechat::start().await.unwrap();
    let sites = RelaySites::start(&mock).await;
    browser::in_chromium(|client| async move { chromium_flow(&client, &mock, &sites).await }).await;
}

async fn chromium_flow(client: &Driver, mock: &MockWechat, sites: &RelaySites) {
    let website = mock.website().appid.clone();
    let alice = mock.user("alice").unwrap().openid_for(&website);
    let profile = url::Url::parse(&format!("{}/profile", sites.b.url)).unwrap();
    client.goto(profile.as_str()).await.unwrap();
    let approve = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::XPath(APPROVE_ALICE))
        .await
        .unwrap();
    let at_wechat = client.current_url().await.unwrap();
    assert!(
        redirect_uri(at_wechat.as_str())
            .starts_with(&format!("{}/auth/wechat/relay", sites.hub.url)),
        "{at_wechat}"
    );
    approve.click().await.unwrap();
    let source = browser::lands_on(client, profile.as_str()).await;
    assert!(source.contains(&alice), "alice on site B: {source}");
    let session = client
        .get_named_cookie("wechat_session")
        .await
        .expect("site B holds the session cookie");
    assert_eq!(session.http_only(), Some(true));
    let seen = sites.hub_cookies.lock().unwrap().clone();
    assert!(seen.is_empty(), "cookies at the hub: {seen:?}");
}

/// The site's own error page: brand, language, error code and the layer's escaped text.
struct Branded;
impl wechat_auth::pages::Pages for Branded {
    fn message(&self, page: &wechat_auth::pages::Page<'_>) -> wechat_auth::pages::Markup {
        wechat_auth::pages::Markup::trusted(format!(
            "<!doctype html><html lang=\"{}\"><title>ACME</title><h1>ACME: {}</h1><p id=\"text\">{}</p><p id=\"code\">{}</p></html>",
            page.language().tag(),
            page.heading(),
            page.text(),
            page.error_code().unwrap_or_default(),
        ))
    }
}

#[tokio::test]
async fn relay_refusals_are_the_sites_own_pages_in_the_visitors_language() {
    let mock = MockWechat::start().await.unwrap();
    let sites = RelaySites::start_with(&mock, |b| b.with_pages(std::sync::Arc::new(Branded))).await;
    let b = browser();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let ok = format!("{}/auth/wechat/callback", sites.a.url);
    let hostile = "https://evil.test/<script>alert(1)</script>/callback";
    let refused = async |url: String, lang: Option<&str>| {
        let mut req = b.get(&url);
        if let Some(lang) = lang {
            req = req.header("accept-language", lang);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 400, "{url}");
        assert!(res.headers().get("location").is_none(), "{url}");
        assert!(res.headers().get("set-cookie").is_none(), "{url}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{url}"
        );
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        res.text().await.unwrap()
    };
    // A forged target, an English browser: the branded page, in English, escaped.
    let html = refused(
        format!(
            "{}/auth/wechat/relay?to={}&code=C&state=S1",
            sites.hub.url,
            enc(hostile)
        ),
        Some("en-US,en;q=0.9"),
    )
    .await;
    assert!(
        html.starts_with(
            "<!doctype html><html lang=\"en\"><title>ACME</title><h1>ACME: Login failed</h1>"
        ),
        "{html}"
    );
    assert!(html.contains("<p id=\"code\">bad_request</p>"), "{html}");
    // The layer's text reaches the page escaped (its apostrophe), the target never raw.
    assert!(
        html.contains("the target&#39;s origin is not one this hub relays for"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    // Every refusal goes through the hook; without Accept-Language, in Chinese.
    for url in [
        format!("{}/auth/wechat/relay?code=C&state=S1", sites.hub.url),
        format!("{}/auth/wechat/relay?to={}&code=C", sites.hub.url, enc(&ok)),
        format!(
            "{}/auth/wechat/relay?to={}&code=&state=S1",
            sites.hub.url,
            enc(&ok)
        ),
    ] {
        let html = refused(url, None).await;
        assert!(
            html.starts_with(
                "<!doctype html><html lang=\"zh-CN\"><title>ACME</title><h1>ACME: 登录失败</h1>"
            ),
            "{html}"
        );
        assert!(html.contains("<p id=\"code\">bad_request</p>"), "{html}");
    }
    // A site that is no hub: its 404 is the site's page too.
    let res = b
        .get(format!(
            "{}/auth/wechat/relay?to={}&code=C&state=S1",
            sites.b.url,
            enc(&ok)
        ))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let html = res.text().await.unwrap();
    assert!(html.contains("<p id=\"code\">not_found</p>"), "{html}");
    assert!(html.contains("<html lang=\"en\">"), "{html}");
}
