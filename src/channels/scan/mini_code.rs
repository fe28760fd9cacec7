//! The mini program code scan: the code (`wxa/getwxacodeunlimit`) drawn for the browser that
//! started it, and the two steps of the mini program it opens.
//!
//! 1. `POST miniprogram/scan/open {scene, code}`: the mini program says who opened the code
//!    (a `wx.login()` code, exchanged with `jscode2session`). The first user to open it is
//!    bound to the scene; the browser is told `scanned`; the mini program is told who asked
//!    (site, browser, IP, time) and gets a token for that user and that scene.
//! 2. `POST miniprogram/scan {scene, token, decision}`: only with the bound user's token;
//!    `confirm` logs the waiting browser in as that user, `cancel` ends the scan `refused`.
//!
//! Showing the user who asked before they confirm is what stops QRLjacking: a code shown on
//! someone else's page names someone else's browser. The old one-step answer
//! `{scene, code, decision}` logs nobody in.

use super::*;

/// `GET PREFIX/scan/{id}/code.png`: the mini program code of a pending scene, for the
/// browser that started it (anyone else gets the answer an unknown id gets). Made once per
/// scene with the mini program's global token, and kept with the scene.
pub(crate) async fn mini_program_code(
    auth: &Scan,
    req: &Parts,
    id: &str,
) -> Result<Response<Body>, Failure> {
    let key = scene_key(auth, id)
        .filter(|_| valid_id(id))
        .ok_or(NOT_FOUND)?;
    let mine = browser_of(auth, req, id).ok_or(NOT_FOUND)?;
    let scene = load_scene(auth, &key)
        .await?
        .filter(|s| s.browser == mine && s.via == Via::MiniProgram)
        .ok_or(NOT_FOUND)?;
    let image_key = key.claim_image();
    let bytes = match auth.store.get(&image_key).await? {
        Some(bytes) => bytes,
        None => {
            let s = &auth.settings;
            let mut request = WxaCodeRequest::new(id);
            if let Some(page) = &s.mini_code_page {
                request = request.with_page(page.clone());
            }
            if let Some(env) = &s.mini_code_env {
                // An unpublished version cannot check that the page exists.
                request = request
                    .with_env_version(env.clone())
                    .with_check_path(env == "release");
            }
            let code = auth
                .tokens
                .with_token(mini_appid(auth)?, |token| {
                    let request = request.clone();
                    async move { auth.client.wxa_code_unlimit(&token, &request).await }
                })
                .await?;
            let left = scene.expires_at.saturating_sub(now_unix()).max(1);
            auth.store
                .set(&image_key, code.bytes.to_vec(), Duration::from_secs(left))
                .await?;
            code.bytes.to_vec()
        }
    };
    // Sniffed, as WeChat labels every code image/jpeg.
    let content_type = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut res = Response::new(Body::from(bytes));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `POST PREFIX/miniprogram/scan/open` `{scene, code}`: who opened the mini program code.
#[derive(Deserialize)]
struct Open {
    scene: String,
    /// A `wx.login()` code: the identity comes from WeChat, never from the body.
    code: String,
}

/// What the mini program posts once the user answered on its confirm page.
#[derive(Deserialize)]
struct Answer {
    scene: String,
    /// The token `open` gave the user the scene is bound to.
    #[serde(default)]
    token: Option<String>,
    /// Optionally a fresh `wx.login()` code: it must be the bound user's.
    #[serde(default)]
    code: Option<String>,
    decision: Decision,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Confirm,
    Cancel,
}

/// Who a mini program scene is bound to (kept at the scene's claim key, for the scene's
/// life): the user who opened it first, and the digest of the token they were given.
#[derive(Serialize, Deserialize)]
struct Binding {
    user: WechatUser,
    token: String,
}

impl Binding {
    fn is(&self, user: &WechatUser) -> bool {
        self.user.appid == user.appid && self.user.openid == user.openid
    }

    /// Whether `token` is this binding's (compared in constant time).
    fn accepts(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let given = digest(token);
        given.len() == self.token.len() && bool::from(given.as_bytes().ct_eq(self.token.as_bytes()))
    }
}

/// What to send instead of the old one-step answer.
const TWO_STEPS: &str = "mini program code login takes two steps: POST miniprogram/scan/open \
     {\"scene\", \"code\"} (code from wx.login()) answers {requester, token, expires_in}; show \
     the requester, then POST miniprogram/scan {\"scene\", \"token\", \"decision\": \"confirm\" | \
     \"cancel\"}";

/// The mini program's credentials, or the failure that says it is not set up.
fn mini_app(auth: &Scan) -> Result<&AppCredentials, Failure> {
    auth.settings
        .mini_program
        .as_ref()
        .ok_or(Failure::ChannelOff(
            "mini program (set WECHAT_MINI_APP_ID and _SECRET)",
        ))
}

/// A mini program scene, live: its key and what the store has.
async fn mini_scene(auth: &Scan, id: &str) -> Result<(Key, Scene), Failure> {
    let key = scene_key(auth, id)
        .filter(|_| valid_id(id))
        .ok_or(NOT_FOUND)?;
    // A mini program code's scene, or a mini program link's: the same two steps answer both.
    match load_scene(auth, &key)
        .await?
        .filter(|s| matches!(s.via, Via::MiniProgram | Via::Link))
    {
        Some(scene) => Ok((key, scene)),
        // A link's scene that has ended is told apart from one never made.
        None => Err(super::link::ended(auth, id).await),
    }
}

/// The user behind a `wx.login()` code, exchanged once (a repeat of the code gets the same
/// answer) for the login of scene `id`.
async fn code_user(
    auth: &Scan,
    app: &AppCredentials,
    client: Option<std::net::IpAddr>,
    id: &str,
    code: &str,
) -> Result<WechatUser, Failure> {
    let (code, _) = crate::channels::app::read_code(&bytes::Bytes::from(
        serde_json::json!({ "code": code }).to_string(),
    ))?;
    let code = code.as_str();
    let outcome = auth
        .exchanges
        .exchange_once(app.appid(), code, client, |keep| async move {
            let user = crate::providers::wechat::mini::session_user(&auth.client, &keep, app, code)
                .await?;
            Ok(LoginOutcome::Success {
                state: id.to_owned(),
                return_to: String::new(),
                identity: user.into(),
                token: None,
            })
        })
        .await?;
    let LoginOutcome::Success {
        state,
        identity: crate::user::Identity::Wechat(user),
        ..
    } = outcome.as_ref()
    else {
        return Err(crate::channels::app::AppFailure::CodeUsed.into());
    };
    if state != id {
        return Err(Failure::BadRequest(
            "this code belongs to another login".into(),
        ));
    }
    Ok(user.clone())
}

/// The binding of a scene, if it has one.
async fn binding(auth: &Scan, key: &Key) -> Result<Option<Binding>, Failure> {
    Ok(auth
        .store
        .get(&key.claim())
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// `POST PREFIX/miniprogram/scan/open` `{scene, code}`: the user who opened a mini program
/// code. The first to open a pending scene is bound to it (once, on every instance) and the
/// waiting browser is told `scanned`; they (again, with a new code) get
/// `{requester: {site, origin, browser, ip, time}, token, expires_in}`; anyone else gets a
/// `409` that says nothing about who asked.
pub(crate) async fn mini_program_open(
    auth: &Scan,
    client: Option<std::net::IpAddr>,
    body: bytes::Bytes,
) -> Result<Response<Body>, Failure> {
    let app = mini_app(auth)?;
    let open: Open = serde_json::from_slice(&body).map_err(|_| {
        Failure::BadRequest(
            r#"send JSON like {"scene": "…", "code": "…"} (code from wx.login())"#.into(),
        )
    })?;
    let (key, scene) = mini_scene(auth, &open.scene).await?;
    if !matches!(
        scene.status,
        SceneStatus::Pending | SceneStatus::Scanned { .. }
    ) {
        return Err(ScanFailure::Answered.into());
    }
    // Who opened it: from WeChat, never from the body.
    let mut user = code_user(auth, app, client, &open.scene, &open.code).await?;
    user.channel = Channel::MiniProgramCode;
    let left = scene.expires_at.saturating_sub(now_unix()).max(1);
    let life = Duration::from_secs(left);
    let token = random_token(32);
    let bound = Binding {
        user,
        token: digest(&token),
    };
    let value = serde_json::to_vec(&bound).map_err(|_| NOT_FOUND)?;
    let claim = key.claim();
    if auth
        .store
        .set_if_absent(&claim, value.clone(), life)
        .await?
    {
        // The first to open it: the browser is told `scanned`.
        match load_scene(auth, &key).await? {
            Some(mut s) if s.status == SceneStatus::Pending => {
                s.status = SceneStatus::Scanned {
                    openid: bound.user.openid.clone(),
                };
                save_scene(auth, &key, &s).await?;
            }
            Some(s) if matches!(&s.status, SceneStatus::Scanned { openid } if *openid == bound.user.openid) =>
                {}
            // Bound to someone else before (a claim the store lost): not this user's.
            Some(s) if matches!(s.status, SceneStatus::Scanned { .. }) => {
                return Err(ScanFailure::Taken.into());
            }
            Some(_) => return Err(ScanFailure::Answered.into()),
            None => return Err(NOT_FOUND),
        }
        tracing::info!("mini program code opened");
    } else {
        match binding(auth, &key).await? {
            // The same user again (a reload of the page): a new token, the old one void.
            Some(b) if b.is(&bound.user) => auth.store.set(&claim, value, life).await?,
            _ => {
                tracing::info!("mini program code opened by a second user: refused");
                return Err(ScanFailure::Taken.into());
            }
        }
    }
    let s = &auth.settings;
    let site = s.public_host.clone();
    let (browser, ip, time) = match &scene.requester {
        Some(r) => (
            r.browser(),
            r.ip.clone().unwrap_or_else(|| "未知".into()),
            beijing_time(r.at),
        ),
        None => ("未知".to_owned(), "未知".to_owned(), "未知".to_owned()),
    };
    let mut res = respond::json(
        StatusCode::OK,
        &serde_json::json!({
            "requester": {
                "site": site,
                "origin": s.origin,
                "browser": browser,
                "ip": ip,
                "time": time,
            },
            "token": token,
            "expires_in": left,
        }),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `POST PREFIX/miniprogram/scan` `{scene, token, decision[, code]}`: the answer of the user
/// the scene is bound to (by `miniprogram/scan/open`), with the token they were given there;
/// a `code`, when sent, must be theirs too. The scene is answered once, on every instance:
/// `confirm` lets the waiting browser take its session, `cancel` ends the scan as `refused`.
/// An answer without a token (the old one-step `{scene, code, decision}`) logs nobody in.
pub(crate) async fn mini_program_answer(
    auth: &Scan,
    client: Option<std::net::IpAddr>,
    body: bytes::Bytes,
) -> Result<Response<Body>, Failure> {
    let app = mini_app(auth)?;
    let answer: Answer =
        serde_json::from_slice(&body).map_err(|_| Failure::BadRequest(TWO_STEPS.into()))?;
    let Some(token) = answer.token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(Failure::BadRequest(TWO_STEPS.into()));
    };
    let (key, scene) = mini_scene(auth, &answer.scene).await?;
    // Only the bound user's token, for this scene.
    let bound = binding(auth, &key)
        .await?
        .filter(|b| b.accepts(token))
        .ok_or(ScanFailure::NotYourConfirm)?;
    if let Some(code) = &answer.code {
        let again = code_user(auth, app, client, &answer.scene, code).await?;
        if !bound.is(&again) {
            return Err(ScanFailure::NotYourConfirm.into());
        }
    }
    let answerable = |s: &Scene| matches!(&s.status, SceneStatus::Scanned { openid } if *openid == bound.user.openid);
    if !answerable(&scene) {
        return Err(ScanFailure::Answered.into());
    }
    // One answer per scene, on every instance.
    let claim = super::records::scan_confirm_key(app.appid(), &answer.scene);
    let ttl = auth.settings.scan_ttl;
    let Turn::Mine(lease) =
        flight::join(auth.store.as_ref(), &claim, |_| true, ttl, Duration::ZERO).await?
    else {
        return Err(ScanFailure::Answered.into());
    };
    let mut scene = match load_scene(auth, &key).await {
        Ok(Some(s)) if answerable(&s) => s,
        Ok(_) => {
            let _ = lease.finish(b"ignored".to_vec(), ttl).await;
            return Err(ScanFailure::Answered.into());
        }
        Err(e) => {
            let _ = lease.give_up().await;
            return Err(e);
        }
    };
    scene.status = match answer.decision {
        Decision::Cancel => SceneStatus::Refused {
            message: "登录已在手机上取消 · The login was cancelled on the phone.".into(),
        },
        Decision::Confirm => match auth.logins.run_on_login(bound.user.clone().into()).await {
            Ok(id) => {
                let mut user = bound.user;
                user.subject = id.subject().map(str::to_owned);
                SceneStatus::Confirmed { user }
            }
            Err(r) => SceneStatus::Refused {
                message: r.message().to_owned(),
            },
        },
    };
    let status = match &scene.status {
        SceneStatus::Confirmed { .. } => "confirmed",
        _ => "refused",
    };
    if let Err(e) = save_scene(auth, &key, &scene).await {
        let _ = lease.give_up().await;
        return Err(e);
    }
    let _ = lease.finish(status.as_bytes().to_vec(), ttl).await;
    tracing::info!(status, "mini program code scan answered");
    Ok(respond::json(
        StatusCode::OK,
        &serde_json::json!({ "status": status }),
    ))
}
