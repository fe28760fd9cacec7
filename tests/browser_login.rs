//! Browser login end to end: the real layer in a real axum server, the mock WeChat, real
//! sockets, cookie-keeping clients.

mod common;

use std::time::Duration;

use common::*;
use wechat_auth::{
    LoginRefused, WechatAuthLayer, WechatUser,
    client::OaScope,
    mock::{Fault, MockWechat},
};

#[tokio::test]
async fn website_login_end_to_end() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();

    // A protected page sends a browser into the login, keeping where it was going.
    let res = b
        .get(format!("{}/profile?tab=1", app.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let to_login = location(&res);
    assert_eq!(to_login, "/auth/wechat/login?return_to=/profile%3Ftab%3D1");

    // The login goes to WeChat's website QR page with the state bound to this browser.
    let res = b.get(absolute(&app, &to_login)).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let wechat = location(&res);
    assert!(
        wechat.starts_with(&format!("{}/connect/qrconnect?appid=", mock.url())),
        "{wechat}"
    );
    assert!(wechat.ends_with("#wechat_redirect"), "{wechat}");
    assert!(wechat.contains("scope=snsapi_login"));
    let state_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("wechat_state_"))
        .expect("state cookie");
    assert!(state_cookie.contains("HttpOnly"), "{state_cookie}");
    assert!(state_cookie.contains("SameSite=Lax"), "{state_cookie}");
    assert!(state_cookie.contains("Path=/auth/wechat"), "{state_cookie}");

    // Alice approves; WeChat sends the browser back; the callback sets the session.
    let callback = wechat_answers(&b, wechat.split('#').next().unwrap(), "alice", "approve").await;
    assert!(callback.starts_with(&format!("{}/auth/wechat/callback?code=", app.url)));
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/profile?tab=1");
    let session = set_cookie(&res, "wechat_session")
        .expect("session cookie")
        .to_owned();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/")
    );
    assert!(!session.contains("Secure"), "http origin: no Secure flag");
    assert!(!session.to_lowercase().contains("access_token"));

    // The protected page now shows Alice.
    let alice = mock.user("alice").unwrap();
    let website = mock.website().appid.clone();
    let (status, user) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(user["openid"], alice.openid_for(&website));
    assert_eq!(user["unionid"], alice.unionid);
    assert_eq!(user["appid"], website);
    assert_eq!(user["channel"], "website");
    assert_eq!(user["nickname"], alice.nickname);

    let (status, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(me["openid"], alice.openid_for(&website));
    assert!(me["expires_at"].as_u64().unwrap() > 0);

    assert_eq!(mock.calls("sns/oauth2/access_token"), 1);
    assert_eq!(mock.calls("sns/userinfo"), 1);

    // Logout revokes the session and clears the cookie.
    let token = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let res = b
        .post(format!("{}/auth/wechat/logout?return_to=/bye", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/bye");
    let cleared = set_cookie(&res, "wechat_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 401);
    // The old token is refused even when replayed by hand.
    let res = reqwest::Client::new()
        .get(format!("{}/api/data", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
}

#[tokio::test]
async fn official_account_userinfo_scope_inside_wechat() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = wechat_browser();
    let wechat = start_login(&app, &b, "?return_to=/profile").await;
    assert!(
        wechat.starts_with(&format!("{}/connect/oauth2/authorize?appid=", mock.url())),
        "{wechat}"
    );
    assert!(wechat.contains("scope=snsapi_userinfo"));
    let callback = wechat_answers(&b, &wechat, "bob", "approve").await;
    let res = b.get(callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/profile");
    let (status, user) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    let bob = mock.user("bob").unwrap();
    let oa = mock.official_account().appid.clone();
    assert_eq!(user["openid"], bob.openid_for(&oa));
    assert_eq!(
        user["unionid"], bob.unionid,
        "same unionid as on every other app"
    );
    assert_eq!(user["channel"], "official_account");
    assert_eq!(user["nickname"], bob.nickname);
}

#[tokio::test]
async fn official_account_base_scope_reads_no_profile() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_oa_scope(OaScope::Base)).await;
    let b = wechat_browser();
    let wechat = start_login(&app, &b, "?return_to=/profile").await;
    assert!(wechat.contains("scope=snsapi_base"), "{wechat}");
    let callback = wechat_answers(&b, &wechat, "carol", "approve").await;
    let res = b.get(callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let (status, user) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    let carol = mock.user("carol").unwrap();
    assert_eq!(
        user["openid"],
        carol.openid_for(&mock.official_account().appid)
    );
    assert!(user["nickname"].is_null());
    assert!(user["unionid"].is_null(), "snsapi_base gives no unionid");
    assert_eq!(
        mock.calls("sns/userinfo"),
        0,
        "a base token cannot read the profile"
    );
}

#[tokio::test]
async fn channel_can_be_forced_and_unknown_channels_are_refused() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let wechat = start_login(&app, &b, "?channel=oa").await;
    assert!(wechat.contains("/connect/oauth2/authorize?"), "{wechat}");
    let res = b
        .get(format!("{}/auth/wechat/login?channel=fax", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Only an Official Account configured: a desktop browser goes to the scan page.
    let oa = mock.official_account();
    let only_oa = start(
        wechat_auth::WechatConfig::builder()
            .with_session_secret(SECRET)
            .with_wechat_bases(mock.url(), mock.url(), mock.url())
            .with_official_account(oa.appid.clone(), oa.secret.clone()),
    )
    .await;
    let res = b
        .get(format!("{}/auth/wechat/login?return_to=/x", only_oa.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/auth/wechat/scan?return_to=/x");
}

#[tokio::test]
async fn forged_missing_and_foreign_state_are_refused_before_any_wechat_call() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let a = browser();
    let wechat = start_login(&app, &a, "?return_to=/profile").await;
    let callback = wechat_answers(&a, &wechat, "alice", "approve").await;

    // Another browser (an attacker's link, a login CSRF) has no state cookie.
    let other = browser();
    let res = other.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(set_cookie(&res, "wechat_session").is_none());
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("not started in this browser")
    );

    // The right browser with a forged state.
    let code = callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let forged = format!(
        "{}/auth/wechat/callback?code={code}&state=Forged123",
        app.url
    );
    let res = a.get(&forged).send().await.unwrap();
    assert_eq!(res.status(), 400);
    // No state at all, and a malformed one.
    for bad in ["", "&state=", "&state=bad-chars!"] {
        let res = a
            .get(format!("{}/auth/wechat/callback?code={code}{bad}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    assert_eq!(
        mock.calls("sns/oauth2/access_token"),
        0,
        "refused before WeChat"
    );

    // The real callback still works afterwards.
    let res = a.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert!(set_cookie(&res, "wechat_session").is_some());
}

#[tokio::test]
async fn refusal_shows_a_retry_page_and_no_session() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let wechat = start_login(&app, &b, "?return_to=/profile").await;
    let callback = wechat_answers(&b, &wechat, "alice", "deny").await;
    assert!(!callback.contains("code="), "{callback}");
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res, "wechat_session").is_none());
    let page = res.text().await.unwrap();
    assert!(page.contains("declined"), "{page}");
    assert!(
        page.contains("/auth/wechat/login?return_to=/profile&amp;channel=website"),
        "{page}"
    );
    let (status, _) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 401);
    assert_eq!(mock.calls("sns/oauth2/access_token"), 0);
}

#[tokio::test]
async fn snapshot_users_get_no_session() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = wechat_browser();
    let wechat = start_login(&app, &b, "?return_to=/profile").await;
    let callback = wechat_answers(&b, &wechat, "alice", "snapshot").await;
    let res = b.get(&callback).send().await.unwrap();
    assert!(set_cookie(&res, "wechat_session").is_none());
    let page = res.text().await.unwrap();
    assert!(page.contains("使用完整服务"), "{page}");
    assert_eq!(
        mock.calls("sns/userinfo"),
        0,
        "virtual users are not looked up"
    );
    let (status, _) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_repeated_callback_gets_the_same_session_with_one_exchange() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let wechat = start_login(&app, &b, "?return_to=/profile").await;
    let callback = wechat_answers(&b, &wechat, "alice", "approve").await;
    // Android's double redirect: the same callback twice at once.
    let (r1, r2) = tokio::join!(b.get(&callback).send(), b.get(&callback).send());
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (302, 302));
    assert_eq!(location(&r1), "/profile");
    assert_eq!(location(&r2), "/profile");
    let openid = |t: &str| {
        let payload = t.split('.').nth(1).unwrap().to_owned();
        use base64::Engine;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&json).unwrap()["oid"].clone()
    };
    let (t1, t2) = (session_token(&r1).unwrap(), session_token(&r2).unwrap());
    assert_eq!(openid(&t1), openid(&t2));
    // A reload after the state cookie is gone still lands, and never shows 40163.
    let r3 = b.get(&callback).send().await.unwrap();
    assert_eq!(r3.status(), 302, "{}", r3.text().await.unwrap());
    assert_eq!(
        mock.calls("sns/oauth2/access_token"),
        1,
        "one exchange upstream"
    );
}

