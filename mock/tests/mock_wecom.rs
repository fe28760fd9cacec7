//! The mock's WeCom (企业微信) side over real sockets (protocol §20, design §6): the corp in
//! `/mock/config`, the web login page `wwlogin/sso/login`, the in-app authorize page for a
//! corp id, `cgi-bin/gettoken`, `cgi-bin/auth/getuserinfo`, `cgi-bin/auth/getuserdetail`,
//! trusted domains (50001), errcodes, faults and call counts.

use std::time::Duration;

use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::{Value, json};
use url::Url;
use wechat_auth_mock::{MockConfig, MockWechat, MockWecomCorp, MockWecomMember};

const CALLBACK: &str = "http://127.0.0.1:3000/auth/wechat/callback";

fn http() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

fn sso_url(mock: &MockWechat, corp: &MockWecomCorp, redirect: &str, state: &str) -> String {
    let mut u = Url::parse(&format!("{}/wwlogin/sso/login", mock.url())).unwrap();
    u.query_pairs_mut()
        .append_pair("login_type", "CorpApp")
        .append_pair("appid", &corp.corp_id)
        .append_pair("agentid", &corp.agent_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("state", state);
    u.to_string()
}

fn in_app_url(
    mock: &MockWechat,
    corp: &MockWecomCorp,
    scope: &str,
    agent: Option<&str>,
    state: &str,
) -> String {
    let mut u = Url::parse(&format!("{}/connect/oauth2/authorize", mock.url())).unwrap();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("appid", &corp.corp_id)
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", state);
        if let Some(a) = agent {
            q.append_pair("agentid", a);
        }
    }
    format!("{u}#wechat_redirect")
}

