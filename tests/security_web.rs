//! Issue 18 (web side), end to end over real sockets: open redirects through dot segments,
//! cookie tossing (prefixed cookie names, single-use state, duplicate session cookies), a
//! deadline on request bodies, and the scan endpoints' existence oracle.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Client;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wechat_auth::{WechatAuthLayer, WechatConfigBuilder, mock::MockWechat};

/// Every `return_to` that a dot segment (plain or percent-encoded) collapses to `//host`.
const DOT_TRICKS: &[&str] = &[
    "/..//evil.com/phish",
    "/.//evil.com/phish",
    "/a/..//evil.com/phish",
    "/%2e%2e//evil.com/phish",
    "/%2E%2E//evil.com/phish",
    "/x/%2e%2e//evil.com/phish",
    "/x/.%2e//evil.com/phish",
    "/.././/evil.com/phish",
    "/x/..//..//evil.com/phish",
    "/x/%2e//evil.com/phish",
];

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A `Location` that stays on `app`: a local path that is not protocol-relative.
fn assert_local(app: &App, location: &str, what: &str) {
    assert!(
        location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\"),
        "{what}: Location {location:?} leaves the site"
    );
    let resolved = url::Url::parse(&app.url).unwrap().join(location).unwrap();
    assert_eq!(
        resolved.host_str(),
        Some("127.0.0.1"),
        "{what}: {location:?} resolves to {resolved}"
    );
}

// ---------------------------------------------------------------------------------------
// 1. Open redirect through dot segments
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_callback_never_redirects_off_site_through_dot_segments() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    for trick in DOT_TRICKS {
        let b = browser();
        let res = login(
            &app,
            &b,
            &format!("?channel=website&return_to={}", encode(trick)),
            "alice",
        )
        .await;
        assert_eq!(res.status(), 302, "{trick}");
        assert!(session_token(&res).is_some(), "{trick}: logged in");
        assert_local(&app, &location(&res), trick);
    }
}