#[tokio::test]
async fn several_tabs_can_log_in_at_once() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let first = start_login(&app, &b, "?return_to=/one").await;
    let second = start_login(&app, &b, "?return_to=/two").await;
    let cb2 = wechat_answers(&b, &second, "alice", "approve").await;
    let cb1 = wechat_answers(&b, &first, "alice", "approve").await;
    let r2 = b.get(cb2).send().await.unwrap();
    assert_eq!(location(&r2), "/two");
    let r1 = b.get(cb1).send().await.unwrap();
    assert_eq!(location(&r1), "/one");
}

#[tokio::test]
async fn an_expired_code_asks_to_log_in_again() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let wechat = start_login(&app, &b, "?return_to=/profile").await;
    let callback = wechat_answers(&b, &wechat, "alice", "approve").await;
    mock.advance(Duration::from_secs(11 * 60));
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(set_cookie(&res, "wechat_session").is_none());
    let page = res.text().await.unwrap();
    assert!(page.contains("already used or has expired"), "{page}");
    assert!(
        page.contains("/auth/wechat/login?return_to=/profile"),
        "{page}"
    );
    assert!(!page.contains("40163") && !page.contains("42003"));
}

#[tokio::test]
async fn a_wrong_app_secret_explains_the_configuration_error() {
    let mock = MockWechat::start().await.unwrap();
    let app =
        start(config(&mock).with_website_app(mock.website().appid.clone(), "wrong-secret")).await;
    let b = browser();
    let res = login(&app, &b, "?return_to=/profile", "alice").await;
    assert_eq!(res.status(), 403);
    let page = res.text().await.unwrap();
    assert!(page.contains("40125"), "{page}");
    assert!(page.to_lowercase().contains("appsecret"), "{page}");
    assert!(!page.contains("wrong-secret"), "the secret never shows");
}