/// Opens `url` and expects the 302 back to the callback; answers its query.
async fn follow_back(url: &str) -> Vec<(String, String)> {
    let resp = http().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{url}");
    let to = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(to.path(), "/auth/wechat/callback");
    to.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn code_for(url: &str, user: &str) -> String {
    let q = follow_back(&MockWechat::approve_url(url, user)).await;
    q.iter().find(|(k, _)| k == "code").unwrap().1.clone()
}

/// A page that must be WeCom's error page with this `x-mock-error`.
async fn error_page(url: &str, reason: &str) {
    let resp = http().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    assert_eq!(resp.headers()["x-mock-error"], reason, "{url}");
    assert!(resp.headers().get("location").is_none());
}

async fn get_json(url: String, query: &[(&str, &str)]) -> Value {
    let resp = http().get(url).query(query).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    resp.json().await.unwrap()
}

async fn token(mock: &MockWechat, corp: &MockWecomCorp) -> String {
    let v = get_json(
        format!("{}/cgi-bin/gettoken", mock.api_base()),
        &[("corpid", &corp.corp_id), ("corpsecret", &corp.secret)],
    )
    .await;
    assert_eq!(v["errcode"], 0, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn userinfo(mock: &MockWechat, token: &str, code: &str) -> Value {
    get_json(
        format!("{}/cgi-bin/auth/getuserinfo", mock.api_base()),
        &[("access_token", token), ("code", code)],
    )
    .await
}

async fn userdetail(mock: &MockWechat, token: &str, body: &Value) -> Value {
    let resp = http()
        .post(format!("{}/cgi-bin/auth/getuserdetail", mock.api_base()))
        .query(&[("access_token", token)])
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// A WeCom error: the code, and the errmsg ending with WeCom's "more info" link.
fn assert_wecom_error(v: &Value, code: i64) {
    assert_eq!(v["errcode"], code, "{v}");
    let msg = v["errmsg"].as_str().unwrap();
    assert!(
        msg.ends_with(&format!(
            "more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn config_lists_the_corp_its_members_and_the_non_members_openids() {
    let mock = MockWechat::start().await.unwrap();
    let cfg: Value = http()
        .get(format!("{}/mock/config", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let corp = cfg["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "wecom")
        .expect("a wecom corp in /mock/config");
    let want = mock.wecom_corp();
    assert_eq!(corp["corp_id"], want.corp_id.as_str());
    assert_eq!(corp["agent_id"], "1000002");
    assert_eq!(corp["secret"], want.secret.as_str());
    assert_eq!(corp["members"][0]["name"], "alice");
    assert_eq!(corp["members"][0]["user_id"], "LiAiLi");
    assert_eq!(corp["members"][1]["user_id"], "BobZhang");
    assert_eq!(corp["members"].as_array().unwrap().len(), 2);
    assert_eq!(corp["trusted_domains"], json!(["127.0.0.1", "localhost"]));
    let carol = cfg["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "carol")
        .unwrap();
    let carol_openid = want.openid_for(&mock.user("carol").unwrap());
    assert_eq!(carol["wecom_openids"][&want.corp_id], carol_openid.as_str());
    let alice = cfg["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "alice");
    assert!(alice.unwrap()["wecom_openids"].get(&want.corp_id).is_none());
}

#[tokio::test]
async fn web_login_member_and_non_member_through_gettoken_and_getuserinfo() {
    let mock = MockWechat::start().await.unwrap();
    let corp = mock.wecom_corp().clone();
    let login = sso_url(&mock, &corp, CALLBACK, "st-1/x");

    // The page a person sees: one button per user, members by UserID, and a refusal.
    let page = http().get(&login).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("mock_user=alice&amp;mock_action=approve"),
        "{html}"
    );
    assert!(html.contains("成员 LiAiLi"));
    assert!(html.contains("非企业成员"));
    assert!(html.contains("mock_action=deny"));

    let back = follow_back(&MockWechat::approve_url(&login, "alice")).await;
    let code = back.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    assert!(back.contains(&("state".into(), "st-1/x".into())));
    let tok = token(&mock, &corp).await;
    let member = userinfo(&mock, &tok, &code).await;
    assert_eq!(
        member,
        json!({"errcode": 0, "errmsg": "ok", "userid": "LiAiLi"}),
        "a web-login code carries no user_ticket"
    );
    // Single use.
    assert_wecom_error(&userinfo(&mock, &tok, &code).await, 40029);

    let code = code_for(&login, "carol").await;
    let other = userinfo(&mock, &tok, &code).await;
    let openid = corp.openid_for(&mock.user("carol").unwrap());
    assert_eq!(
        other,
        json!({"errcode": 0, "errmsg": "ok", "openid": openid})
    );

    // A refusal comes back with the state only.
    let back = follow_back(&MockWechat::deny_url(&login)).await;
    assert_eq!(back, [("state".to_owned(), "st-1/x".to_owned())]);
}

#[tokio::test]
async fn the_web_login_page_checks_login_type_corp_agent_and_trusted_domain() {
    let mock = MockWechat::start().await.unwrap();
    let corp = mock.wecom_corp().clone();
    let good = sso_url(&mock, &corp, CALLBACK, "s");
    error_page(
        &good.replace("login_type=CorpApp", "login_type=Nope"),
        "login_type",
    )
    .await;
    error_page(&good.replace(&corp.corp_id, "ww0000000000000bad"), "40013").await;
    error_page(&good.replace("agentid=1000002", "agentid=1000009"), "40056").await;
    error_page(&good.replace("agentid=1000002&", ""), "40056").await;
    let evil = sso_url(&mock, &corp, "https://evil.example/cb", "s");
    error_page(&evil, "50001").await;
    error_page(&MockWechat::approve_url(&evil, "alice"), "50001").await;

    // A trusted domain with a port matches that port only (protocol §20.8).
    mock.set_wecom_trusted_domains(&corp.corp_id, vec!["app.example.com:8080".into()])
        .unwrap();
    let on_port = sso_url(&mock, &corp, "http://app.example.com:8080/cb", "s");
    let resp = http()
        .get(MockWechat::approve_url(&on_port, "bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let other_port = sso_url(&mock, &corp, "http://app.example.com:8081/cb", "s");
    error_page(&MockWechat::approve_url(&other_port, "bob"), "50001").await;
    error_page(&good, "50001").await; // 127.0.0.1 is no longer trusted

    // Over the control API too.
    let resp = http()
        .post(format!("{}/mock/redirect_domains", mock.url()))
        .json(&json!({"appid": corp.corp_id, "domains": ["127.0.0.1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(mock.wecom_trusted_domains(&corp.corp_id), ["127.0.0.1"]);
    code_for(&good, "alice").await;

    // Misused mock parameters are the mock's 400, not WeCom's.
    let resp = http()
        .get(format!("{good}&mock_user=nobody&mock_action=approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn gettoken_answers_wecom_shapes_and_errcodes() {
    let mock = MockWechat::start_with(MockConfig::default().add_wecom_corp(MockWecomCorp::new(
        "ww7000000000000007",
        "1000002",
        "other-corp-secret",
    )))
    .await
    .unwrap();
    let corp = mock.wecom_corp().clone();
    let url = format!("{}/cgi-bin/gettoken", mock.api_base());
    let ok = get_json(
        url.clone(),
        &[("corpid", &corp.corp_id), ("corpsecret", &corp.secret)],
    )
    .await;
    assert_eq!(ok["errcode"], 0);
    assert_eq!(ok["errmsg"], "ok");
    assert_eq!(ok["expires_in"], 7200);
    assert!(!ok["access_token"].as_str().unwrap().is_empty());

    let err = |q: Vec<(&'static str, String)>| {
        let url = url.clone();
        async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            get_json(url, &q).await
        }
    };
    assert_wecom_error(&err(vec![("corpsecret", corp.secret.clone())]).await, 41002);
    assert_wecom_error(&err(vec![("corpid", corp.corp_id.clone())]).await, 41004);
    let unknown = vec![
        ("corpid", "ww0000000000000bad".to_owned()),
        ("corpsecret", corp.secret.clone()),
    ];
    assert_wecom_error(&err(unknown).await, 40013);
    let wrong = vec![
        ("corpid", corp.corp_id.clone()),
        ("corpsecret", "nope".to_owned()),
    ];
    assert_wecom_error(&err(wrong).await, 40001);
    let foreign = vec![
        ("corpid", corp.corp_id.clone()),
        ("corpsecret", "other-corp-secret".to_owned()),
    ];
    assert_wecom_error(&err(foreign).await, 40091);

    // Tokens: missing 41001, unknown 40014, expired after 7200 s 42001.
    let info = format!("{}/cgi-bin/auth/getuserinfo", mock.api_base());
    assert_wecom_error(&get_json(info.clone(), &[("code", "x")]).await, 41001);
    assert_wecom_error(&userinfo(&mock, "nope", "x").await, 40014);
    let tok = ok["access_token"].as_str().unwrap();
    assert_wecom_error(&userinfo(&mock, tok, "x").await, 40029);
    assert_wecom_error(&get_json(info, &[("access_token", tok)]).await, 41008);
    mock.advance(Duration::from_secs(7201));
    assert_wecom_error(&userinfo(&mock, tok, "x").await, 42001);
}

#[tokio::test]
async fn codes_expire_after_five_minutes_and_belong_to_their_corp() {
    let other = MockWecomCorp::new("ww7000000000000007", "1000002", "other-corp-secret")
        .with_member(MockWecomMember::new("alice", "alice7"));
    let mock = MockWechat::start_with(MockConfig::default().add_wecom_corp(other.clone()))
        .await
        .unwrap();
    let corp = mock.wecom_corp().clone();
    let login = sso_url(&mock, &corp, CALLBACK, "s");
    let tok = token(&mock, &corp).await;

    let code = code_for(&login, "alice").await;
    mock.advance(Duration::from_secs(299));
    assert_eq!(userinfo(&mock, &tok, &code).await["userid"], "LiAiLi");

    let code = code_for(&login, "alice").await;
    mock.advance(Duration::from_secs(301));
    let tok = token(&mock, &corp).await;
    assert_wecom_error(&userinfo(&mock, &tok, &code).await, 40029);

    // Another corp's token cannot redeem this corp's code (and the code survives it).
    let code = code_for(&login, "alice").await;
    let other_tok = token(&mock, &other).await;
    assert_wecom_error(&userinfo(&mock, &other_tok, &code).await, 40029);
    assert_eq!(userinfo(&mock, &tok, &code).await["userid"], "LiAiLi");
    // Alice is a member of both corps, under each corp's UserID.
    let other_login = sso_url(&mock, &other, CALLBACK, "s");
    let code = code_for(&other_login, "alice").await;
    assert_eq!(userinfo(&mock, &other_tok, &code).await["userid"], "alice7");
    let code = code_for(&other_login, "bob").await;
    let bob = userinfo(&mock, &other_tok, &code).await;
    assert_eq!(
        bob["openid"],
        other.openid_for(&mock.user("bob").unwrap()).as_str()
    );
    assert_ne!(
        bob["openid"],
        corp.openid_for(&mock.user("bob").unwrap()).as_str()
    );
}

#[tokio::test]
async fn in_app_privateinfo_gives_a_user_ticket_and_getuserdetail_the_fields() {
    let mock = MockWechat::start().await.unwrap();
    let corp = mock.wecom_corp().clone();
    let tok = token(&mock, &corp).await;
    let url = in_app_url(
        &mock,
        &corp,
        "snsapi_privateinfo",
        Some("1000002"),
        "abc123",
    );

    let page = http().get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("企业微信授权"), "{html}");

    let code = code_for(&url, "alice").await;
    let info = userinfo(&mock, &tok, &code).await;
    assert_eq!(info["errcode"], 0);
    assert_eq!(info["userid"], "LiAiLi");
    let ticket = info["user_ticket"].as_str().unwrap().to_owned();

    let detail = userdetail(&mock, &tok, &json!({"user_ticket": ticket})).await;
    let alice = mock.user("alice").unwrap();
    assert_eq!(detail["errcode"], 0);
    assert_eq!(detail["errmsg"], "ok");
    assert_eq!(detail["userid"], "LiAiLi");
    assert_eq!(detail["gender"], "2", "gender is a string");
    assert_eq!(detail["mobile"], alice.phone.as_str());
    assert_eq!(detail["avatar"], alice.headimgurl.as_str());
    assert!(
        detail["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=")
    );
    assert!(
        detail["biz_mail"]
            .as_str()
            .unwrap()
            .ends_with(".wecom.work")
    );

    // A non-member gets an openid and no ticket, even with privateinfo.
    let code = code_for(&url, "carol").await;
    let info = userinfo(&mock, &tok, &code).await;
    assert!(
        info.get("user_ticket").is_none() && info["openid"].is_string(),
        "{info}"
    );

    // snsapi_base, and privateinfo without an agentid (treated as base): no ticket.
    for url in [
        in_app_url(&mock, &corp, "snsapi_base", Some("1000002"), "s"),
        in_app_url(&mock, &corp, "snsapi_privateinfo", None, "s"),
    ] {
        let code = code_for(&url, "bob").await;
        let info = userinfo(&mock, &tok, &code).await;
        assert_eq!(
            info,
            json!({"errcode": 0, "errmsg": "ok", "userid": "BobZhang"})
        );
    }

    // Tickets: bad body 47001, unknown 40003, expired after 1800 s 40003.
    let resp = http()
        .post(format!("{}/cgi-bin/auth/getuserdetail", mock.api_base()))
        .query(&[("access_token", tok.as_str())])
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_wecom_error(&resp.json().await.unwrap(), 47001);
    assert_wecom_error(
        &userdetail(&mock, &tok, &json!({"user_ticket": "nope"})).await,
        40003,
    );
    assert_wecom_error(&userdetail(&mock, &tok, &json!({})).await, 40003);
    mock.advance(Duration::from_secs(1801));
    let tok = token(&mock, &corp).await;
    assert_wecom_error(
        &userdetail(&mock, &tok, &json!({"user_ticket": ticket})).await,
        40003,
    );
    let resp = http()
        .get(format!("{}/cgi-bin/auth/getuserdetail", mock.api_base()))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_wecom_error(&v, 43002);
}

#[tokio::test]
async fn the_in_app_page_checks_scope_state_agent_and_trusted_domain() {
    let mock = MockWechat::start().await.unwrap();
    let corp = mock.wecom_corp().clone();
    let url = in_app_url(&mock, &corp, "snsapi_base", Some("1000002"), "s");
    error_page(&url.replace("snsapi_base", "snsapi_login"), "scope").await;
    error_page(&url.replace("state=s", "state=a-b"), "state").await;
    error_page(&url.replace("agentid=1000002", "agentid=42"), "40056").await;
    error_page(
        &url.replace("response_type=code", "response_type=token"),
        "response_type",
    )
    .await;
    mock.set_wecom_trusted_domains(&corp.corp_id, vec!["app.example.com".into()])
        .unwrap();
    error_page(&MockWechat::approve_url(&url, "alice"), "50001").await;

    // The Official Account page still answers for an OA appid (parameter order and all).
    let oa = mock.official_account().appid.clone();
    let oa_url = format!(
        "{}/connect/oauth2/authorize?appid={oa}&redirect_uri={}&response_type=code&scope=snsapi_base&state=s#wechat_redirect",
        mock.url(),
        url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
    );
    code_for(&oa_url, "alice").await;
}

#[tokio::test]
async fn a_code_of_another_agent_needs_the_callback_on_this_apps_trusted_domain() {
    let second = MockWecomCorp::new("ww6000000000000006", "1000003", "second-agent-secret")
        .with_member(MockWecomMember::new("alice", "LiAiLi"))
        .with_trusted_domains(["other.example"]);
    let mock = MockWechat::start_with(MockConfig::default().add_wecom_corp(second.clone()))
        .await
        .unwrap();
    let corp = mock.wecom_corp().clone();
    let code = code_for(&sso_url(&mock, &corp, CALLBACK, "s"), "alice").await;
    let second_tok = token(&mock, &second).await;
    assert_wecom_error(&userinfo(&mock, &second_tok, &code).await, 50001);

    // The second agent's own page, with its own trusted domain.
    let login = sso_url(&mock, &second, "https://other.example/cb", "s");
    let resp = http()
        .get(MockWechat::approve_url(&login, "alice"))
        .send()
        .await
        .unwrap();
    let to = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = to
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        userinfo(&mock, &second_tok, &code).await["userid"],
        "LiAiLi"
    );
}

#[tokio::test]
async fn faults_and_call_counts_cover_the_wecom_endpoints() {
    let mock = MockWechat::start().await.unwrap();
    let corp = mock.wecom_corp().clone();
    let resp = http()
        .post(format!("{}/mock/faults", mock.url()))
        .json(&json!({"endpoint": "cgi-bin/gettoken", "errcode": 45009, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v = get_json(
        format!("{}/cgi-bin/gettoken", mock.api_base()),
        &[("corpid", &corp.corp_id), ("corpsecret", &corp.secret)],
    )
    .await;
    assert_wecom_error(&v, 45009);
    let tok = token(&mock, &corp).await;

    let login = sso_url(&mock, &corp, CALLBACK, "s");
    mock.inject("wwlogin/sso/login", wechat_auth_mock::Fault::Errcode(-1), 1);
    error_page(&MockWechat::approve_url(&login, "alice"), "-1").await;
    let code = code_for(&login, "alice").await;
    mock.inject(
        "cgi-bin/auth/getuserinfo",
        wechat_auth_mock::Fault::HttpStatus(502),
        1,
    );
    let resp = http()
        .get(format!("{}/cgi-bin/auth/getuserinfo", mock.api_base()))
        .query(&[("access_token", tok.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(userinfo(&mock, &tok, &code).await["userid"], "LiAiLi");

    assert_eq!(mock.calls("cgi-bin/gettoken"), 2);
    assert_eq!(mock.calls("wwlogin/sso/login"), 2);
    assert_eq!(mock.calls("cgi-bin/auth/getuserinfo"), 2);
    let per_corp: Value = http()
        .get(format!("{}/mock/calls?appid={}", mock.url(), corp.corp_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        per_corp,
        json!({"cgi-bin/auth/getuserinfo": 2, "cgi-bin/gettoken": 2, "wwlogin/sso/login": 2})
    );
}

#[tokio::test]
async fn bad_wecom_configs_are_refused() {
    let unknown_member = MockConfig::default().with_wecom_corp(
        MockWecomCorp::default_corp().with_member(MockWecomMember::new("nobody", "x")),
    );
    assert!(MockWechat::start_with(unknown_member).await.is_err());
    let dup_agent = MockConfig::default().add_wecom_corp(MockWecomCorp::default_corp());
    assert!(MockWechat::start_with(dup_agent).await.is_err());
    let clash =
        MockConfig::default().add_wecom_corp(MockWecomCorp::new("wx1000000000000001", "1", "s"));
    assert!(MockWechat::start_with(clash).await.is_err());
    let bad_agent = MockConfig::default().with_wecom_corp(MockWecomCorp::new("ww1", "abc", "s"));
    assert!(MockWechat::start_with(bad_agent).await.is_err());
    let dup_user_id = MockConfig::default().with_wecom_corp(
        MockWecomCorp::default_corp().with_member(MockWecomMember::new("carol", "LiAiLi")),
    );
    assert!(MockWechat::start_with(dup_user_id).await.is_err());
}