#[tokio::test]
async fn logout_never_redirects_off_site_through_dot_segments() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let res = login(&app, &b, "?channel=website", "alice").await;
    assert_eq!(res.status(), 302);
    for trick in DOT_TRICKS {
        let res = b
            .post(format!(
                "{}/auth/wechat/logout?return_to={}",
                app.url,
                encode(trick)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{trick}");
        assert_local(&app, &location(&res), trick);
    }
}

#[tokio::test]
async fn a_scan_login_never_returns_off_site_through_dot_segments() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    wire(&mock, &app);
    for trick in [
        "/..//evil.com/phish",
        "/x/%2e%2e//evil.com",
        "/.././/evil.com",
    ] {
        let b = browser();
        let s = start_scan(&app, &b, &encode(trick)).await;
        mock.scan(s["qr_url"].as_str().unwrap(), "alice")
            .await
            .unwrap();
        let (status, body) = get_json(
            &b,
            &format!(
                "{}/auth/wechat/scan/{}?wait=5",
                app.url,
                s["id"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
        assert_local(&app, body["return_to"].as_str().unwrap(), trick);
    }
}

// ---------------------------------------------------------------------------------------
// 7. Cookie tossing
// ---------------------------------------------------------------------------------------

/// Serves the test routes with `builder` finished by `public_url` (which may be https: the
/// app itself still listens on plain http loopback).
async fn start_as(builder: WechatConfigBuilder, public_url: impl FnOnce(&str) -> String) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = builder
        .with_public_url(public_url(&addr.to_string()))
        .build()
        .unwrap();
    let app = routes().layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    App::from_parts(format!("http://{addr}"), addr, task)
}

/// A client that keeps no cookies and follows no redirects: the test sends cookies itself.
fn bare() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(DESKTOP_UA)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Every `Set-Cookie` of a response.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name=value` of a `Set-Cookie` line.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().trim()
}

/// Starts a login with a cookieless client: the state cookie's `Set-Cookie` and WeChat's URL.
async fn start_bare_login(app: &App, c: &Client) -> (String, String) {
    let res = c
        .get(format!("{}/auth/wechat/login?channel=website", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let wechat = location(&res).split('#').next().unwrap().to_owned();
    let cookies = set_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    (cookies[0].clone(), wechat)
}

/// The callback URL with its public origin replaced by the app's loopback one.
fn on_loopback(app: &App, callback: &str) -> String {
    let u = url::Url::parse(callback).unwrap();
    format!("{}{}?{}", app.url, u.path(), u.query().unwrap_or(""))
}

#[tokio::test]
async fn an_https_site_gets_host_prefixed_cookies_the_guard_reads() {
    let mock = MockWechat::start().await.unwrap();
    let app = start_as(config(&mock), |addr| format!("https://{addr}")).await;
    let c = bare();
    let (state_cookie, wechat) = start_bare_login(&app, &c).await;
    assert!(
        state_cookie.starts_with("__Host-wechat_state_"),
        "{state_cookie}"
    );
    assert!(state_cookie.contains("Path=/;") || state_cookie.ends_with("Path=/"));
    assert!(!state_cookie.contains("Path=/auth"), "{state_cookie}");
    assert!(state_cookie.contains("Secure"), "{state_cookie}");
    assert!(!state_cookie.contains("Domain"), "{state_cookie}");

    // Finish the login by hand (a plain-http client would not send Secure cookies back).
    let callback = wechat_answers(&c, &wechat, "alice", "approve").await;
    assert!(callback.starts_with("https://"), "{callback}");
    let res = c
        .get(on_loopback(&app, &callback))
        .header("cookie", pair(&state_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let session = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("__Host-wechat_session="))
        .unwrap_or_else(|| panic!("no __Host- session cookie: {:?}", set_cookies(&res)));
    assert!(
        session.contains("Secure") && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Domain"), "{session}");
    let token = pair(&session).split_once('=').unwrap().1.to_owned();

    // The guard reads the prefixed name, and only that one.
    let api = |cookie: String| {
        c.get(format!("{}/api/data", app.url))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        api(format!("__Host-wechat_session={token}"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        api(format!("wechat_session={token}"))
            .await
            .unwrap()
            .status(),
        401,
        "a plain-named cookie (which a sibling subdomain could plant) is not a session"
    );

    // Logout clears the prefixed cookie.
    let res = c
        .post(format!("{}/auth/wechat/logout", app.url))
        .header("cookie", format!("__Host-wechat_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("__Host-wechat_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        set_cookies(&res)
    );
}

#[tokio::test]
async fn an_https_site_with_a_cookie_domain_gets_secure_prefixed_cookies() {
    let mock = MockWechat::start().await.unwrap();
    let app = start_as(config(&mock).with_cookie_domain("example.com"), |addr| {
        format!("https://{addr}")
    })
    .await;
    let (state_cookie, _) = start_bare_login(&app, &bare()).await;
    assert!(
        state_cookie.starts_with("__Secure-wechat_state_"),
        "{state_cookie}"
    );
    assert!(state_cookie.contains("Secure"), "{state_cookie}");
    assert!(
        state_cookie.contains("Domain=example.com"),
        "{state_cookie}"
    );
}

#[tokio::test]
async fn a_plain_http_site_keeps_plain_cookie_names() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let (state_cookie, _) = start_bare_login(&app, &bare()).await;
    assert!(state_cookie.starts_with("wechat_state_"), "{state_cookie}");
    assert!(!state_cookie.contains("Secure"), "{state_cookie}");
}

#[tokio::test]
async fn a_state_ticket_is_bound_to_the_first_code_that_used_it() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    // The attacker starts a login and keeps its state cookie (to plant it in a victim's
    // browser), and gets two codes for that state.
    let c = bare();
    let (state_cookie, wechat) = start_bare_login(&app, &c).await;
    let first = wechat_answers(&c, &wechat, "alice", "approve").await;
    let second = wechat_answers(&c, &wechat, "bob", "approve").await;
    let callback = |url: String| c.get(url).header("cookie", pair(&state_cookie)).send();

    let res = callback(first.clone()).await.unwrap();
    assert_eq!(res.status(), 302);
    let alice = session_token(&res).expect("the first code logs in");
    // The same code again (a reload, a double redirect) still works, with the same user.
    let res = callback(first).await.unwrap();
    assert_eq!(res.status(), 302, "the same state with the same code");
    let again = session_token(&res).expect("a session again");
    let me = |token: String| {
        let c = c.clone();
        let url = format!("{}/auth/wechat/me", app.url);
        async move {
            let res = c
                .get(url)
                .header("cookie", format!("wechat_session={token}"))
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(me(alice).await["openid"], me(again).await["openid"]);

    // Another code with the same state is refused before any exchange.
    let res = callback(second).await.unwrap();
    assert_eq!(res.status(), 400, "the same state with another code");
    assert!(session_token(&res).is_none());
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("not started in this browser")
    );
}

#[tokio::test]
async fn several_session_cookies_are_no_session() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let victim =
        session_token(&login(&app, &browser(), "?channel=website", "alice").await).expect("alice");
    let attacker =
        session_token(&login(&app, &browser(), "?channel=website", "bob").await).expect("bob");
    let c = bare();
    let get = |path: &str, cookies: &[String], html: bool| {
        let mut req = c.get(format!("{}{path}", app.url));
        for cookie in cookies {
            req = req.header("cookie", cookie.clone());
        }
        if html {
            req = req.header("accept", "text/html");
        }
        req.send()
    };
    let one = [format!("wechat_session={victim}")];
    assert_eq!(get("/api/data", &one, false).await.unwrap().status(), 200);

    // A cookie planted on a deeper path comes first in the header and would shadow the
    // real one: two values, whatever their order or their headers, are no session.
    for cookies in [
        vec![format!(
            "wechat_session={attacker}; wechat_session={victim}"
        )],
        vec![format!(
            "wechat_session={victim}; a=1; wechat_session={attacker}"
        )],
        vec![
            format!("wechat_session={attacker}"),
            format!("wechat_session={victim}"),
        ],
        vec![format!("wechat_session=garbage; wechat_session={victim}")],
    ] {
        let res = get("/api/data", &cookies, false).await.unwrap();
        assert_eq!(res.status(), 401, "{cookies:?}");
        let res = get("/profile", &cookies, true).await.unwrap();
        assert_eq!(res.status(), 302, "{cookies:?}");
        assert!(location(&res).starts_with("/auth/wechat/login?"));
        let res = get("/auth/wechat/me", &cookies, false).await.unwrap();
        assert_eq!(res.status(), 401, "{cookies:?}");
    }
}

// ---------------------------------------------------------------------------------------
// 8. A deadline on request bodies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_slow_body_is_answered_408_and_closed_at_the_deadline() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_body_timeout(Duration::from_secs(1))).await;
    let mut tasks = Vec::new();
    for path in [
        "/auth/wechat/app",
        "/auth/wechat/miniprogram",
        "/auth/wechat/push",
    ] {
        let addr = app.addr;
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST {path}?signature=x&timestamp=1&nonce=1 HTTP/1.1\r\nHost: {addr}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let started = Instant::now();
            let mut got = Vec::new();
            // Read until the server closes; give up well after deadline + slack.
            let read = tokio::time::timeout(Duration::from_secs(6), async {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            (
                path,
                read.is_ok(),
                started.elapsed(),
                String::from_utf8_lossy(&got).into_owned(),
            )
        }));
    }
    for t in tasks {
        let (path, closed, took, answer) = t.await.unwrap();
        assert!(
            closed,
            "{path}: the connection was never closed ({answer:?})"
        );
        assert!(
            took < Duration::from_secs(4),
            "{path}: closed after {took:?}, deadline is 1 s"
        );
        assert!(
            took >= Duration::from_millis(900),
            "{path}: closed before the deadline ({took:?}): {answer}"
        );
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("request_timeout"), "{path}: {answer}");
    }
}

// ---------------------------------------------------------------------------------------
// 10. The scan endpoints answer only the browser that started the scan
// ---------------------------------------------------------------------------------------

async fn start_scan(app: &App, b: &Client, return_to: &str) -> Value {
    let res = b
        .post(format!(
            "{}/auth/wechat/scan?return_to={return_to}",
            app.url
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `GET url` with an optional `Cookie`: status and body text.
async fn raw_get(c: &Client, url: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = c.get(url);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_scan_status_does_not_tell_a_stranger_whether_an_id_exists() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let owner = browser();
    let s = start_scan(&app, &owner, "/").await;
    let real = s["id"].as_str().unwrap();
    let unknown = "Zz9".repeat(10) + "Zz";
    assert_eq!(unknown.len(), real.len());
    let c = bare();
    let status = |id: &str| format!("{}/auth/wechat/scan/{id}", app.url);

    let for_real = raw_get(&c, &status(real), None).await;
    let for_unknown = raw_get(&c, &status(&unknown), None).await;
    assert_eq!(for_real.0, 403, "{for_real:?}");
    assert_eq!(
        for_real, for_unknown,
        "no cookie: the same answer either way"
    );

    // A made-up cookie value is no better than none.
    let forged = |id: &str| format!("wechat_scan_{id}=forged");
    let with_forged_real = raw_get(&c, &status(real), Some(&forged(real))).await;
    let with_forged_unknown = raw_get(&c, &status(&unknown), Some(&forged(&unknown))).await;
    assert_eq!(with_forged_real, for_real);
    assert_eq!(with_forged_unknown, for_real);

    // The owner still sees its scan.
    let (code, body) = get_json(&owner, &status(real)).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("pending")));
}

#[tokio::test]
async fn the_qr_image_is_served_only_to_the_browser_that_started_the_scan() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let owner = browser();
    let s = start_scan(&app, &owner, "/").await;
    let image = format!("{}{}", app.url, s["image_url"].as_str().unwrap());
    let unknown = format!("{}/auth/wechat/scan/{}/qr.svg", app.url, "Q".repeat(32));

    let res = owner.get(&image).send().await.unwrap();
    assert_eq!(res.status(), 200, "the owner gets its image");
    assert!(res.text().await.unwrap().contains("<svg"));

    let c = bare();
    let stranger = raw_get(&c, &image, None).await;
    assert_eq!(stranger.0, 404, "a stranger gets no image");
    assert_eq!(stranger, raw_get(&c, &unknown, None).await);
    let id = s["id"].as_str().unwrap();
    let forged = raw_get(&c, &image, Some(&format!("wechat_scan_{id}=forged"))).await;
    assert_eq!(forged, stranger);
}
