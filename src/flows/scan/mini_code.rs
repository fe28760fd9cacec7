//! The mini program code scan: the code (`wxa/getwxacodeunlimit`) drawn for the browser that
//! started it, and the answer the opened mini program posts.

use super::*;

/// `GET PREFIX/scan/{id}/code.png`: the mini program code of a pending scene, for the
/// browser that started it (anyone else gets the answer an unknown id gets). Made once per
/// scene with the mini program's global token, and kept with the scene.
pub(crate) async fn mini_program_code(
    auth: &Engine,
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
    let bytes = match auth.store().get(&image_key).await? {
        Some(bytes) => bytes,
        None => {
            let cfg = auth.config();
            let mut request = WxaCodeRequest::new(id);
            if let Some(page) = &cfg.mini_code_page {
                request = request.with_page(page.clone());
            }
            if let Some(env) = &cfg.mini_code_env {
                // An unpublished version cannot check that the page exists.
                request = request
                    .with_env_version(env.clone())
                    .with_check_path(env == "release");
            }
            let code = auth
                .with_token(TokenFor::MiniProgram, |token| {
                    let request = request.clone();
                    async move { auth.client().wxa_code_unlimit(&token, &request).await }
                })
                .await?;
            let left = scene.expires_at.saturating_sub(now_unix()).max(1);
            auth.store()
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

/// What the mini program posts once the user answered on its confirm page.
#[derive(Deserialize)]
struct Answer {
    scene: String,
    /// A fresh `wx.login()` code: who answered.
    code: String,
    decision: Decision,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Confirm,
    Cancel,
}

/// `POST PREFIX/miniprogram/scan` `{scene, code, decision}`: the answer of the user who
/// scanned a mini program code. The identity comes only from `jscode2session` with `code`;
/// the scene must be pending and not answered before (once, on every instance); `confirm`
/// lets the waiting browser take its session, `cancel` ends the scan as `refused`.
pub(crate) async fn mini_program_answer(
    auth: &Engine,
    client: Option<std::net::IpAddr>,
    body: bytes::Bytes,
) -> Result<Response<Body>, Failure> {
    let Some(app) = &auth.config().mini_program else {
        return Err(Failure::ChannelOff(
            "mini program (set WECHAT_MINI_APP_ID and _SECRET)",
        ));
    };
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        Failure::BadRequest(
            r#"send JSON like {"scene": "…", "code": "…", "decision": "confirm"}"#.into(),
        )
    })?;
    let (code, _) = crate::flows::app::read_code(&bytes::Bytes::from(
        serde_json::json!({ "code": answer.code }).to_string(),
    ))?;
    let key = scene_key(auth, &answer.scene)
        .filter(|_| valid_id(&answer.scene))
        .ok_or(NOT_FOUND)?;
    let scene = load_scene(auth, &key)
        .await?
        .filter(|s| s.via == Via::MiniProgram)
        .ok_or(NOT_FOUND)?;
    if scene.status != SceneStatus::Pending {
        return Err(Failure::ScanAnswered);
    }
    // Who answered: from WeChat, never from the body.
    let appid = app.appid();
    let outcome = auth
        .exchange_once(appid, &code, client, || async {
            let user = crate::flows::miniprogram::session_user(auth, app, &code).await?;
            Ok(LoginOutcome::Success {
                state: answer.scene.clone(),
                return_to: String::new(),
                user,
                token: None,
            })
        })
        .await?;
    let LoginOutcome::Success { state, user, .. } = outcome.as_ref() else {
        return Err(Failure::CodeUsed);
    };
    if *state != answer.scene {
        return Err(Failure::BadRequest(
            "this code belongs to another login".into(),
        ));
    }
    // One answer per scene, on every instance.
    let claim = key.claim();
    let ttl = auth.config().scan_ttl;
    let Turn::Mine(lease) =
        flight::join(auth.store(), &claim, |_| true, ttl, Duration::ZERO).await?
    else {
        return Err(Failure::ScanAnswered);
    };
    let mut scene = match load_scene(auth, &key).await {
        Ok(Some(s)) if s.status == SceneStatus::Pending => s,
        Ok(_) => {
            let _ = lease.finish(b"ignored".to_vec(), ttl).await;
            return Err(Failure::ScanAnswered);
        }
        Err(e) => {
            let _ = lease.give_up().await;
            return Err(e);
        }
    };
    let mut user = user.clone();
    user.channel = Channel::MiniProgramCode;
    scene.status = match answer.decision {
        Decision::Cancel => SceneStatus::Refused {
            message: "登录已在手机上取消 · The login was cancelled on the phone.".into(),
        },
        Decision::Confirm => match auth.run_on_login(user).await {
            Ok(user) => SceneStatus::Confirmed { user },
            Err(r) => SceneStatus::Refused {
                message: r.message().to_owned(),
            },
        },
    };
    let status = match &scene.status {
        SceneStatus::Confirmed { .. } => "confirmed",
        _ => "refused",
    };
    save_scene(auth, &key, &scene).await?;
    let _ = lease.finish(status.as_bytes().to_vec(), ttl).await;
    tracing::info!(status, "mini program code scan answered");
    Ok(respond::json(
        StatusCode::OK,
        &serde_json::json!({ "status": status }),
    ))
}
