//! User-level endpoints (`sns/*`): code exchange, refresh, userinfo, token check and the
//! mini program's `jscode2session` (protocol §3, §8).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::clock::after;
use super::config::{AppKind, MockApp};
use super::errors::{WxError, json};
use super::ids;
use super::params::Params;
use super::state::{ACCESS_TOKEN_TTL, CodeKind, RefreshRecord, Shared, UserToken};

/// Calls to `jscode2session` allowed per user per minute before 45011.
pub(crate) const JS_MINUTE_QUOTA: usize = 100;

type Answer = Result<Value, WxError>;

fn respond(answer: Answer) -> Response {
    match answer {
        Ok(v) => json(&v),
        Err(e) => e.into_response(),
    }
}

/// Looks `appid` up and checks `secret`: 40013 unknown appid, 40125 wrong secret.
pub(crate) fn app_with_secret<'a>(
    s: &'a Shared,
    appid: &str,
    secret: &str,
) -> Result<&'a MockApp, WxError> {
    let app = s.app(appid).ok_or(WxError::new(40013))?;
    if app.secret != secret {
        return Err(WxError::new(40125));
    }
    Ok(app)
}

/// `GET /sns/oauth2/access_token`
pub(crate) async fn access_token(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    respond(exchange(&s, &Params::parse(q.as_deref())))
}

fn exchange(s: &Shared, p: &Params) -> Answer {
    let appid = p.get("appid").ok_or(WxError::new(41002))?;
    let secret = p.get("secret").ok_or(WxError::new(41004))?;
    let code = p.get("code").ok_or(WxError::new(41008))?;
    if p.get("grant_type") != Some("authorization_code") {
        return Err(WxError::new(40002));
    }
    let app = app_with_secret(s, appid, secret)?;
    // An unverified subscription account has no web authorization at all (protocol §25).
    if app.kind == AppKind::OfficialAccount && !app.verified {
        return Err(WxError::new(48001));
    }
    let now = s.now();
    let mut inner = s.lock();
    let record = inner
        .codes
        .get_mut(code)
        .filter(|r| r.appid == app.appid && r.kind == CodeKind::OAuth)
        .ok_or(WxError::new(40029))?;
    if record.used {
        return Err(WxError::new(40163));
    }
    if record.expires_at <= now {
        return Err(WxError::new(42003));
    }
    record.used = true;
    let record = record.clone();

    let access_token = ids::access_token();
    let refresh_token = ids::refresh_token();
    inner.user_tokens.insert(
        access_token.clone(),
        UserToken {
            scope: record.scope.clone(),
            ident: record.ident.clone(),
            expires_at: after(now, ACCESS_TOKEN_TTL),
        },
        now,
    );
    inner.refresh_tokens.insert(
        refresh_token.clone(),
        RefreshRecord {
            appid: app.appid.clone(),
            scope: record.scope.clone(),
            ident: record.ident.clone(),
            access_token: access_token.clone(),
            expires_at: after(now, s.refresh_ttl),
        },
        now,
    );
    drop(inner);

    let mut body = json!({
        "access_token": access_token,
        "expires_in": ACCESS_TOKEN_TTL.as_secs(),
        "refresh_token": refresh_token,
        "openid": record.ident.openid,
        "scope": record.scope,
    });
    if record.ident.snapshot {
        body["is_snapshotuser"] = json!(1);
    }
    // Since ~2017-12 an snsapi_base exchange no longer carries the unionid.
    if let Some(unionid) = &record.ident.unionid
        && record.scope != "snsapi_base"
    {
        body["unionid"] = json!(unionid);
    }
    Ok(body)
}

/// `GET /sns/oauth2/refresh_token`
pub(crate) async fn refresh_token(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    respond(refresh(&s, &Params::parse(q.as_deref())))
}

fn refresh(s: &Shared, p: &Params) -> Answer {
    let appid = p.get("appid").ok_or(WxError::new(41002))?;
    if p.get("grant_type") != Some("refresh_token") {
        return Err(WxError::new(40002));
    }
    let refresh_token = p.get("refresh_token").ok_or(WxError::new(41003))?;
    let app = s.app(appid).ok_or(WxError::new(40013))?;
    let now = s.now();
    let mut inner = s.lock();
    let record = inner
        .refresh_tokens
        .get(refresh_token)
        .filter(|r| r.appid == app.appid)
        .cloned()
        .ok_or(WxError::new(40030))?;
    if record.expires_at <= now {
        return Err(WxError::new(42002));
    }
    let renewed = match inner.user_tokens.get_mut(&record.access_token) {
        // Still valid: the same token, expiry pushed out.
        Some(t) if t.expires_at > now => {
            t.expires_at = after(now, ACCESS_TOKEN_TTL);
            record.access_token.clone()
        }
        // Expired (or forgotten): a new token.
        _ => {
            inner.user_tokens.remove(&record.access_token);
            let fresh = ids::access_token();
            inner.user_tokens.insert(
                fresh.clone(),
                UserToken {
                    scope: record.scope.clone(),
                    ident: record.ident.clone(),
                    expires_at: after(now, ACCESS_TOKEN_TTL),
                },
                now,
            );
            if let Some(r) = inner.refresh_tokens.get_mut(refresh_token) {
                r.access_token = fresh.clone();
            }
            fresh
        }
    };
    Ok(json!({
        "access_token": renewed,
        "expires_in": ACCESS_TOKEN_TTL.as_secs(),
        "refresh_token": refresh_token,
        "openid": record.ident.openid,
        "scope": record.scope,
    }))
}

