//! Douyin mini-app login (protocol §29): `POST /api/apps/v2/jscode2session` (JSON `appid`,
//! `secret`, `code` and/or `anonymous_code`) → `{"err_no":0,"err_tips":"success","data":
//! {"session_key","openid","anonymous_openid","unionid"}}`; errors `{"err_no","err_tips",
//! "log_id"}` (HTTP 200): 40014 no JSON object, 40015 appid, 40017 secret, 40018 code, 40019
//! anonymous code.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::douyin_state::{DyCodeKind, DyOwner};
use super::douyin_wire::log_id;
use super::errors::json as json_response;
use super::ids;
use super::state::Shared;

fn tips(code: i64) -> &'static str {
    match code {
        0 => "success",
        -1 => "system error",
        40014 => "bad params",
        40015 => "bad appid",
        40017 => "bad secret",
        40018 => "bad code",
        40019 => "bad anonymous_code",
        _ => "mock injected error",
    }
}

/// A mini-app error: `{"err_no":N,"err_tips":"…","log_id":"…"}`, HTTP 200.
pub(crate) fn mini_error(now: std::time::SystemTime, code: i64) -> Response {
    tracing::debug!(err_no = code, "mock wechat: douyin mini-app error answer");
    json_response(&json!({
        "err_no": code,
        "err_tips": tips(code),
        "log_id": log_id(now),
    }))
}

/// Takes a live, unused code of `kind` minted for mini-app `j`: the user's name.
fn take_code(s: &Shared, code: &str, kind: DyCodeKind, j: usize) -> Option<String> {
    let now = s.now();
    let mut inner = s.lock();
    let c = inner.douyin.codes.get_mut(code)?;
    if c.used || c.expires_at <= now || c.kind != kind || c.owner != DyOwner::Mini(j) {
        return None;
    }
    c.used = true;
    Some(c.user.clone())
}

/// `POST /api/apps/v2/jscode2session`
pub(crate) async fn jscode2session(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let now = s.now();
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(&body) else {
        return mini_error(now, 40014);
    };
    let field = |k: &str| req.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let Some(j) = field("appid").and_then(|a| s.douyin_miniapp(a)) else {
        return mini_error(now, 40015);
    };
    let mini = &s.douyin_miniapps[j];
    if field("secret") != Some(mini.secret.as_str()) {
        return mini_error(now, 40017);
    }
    let (code, anonymous) = (field("code"), field("anonymous_code"));
    let named = match (code, anonymous) {
        (Some(c), _) => match take_code(&s, c, DyCodeKind::Login, j) {
            Some(user) => Some(user),
            None => return mini_error(now, 40018),
        },
        (None, Some(_)) => None,
        (None, None) => return mini_error(now, 40018),
    };
    let anon_user = match anonymous {
        Some(a) => match take_code(&s, a, DyCodeKind::Anonymous, j) {
            Some(user) => Some(user),
            // With a good `code` a bad anonymous code is ignored; alone it is 40019.
            None if named.is_some() => None,
            None => return mini_error(now, 40019),
        },
        None => None,
    };
    let user = |name: &Option<String>| name.as_deref().and_then(|n| s.user(n));
    let (openid, unionid) = user(&named).map_or((String::new(), String::new()), |u| {
        (u.douyin_open_id_for(&mini.appid), u.douyin_union_id())
    });
    let anonymous_openid = user(&anon_user)
        .map(|u| u.douyin_anonymous_openid_for(&mini.appid))
        .unwrap_or_default();
    json_response(&json!({
        "err_no": 0,
        "err_tips": tips(0),
        "data": {
            "session_key": ids::session_key(),
            "openid": openid,
            "anonymous_openid": anonymous_openid,
            "unionid": unionid,
        },
    }))
}

/// A wrong HTTP method on `jscode2session`: the mini-app error shape, 40014.
pub(crate) async fn wrong_method(State(s): State<Arc<Shared>>) -> Response {
    mini_error(s.now(), 40014)
}