#[tokio::test]
async fn wechat_down_or_slow_is_a_5xx_page_not_a_hang() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_http_timeout(Duration::from_secs(1))).await;
    let b = browser();
    mock.inject("sns/oauth2/access_token", Fault::HttpStatus(503), 10);
    let res = login(&app, &b, "?return_to=/profile", "alice").await;
    assert_eq!(res.status(), 502);
    assert!(res.headers().contains_key("retry-after"));
    assert!(set_cookie(&res, "wechat_session").is_none());

    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_http_timeout(Duration::from_secs(1))).await;
    mock.inject(
        "sns/oauth2/access_token",
        Fault::Delay(Duration::from_secs(5)),
        5,
    );
    let started = std::time::Instant::now();
    let res = login(&app, &b, "?return_to=/profile", "alice").await;
    assert_eq!(res.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(res.text().await.unwrap().contains("did not answer in time"));
}

#[tokio::test]
async fn api_and_xhr_requests_get_401_json_browsers_get_a_redirect() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let c = browser();
    for (accept, xhr) in [
        ("application/json", false),
        ("text/html", true),
        ("*/*", false),
    ] {
        let mut req = c
            .get(format!("{}/api/data", app.url))
            .header("accept", accept);
        if xhr {
            req = req.header("x-requested-with", "XMLHttpRequest");
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{accept} xhr={xhr}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "unauthenticated");
        assert_eq!(body["login_url"], "/auth/wechat/login");
    }
    let res = c
        .post(format!("{}/profile", app.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a POST is not a navigation");
    // Public and optional paths stay open.
    assert_eq!(c.get(&app.url).send().await.unwrap().status(), 200);
    let res = c.get(format!("{}/maybe", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 401, "the guard covers /maybe");
    let (status, _) = get_json(&c, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn optional_mode_never_blocks() {
    let mock = MockWechat::start().await.unwrap();
    let app = start_with(config(&mock), |cfg| WechatAuthLayer::new(cfg).optional()).await;
    let b = browser();
    let res = b.get(format!("{}/maybe", app.url)).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "guest");
    let res = b.get(format!("{}/profile", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 401, "the extractor still rejects");
    login(&app, &b, "", "alice").await;
    let res = b.get(format!("{}/maybe", app.url)).send().await.unwrap();
    assert_eq!(
        res.text().await.unwrap(),
        mock.user("alice")
            .unwrap()
            .openid_for(&mock.website().appid)
    );
}

#[tokio::test]
async fn every_open_redirect_trick_lands_on_root() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    for trick in [
        "//evil.com",
        "/%5Cevil.com",
        "https://evil.com",
        "%252F%252Fevil.com",
        "javascript:alert(1)",
        "/%09/evil.com",
    ] {
        let b = browser();
        let res = login(&app, &b, &format!("?return_to={trick}"), "alice").await;
        assert_eq!(res.status(), 302, "{trick}");
        assert_eq!(location(&res), "/", "{trick}");
    }
    // An allow-listed origin is followed.
    let app = start(config(&mock).with_allowed_origin("https://shop.example.com")).await;
    let b = browser();
    let res = login(
        &app,
        &b,
        "?return_to=https://shop.example.com/cart",
        "alice",
    )
    .await;
    assert_eq!(location(&res), "https://shop.example.com/cart");
}

#[tokio::test]
async fn on_login_sets_the_subject_or_refuses() {
    let mock = MockWechat::start().await.unwrap();
    let banned = mock.user("bob").unwrap().unionid;
    let app = start(config(&mock).with_on_login(move |user: WechatUser| {
        let banned = banned.clone();
        async move {
            if user.unionid.as_deref() == Some(banned.as_str()) {
                return Err(LoginRefused::new("账号已停用 account suspended"));
            }
            Ok(Some(format!("acct:{}", user.unionid.unwrap_or_default())))
        }
    }))
    .await;
    let b = browser();
    login(&app, &b, "", "alice").await;
    let (_, user) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(
        user["subject"],
        format!("acct:{}", mock.user("alice").unwrap().unionid)
    );
    let b = browser();
    let res = login(&app, &b, "", "bob").await;
    assert_eq!(res.status(), 403);
    assert!(set_cookie(&res, "wechat_session").is_none());
    assert!(res.text().await.unwrap().contains("account suspended"));
}

#[tokio::test]
async fn a_second_login_of_a_cached_user_reads_no_profile() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    login(&app, &browser(), "", "alice").await;
    login(&app, &browser(), "", "alice").await;
    assert_eq!(mock.calls("sns/oauth2/access_token"), 2);
    assert_eq!(
        mock.calls("sns/userinfo"),
        1,
        "the profile came from the cache"
    );
}

#[tokio::test]
async fn the_handle_refreshes_an_expired_user_token() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_userinfo_ttl(Duration::from_secs(1))).await;
    let b = browser();
    login(&app, &b, "", "alice").await;
    assert_eq!(mock.calls("sns/userinfo"), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await; // the profile cache lapses
    mock.advance(Duration::from_secs(3 * 3600)); // WeChat's user token expires
    let (status, body) = get_json(&b, &format!("{}/wechat-profile", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["profile"],
        mock.user("alice").unwrap().nickname,
        "{body}"
    );
    assert_eq!(mock.calls("sns/oauth2/refresh_token"), 1);
    assert_eq!(
        mock.calls("sns/userinfo"),
        3,
        "one refused with 42001, one after the refresh"
    );
}