/// Resolves a user access token for `sns/userinfo` and `sns/auth`: 41001/41009 missing,
/// 40014 unknown (40001 when it is a global token), 42001 expired, 40003 other openid.
fn user_token(s: &Shared, p: &Params) -> Result<UserToken, WxError> {
    let token = p.get("access_token").ok_or(WxError::new(41001))?;
    let openid = p.get("openid").ok_or(WxError::new(41009))?;
    let now = s.now();
    let inner = s.lock();
    let Some(record) = inner.user_tokens.get(token) else {
        let global = inner.global_tokens.get(token).is_some();
        return Err(WxError::new(if global { 40001 } else { 40014 }));
    };
    if record.expires_at <= now {
        return Err(WxError::new(42001));
    }
    if record.ident.openid != openid {
        return Err(WxError::new(40003));
    }
    Ok(record.clone())
}

/// `GET /sns/userinfo`
pub(crate) async fn userinfo(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    respond(profile(&s, &Params::parse(q.as_deref())))
}

fn profile(s: &Shared, p: &Params) -> Answer {
    let token = user_token(s, p)?;
    if token.scope == "snsapi_base" {
        return Err(WxError::new(48001));
    }
    // `lang` picks the language of country/province/city, which have been "" for everyone
    // since 2021-10; accepted values are zh_CN (default), zh_TW and en.
    let lang = p
        .get("lang")
        .filter(|l| matches!(*l, "zh_CN" | "zh_TW" | "en"))
        .unwrap_or("zh_CN");
    let (nickname, headimgurl) = if token.ident.snapshot {
        // Snapshot pages hand out virtual data only.
        (
            "微信用户".to_owned(),
            format!("{}/mmopen/vi_32/default/132", s.base_url),
        )
    } else {
        match s.user(&token.ident.user) {
            Some(u) => (u.nickname.clone(), u.headimgurl.clone()),
            None => (String::new(), String::new()),
        }
    };
    tracing::debug!(lang, "mock wechat: userinfo");
    let mut body = json!({
        "openid": token.ident.openid,
        "nickname": nickname,
        "sex": 0,
        "province": "",
        "city": "",
        "country": "",
        "headimgurl": headimgurl,
        "privilege": [],
    });
    if let Some(unionid) = &token.ident.unionid {
        body["unionid"] = json!(unionid);
    }
    Ok(body)
}

/// `GET /sns/auth`
pub(crate) async fn auth(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    respond(user_token(&s, &p).map(|_| json!({"errcode": 0, "errmsg": "ok"})))
}

/// `GET /sns/jscode2session`
pub(crate) async fn jscode2session(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> Response {
    respond(code2session(&s, &Params::parse(q.as_deref())))
}

fn code2session(s: &Shared, p: &Params) -> Answer {
    let appid = p.get("appid").ok_or(WxError::new(41002))?;
    let secret = p.get("secret").ok_or(WxError::new(41004))?;
    let js_code = p.get("js_code").ok_or(WxError::new(41008))?;
    if p.get("grant_type") != Some("authorization_code") {
        return Err(WxError::new(40002));
    }
    let app = app_with_secret(s, appid, secret)?;
    if app.kind != AppKind::MiniProgram {
        return Err(WxError::with_detail(
            40013,
            "invalid appid, not a mini program",
        ));
    }
    let now = s.now();
    let mut inner = s.lock();
    let record = inner
        .codes
        .get(js_code)
        .filter(|r| r.appid == app.appid && r.kind == CodeKind::JsCode)
        .cloned()
        .ok_or(WxError::new(40029))?;
    if record.used {
        return Err(WxError::new(40163));
    }
    // The mini program doc knows no 42003: an expired js_code is just invalid.
    if record.expires_at <= now {
        return Err(WxError::new(40029));
    }
    let mark_used = |inner: &mut super::state::Inner| {
        if let Some(r) = inner.codes.get_mut(js_code) {
            r.used = true;
        }
    };
    if inner.blocked.contains(&record.ident.user) {
        mark_used(&mut inner);
        return Err(WxError::new(40226));
    }
    let window = inner
        .js_rate
        .entry((app.appid.clone(), record.ident.user.clone()))
        .or_default();
    let minute_ago = now.checked_sub(Duration::from_secs(60)).unwrap_or(now);
    while window.front().is_some_and(|t| *t <= minute_ago) {
        window.pop_front();
    }
    if window.len() >= JS_MINUTE_QUOTA {
        return Err(WxError::new(45011));
    }
    window.push_back(now);
    mark_used(&mut inner);
    // One valid session_key per user at a time; a new login replaces it, so the previous
    // key now fails wxa/checksession (protocol §17.2).
    let session_key = ids::session_key();
    inner.session_keys.insert(
        (app.appid.clone(), record.ident.openid.clone()),
        session_key.clone(),
    );
    let mut body = json!({
        "openid": record.ident.openid,
        "session_key": session_key,
    });
    if let Some(unionid) = &record.ident.unionid {
        body["unionid"] = json!(unionid);
    }
    Ok(body)
}
