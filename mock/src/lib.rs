//! A faithful WeChat server on loopback, for tests, demos and downstream apps' own tests.
//!
//! [`MockWechat::start`] binds `127.0.0.1:0` and serves, from one origin, the browser pages of
//! `open.weixin.qq.com`, the APIs of `api.weixin.qq.com` and the QR image of
//! `mp.weixin.qq.com`. It enforces what WeChat enforces — codes single-use, short-lived and
//! bound to their appid and scope; redirect domains; `state` and parameter-order rules; token
//! lifetimes and overlaps — and answers errors the way WeChat does (HTTP 200 with
//! `{"errcode":N,"errmsg":"…, rid: …"}`). Tests get simulated users, call counters, fault
//! injection and a clock they can move forward.
//!
//! The crate does not depend on the `wechat-auth` layer (which re-exports it as
//! `wechat_auth::mock`): its push signing, AES safe mode, XML and HTML escaping are its own
//! ([`wire`]), checked against the protocol's vectors, so a mistake made twice cannot hide.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wechat_auth_mock::MockWechat;
//!
//! let mock = MockWechat::start().await?;
//! let site = mock.website();
//! let http = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()?;
//!
//! // The browser opens WeChat's QR login page; `MockWechat::approve_url` adds
//! // `mock_user=alice&mock_action=approve`, so the mock answers the 302 a scan would.
//! let login = format!(
//!     "{}/connect/qrconnect?appid={}&redirect_uri={}&response_type=code&scope=snsapi_login&state=s1#wechat_redirect",
//!     mock.open_base(),
//!     site.appid,
//!     "http%3A%2F%2F127.0.0.1%3A3000%2Fauth%2Fwechat%2Fcallback",
//! );
//! let resp = http.get(MockWechat::approve_url(&login, "alice")).send().await?;
//! assert_eq!(resp.status(), 302);
//! let back = url::Url::parse(resp.headers()["location"].to_str()?)?;
//! assert_eq!(back.path(), "/auth/wechat/callback");
//! let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
//!
//! // The app's server exchanges the code, as it would with api.weixin.qq.com.
//! let exchange = format!("{}/sns/oauth2/access_token", mock.api_base());
//! let query = [
//!     ("appid", site.appid.as_str()),
//!     ("secret", site.secret.as_str()),
//!     ("code", code.as_str()),
//!     ("grant_type", "authorization_code"),
//! ];
//! let token: serde_json::Value = http.get(&exchange).query(&query).send().await?.json().await?;
//! let alice = mock.user("alice").unwrap();
//! assert_eq!(token["openid"], alice.openid_for(&site.appid));
//! assert_eq!(token["unionid"], alice.unionid);
//!
//! // A code works once: the second exchange is WeChat's 40163.
//! let again: serde_json::Value = http.get(&exchange).query(&query).send().await?.json().await?;
//! assert_eq!(again["errcode"], 40163);
//! assert_eq!(mock.calls("sns/oauth2/access_token"), 2);
//! # Ok(()) }
//! ```
//!
//! # What it serves
//!
//! | Path | Behaves as |
//! |---|---|
//! | `GET /connect/qrconnect` | website QR login page (website appids, `snsapi_login`); with `login_type=jssdk` (wxLogin.js's iframe) a frameable page whose links move the top window, or with `self_redirect=true` only the frame |
//! | `GET /connect/oauth2/authorize` | Official Account web authorization (`snsapi_base` / `snsapi_userinfo`; parameter order enforced; Open Platform appid → 10016) |
//! | `GET /sns/oauth2/access_token`, `/sns/oauth2/refresh_token`, `/sns/userinfo`, `/sns/auth` | user-level OAuth |
//! | `GET /sns/jscode2session` | mini program login (45011 after 100 calls per user per minute, 40226 for blocked users; each login replaces the user's `session_key`) |
//! | `GET /cgi-bin/token`, `POST /cgi-bin/stable_token` | global access tokens (old `cgi-bin/token` tokens live 5 more minutes; `stable_token` is stable unless forced; the two are isolated) |
//! | `POST /cgi-bin/qrcode/create`, `GET /cgi-bin/showqrcode` | parametric QR codes and their image |
//! | `GET /cgi-bin/user/info` | follower info (nickname and avatar empty since 2021-12) |
//! | `POST /wxa/business/getuserphonenumber` | the phone number behind a `getPhoneNumber` button code (mini program token only: another app's token → 40013; codes single-use, 5 minutes → 40029; `countryCode` the string `"86"`, the number [`MockUser::phone`]) |
//! | `GET /wxa/checksession` | checks `signature` = `hmac_sha256(session_key, "")`, keyed with the key's Base64 text, against the user's current key (the last `jscode2session`'s) → 87009; `sig_method` other than `hmac_sha256` → 87008 |
//! | `POST /wxa/getwxacodeunlimit` | a mini program code (mini program token only, else 48001): a PNG of a QR code encoding `https://mock.weixin.qq.com/mp/scene?appid=…&scene=…&page=…`, labelled `image/jpeg` as WeChat does; scene empty or over 32 characters → 40169, other characters than `[0-9A-Za-z!#$&'()*+,/:;=?@-._~]` → 40129; `page` with a leading `/` or a `?` → 41030; bad `env_version` → 40097; errors as JSON with HTTP 200 |
//! | `POST /wxa/generate_urllink` | a mini program URL Link (mini program token only, else 48001): `{"errcode":0,"errmsg":"ok","url_link":"http://127.0.0.1:PORT/mock/urllink/TICKET"}` — on the mock's own host, standing for `https://wxaurl.cn/TICKET`; `query` over 1024 characters or outside `[0-9A-Za-z!#$&'()*+,/:;=?@-._~%]` → 40212; `path` with a leading `/` or a `?`, or (when [`MockApp::pages`] is set) not one of the pages → 40165; bad `env_version` → 40097; `expire_type` 0 with `expire_time` in the past or more than 30 days ahead, or 1 with `expire_interval` outside 1..=30 days → 40097; no expiry given: 30 days. The link expires on the mock clock |
//! | `POST /wxa/generatescheme` | a mini program URL Scheme, `{"jump_wxa":{path,query,env_version}, "is_expire", "expire_type", "expire_time" \| "expire_interval"}` → `{"errcode":0,"errmsg":"ok","openlink":"weixin://dl/business/?t=TICKET"}`, with the same checks (without `is_expire`: 30 days) |
//! | `GET /mock/urllink/{ticket}` | what a phone browser shows for a URL Link: the page and query it opens and the phone page's open-link form; 404 when unknown or expired |
//! | `GET /mmopen/vi_32/{key}/{size}` | avatars, so that `headimgurl` works offline |
//! | `GET /wwlogin/sso/login` | WeCom (企业微信) web login, `login_type=CorpApp&appid=CORPID&agentid=…&redirect_uri=…&state=…`: a page with one button per user (members by UserID, others as non-members); `mock_user`/`mock_action=approve\|deny` answer the 302 at once (`code` + `state`, or `state` only). Unknown corp → error page 40013, no or wrong `agentid` → 40056, `redirect_uri` off the app's trusted domains → 50001 (`x-mock-error`) |
//! | `GET /connect/oauth2/authorize?appid=CORPID…` | WeCom in-app OAuth (protocol §20.3) when `appid` is a corp id: `scope=snsapi_base\|snsapi_privateinfo` (privateinfo without `agentid` counts as base), same buttons and checks, `state` as `[A-Za-z0-9]{0,128}` |
//! | `GET /cgi-bin/gettoken` | WeCom `corpid` + `corpsecret` → `{"errcode":0,"errmsg":"ok","access_token","expires_in":7200}`; 41002 / 41004 missing, 40013 unknown corp, 40001 wrong secret, 40091 another corp's secret |
//! | `GET /cgi-bin/auth/getuserinfo` | WeCom code → member `{"errcode":0,"errmsg":"ok","userid"}` (+ `user_ticket`, 1800 s, for in-app `snsapi_privateinfo`), non-member `{"errcode":0,"errmsg":"ok","openid"}`; codes single use, 5 minutes, bound to their corp → 40029; a code of another agent of the corp whose callback is not on this app's trusted domains → 50001; token 41001 / 40014 / 42001 |
//! | `POST /cgi-bin/service/get_suite_token` | WeCom suite `{"suite_id","suite_secret","suite_ticket"}` → `{"errcode":0,"errmsg":"ok","suite_access_token","expires_in":7200}`; only the newest pushed ticket, 30 minutes, counts (40085); 40083 unknown suite, 40080 wrong secret, 41021 / 41024 / 41023 missing id / secret / ticket, 47001 no JSON object |
//! | `GET /cgi-bin/service/auth/getuserinfo3rd` | a code of the suite's pages (`login_type=ServiceApp&appid=SUITE_ID`, or the in-app page with the suite id) → a member of a corp that authorized the suite `{"errcode":0,"errmsg":"ok","corpid","userid","open_userid"}` (+ `user_ticket`, `expires_in` 7200 for in-app `snsapi_privateinfo`); someone in no corp `{"errcode":0,"errmsg":"ok","openid"}`; a member of a corp that did not authorize it 41030; token 41022 / 40082 / 42009, code 40029 |
//! | `POST /cgi-bin/service/auth/getuserdetail3rd` | `{"user_ticket"}` → `corpid`, `userid`, `name` (= userid), `gender`, `avatar`, `qr_code` (no mobile or e-mail) |
//! | `POST /cgi-bin/auth/getuserdetail` | WeCom `{"user_ticket"}` → `userid`, `gender` (a string), `avatar`, `qr_code`, `mobile`, `email`, `biz_mail`, `address`; a bad body → 47001, a missing, unknown or expired ticket → 40003 (unverified code) |
//! | `GET /platform/oauth/connect/` | Douyin (抖音) authorization (protocol §29), `client_key=…&response_type=code&scope=user_info&redirect_uri=…&state=…`: a page with one button per user; `mock_user`/`mock_action=approve\|deny` answer the 302 at once — `redirect_uri?code=…&state=…&scopes=SCOPE`, or on refusal `redirect_uri?state=…` without `code`. Unknown `client_key`, `response_type` other than `code`, `scope` without `user_info`, a `redirect_uri` with a query of its own (`x-mock-error: redirect_query`) or off the app's callback domains (`redirect_domain`) → an error page. Codes: single use, 10 minutes, bound to the client key |
//! | `POST /oauth/access_token/` | Douyin: form (or JSON) `client_key, client_secret, code, grant_type=authorization_code` → `{"data":{"access_token":"act.…","captcha":"","desc_url":"","description":"","error_code":0,"expires_in":1296000,"log_id","open_id","refresh_expires_in":2592000,"refresh_token":"rft.…","scope"},"message":"success"}`; 10003 unknown client key, 10013 wrong secret, 2100005 missing parameter or a used, expired, unknown or other app's code |
//! | `POST /oauth/refresh_token/` | Douyin: `client_key, grant_type=refresh_token, refresh_token` → a new 15-day access token (same `data` shape; the refresh token and its expiry stay); 10010 expired refresh token |
//! | `POST /oauth/renew_refresh_token/` | Douyin: `client_key, refresh_token` → `{"data":{"description","error_code":0,"expires_in":2592000,"refresh_token"},"message":"success"}`, replacing the old one; at most 5 renewals per chain, then 10020 |
//! | `POST /oauth/client_token/` | Douyin: JSON (or form) `client_key, client_secret, grant_type=client_credential` → `clt.…`, 7200 s; a new one kills the previous 5 minutes later; more than 500 calls in 5 minutes → 10020; 10002 / 10003 / 10013 |
//! | `POST /oauth/userinfo/` | Douyin: header `access-token` and/or field `access_token`, field `open_id` → `{"data":{"avatar","nickname","open_id","union_id","error_code":0,"description":""},"message":"success"}` (never `uid`, `short_id`, `unique_id`); 28001007 missing or unknown token, 28001008 expired (15 days), 28001015 `open_id` of someone else |
//! | `POST /api/apps/v2/jscode2session` | Douyin mini-app: JSON `appid, secret, code` and/or `anonymous_code` (from `tt.login()`, [`MockWechat::sdk_code`], [`MockWechat::douyin_anonymous_code`]) → `{"err_no":0,"err_tips":"success","data":{"session_key","openid","anonymous_openid","unionid"}}`; errors `{"err_no","err_tips","log_id"}`: 40014 no JSON object, 40015 appid, 40017 secret, 40018 code (single use, 5 minutes), 40019 anonymous code |
//!
//! Douyin errors of `oauth/*` have Douyin's shape: HTTP 200,
//! `{"data":{"description":"…","error_code":N},"extra":{"logid":"…","now":MILLIS}}`. Every code
//! of protocol §29 (10008, 10010, 10020, 2100005, 2190008, 28001005/07/08/12/15/16, 28003018, …)
//! can be injected with [`MockWechat::inject`] / `POST /mock/faults`, in the endpoint's shape.
//! [`MockWechat::set_douyin_legacy_shapes`] switches successes to the older samples' shapes
//! (`"error_code":"0"`, lifetimes as strings, `userinfo` with `gender`/`city`/…).
//!
//! A wrong HTTP method gets 43001 `require GET method` / 43002 `require POST method` (Douyin's
//! APIs: 2100005, or 40014 for the mini-app).
//!
//! ## The pages
//!
//! Without `mock_user`, the two pages show an HTML page with one "approve as NAME" link per
//! user, a "deny" link, and (OA `snsapi_userinfo`) a "snapshot" link per user. The links are
//! the same URL plus `mock_user=NAME&mock_action=approve|deny|snapshot`; with those
//! parameters the page answers the `302` at once:
//!
//! - `approve` → `redirect_uri?code=CODE&state=STATE` (`&code=…` when `redirect_uri` already
//!   has a query). Codes are 32 alphanumeric characters, single use, bound to the appid,
//!   scope and user; OA codes live 5 minutes, website and app codes 10, js_codes 5.
//! - `deny` → `redirect_uri?state=STATE` without `code`. For the website page this is
//!   configurable ([`MockConfig::website_deny_redirects`]): WeChat's current text says a
//!   refusal redirects nowhere.
//! - `snapshot` (OA `snsapi_userinfo` only) → a code whose exchange carries
//!   `"is_snapshotuser": 1` and virtual (random) openid and unionid.
//!
//! Errors are WeChat's HTML error pages (HTTP 200): unknown appid; 10016 for an Open
//! Platform appid on the OA page; 10005 for an unverified subscription account; 10003 / `redirect_uri 参数错误` when the `redirect_uri`
//! host (compared without port) is not an allowed domain; `Scope 参数错误或没有 Scope 权限`;
//! a `state` outside `[A-Za-z0-9]{0,128}`; on the OA page, parameters out of the order
//! `appid, redirect_uri, response_type, scope, state`. The mock adds an `x-mock-error`
//! header naming the reason (`10003`, `param_order`, `state`, …) so tests need not parse
//! HTML. Browsers never send the `#wechat_redirect` fragment, so the mock cannot require it.
//!
//! # Control API
//!
//! Scripts in any language drive the mock over HTTP (JSON in, JSON out, 400
//! `{"error":"…"}` on misuse):
//!
//! | Method, path | Does |
//! |---|---|
//! | `GET /mock/config` | apps (`kind`, `appid`, `secret`, `bound`, `redirect_domains`; OA also `token`, `encoding_aes_key`, `original_id`, `push_url`, `verified`; mini programs `pages`) and users (`name`, `nickname`, `headimgurl`, `unionid`, `phone`, `openids` by appid, `subscribed`, `blocked`) |
//! | `POST /mock/sdk/code` | `{"appid","user"}` → `{"code"}`: a mobile SDK code or a mini program js_code; for a Douyin client key the OpenSDK's code (scope `user_info`), for a Douyin mini-app `{"code","anonymous_code"}` as `tt.login()` |
//! | `POST /mock/sdk/phone_code` | `{"appid","user"}` → `{"code"}`: what `<button open-type="getPhoneNumber">` hands the page (mini program appids only) |
//! | `POST /mock/miniprogram/open` | `{"scene","user"}` → `{"scene","code"}`: the user scans a mini program code and the primary mini program opens with that scene; `code` is a fresh `wx.login()` js_code of that user. `{"url_link","user"}` (a URL Link or a `weixin://` URL Scheme the mock made) → `{"appid","scene","code","query","path","env_version","scene_id"}`: the user opens the link in WeChat and its mini program starts on the link's page; `scene` is the value of `scene=` in the link's query (`null` without one), `scene_id` 1194 (URL Link) or 1065 (URL Scheme); an unknown or expired link → 404 `{"error"}` ([`MockWechat::open_url_link`]) |
//! | `GET /mock/calls`, `DELETE /mock/calls` | call counts per endpoint (`?appid=APPID`: the calls made for that app, [`MockWechat::app_calls`]); reset |
//! | `POST /mock/faults`, `DELETE /mock/faults` | `{"endpoint", "errcode"? \| "http_status"? \| "delay_ms"? \| "text_plain"?, "times"?}`; clear |
//! | `GET /mock/clock`, `POST /mock/clock` | `{"now"}`; `{"advance_secs": N}` |
//! | `POST /mock/follow` | `{"user","subscribed","appid"?}` |
//! | `POST /mock/push_url` | `{"push_url" (or "url"): URL \| null, "appid"?}`: where an Official Account's pushes go (default: the primary one), or a WeCom suite's command callback (`appid` = the suite id) |
//! | `POST /mock/push_format` | `{"format": "xml" \| "json", "mode": "plain" \| "compatible" \| "safe", "appid"?}`: how an Official Account's pushes go out |
//! | `POST /mock/message` | `{"user", "text", "appid"?}`: the user sends an Official Account (default: the primary one) a text message; answers the delivery report with `reply` (the passive reply as the user sees it, decrypted), `deliveries`, `acknowledged` |
//! | `POST /mock/phone/message` | form `user`, `text`, `appid`?: as `POST /mock/message`, then 303 back to the phone page |
//! | `POST /mock/miniprogram_server` | `{"url": URL \| null, "appid"?}`: where the mini program (default: the primary one) sends its requests, the site's origin (e.g. `http://127.0.0.1:3000`); answers `{"appid","url"}` |
//! | `GET /mock/phone` | a phone page for people: the live parametric QR codes (scan as USER) and the last mini program codes drawn by `wxa/getwxacodeunlimit`, newest first (确认 / 取消 as USER), and each user's chat with each Official Account (section `#chat-APPID`, form `#chat-form-APPID-USER` with field `#chat-text-APPID-USER` and button `#chat-send-APPID-USER`) |
//! | `POST /mock/phone/link` | form `url_link`, `user`, `decision` (`confirm` \| `cancel`; `confirm` when absent) — the phone page's form `#open-link-form` (`#open-link-url`, `#open-link-user`, buttons `#open-link-confirm` / `#open-link-cancel`, the newest live link filled in): the user opens the link (as `POST /mock/miniprogram/open`) and its mini program answers its server with the link's `scene=` in the same two steps as `POST /mock/phone/miniprogram`; 303 back to the phone page with the outcome |
//! | `POST /mock/phone/scan` | form `ticket`, `user`: as `POST /mock/scan`, then 303 back to the phone page with the outcome |
//! | `POST /mock/phone/miniprogram` | form `scene`, `user`, `decision` (`confirm` \| `cancel`), `appid`?: the mini program opens with the scene (as `POST /mock/miniprogram/open`), POSTs `{"scene","code"}` as JSON to `{server}/auth/wechat/miniprogram/scan/open` (answered with the requester and a token), then `{"scene","token","decision"}` to `{server}/auth/wechat/miniprogram/scan`; 303 back to the phone page with the requester, the answer's status and body, or why nothing was sent (no server set) |
//! | `POST /mock/scan` | `{"qr_url" \| "ticket" \| "scene", "user", "subscribed"?, "push_url"?, "appid"?}`: a user scans a parametric QR code (below); answers `{"event", "openid", "event_key", "ticket", "create_time", "push_url", "encrypted", "deliveries", "acknowledged", "last_status"?, "last_body"?, "last_error"?}` once delivery is over, 404 for an unknown code, 410 for an expired one |
//! | `POST /mock/redirect_domains` | `{"appid","domains":[…]}`; with a WeCom corp id or suite id as `appid`: its trusted domains (hosts, optionally `:port`); with a Douyin client key: its callback domains |
//! | `POST /mock/wecom/suite_ticket` | `{"suite_id"?}` (default: the primary suite): a fresh `suite_ticket` becomes the suite's newest and is POSTed to its command callback (set with `POST /mock/push_url {"url","appid":SUITE_ID}`) as WeCom does — query `msg_signature`, `timestamp`, `nonce`; body `<xml><ToUserName>SUITE_ID</ToUserName><Encrypt>…</Encrypt><AgentID></AgentID></xml>`, `Encrypt` sealing `<xml><SuiteId/><InfoType>suite_ticket</InfoType><TimeStamp/><SuiteTicket/></xml>` with the suite's EncodingAESKey and ReceiveId = suite id; up to 3 deliveries until the answer is `success`. Answers `{"suite_id","push_url","deliveries","acknowledged","last_status","last_error"}`; 400 without a callback. The mock also pushes every 10 minutes of its clock while a callback is set |
//! | `POST /mock/wecom/verify_url` | `{"suite_id"?}`: WeCom's URL verification of the suite's command callback: `GET` with `msg_signature`, `timestamp`, `nonce` and `echostr` (encrypted like a push, ReceiveId = suite id — unverified for the verification request); answers `{"suite_id","push_url","verified","status","answer","error"}`, `verified` when the callback answered 2xx with exactly the decrypted plaintext |
//! | `POST /mock/text_plain` | `{"on": bool}`: label every JSON answer `text/plain` |
//! | `POST /mock/douyin/legacy` | `{"on": bool}`: Douyin's older success shapes ([`MockWechat::set_douyin_legacy_shapes`]) |
//!
//! # The unverified subscription account
//!
//! Besides the primary (verified) Official Account the mock registers an unverified
//! subscription account ([`MockWechat::unverified_account`], [`MockApp::default_unverified`];
//! `"verified": false` in `GET /mock/config`). Like the real thing (protocol §25) it gets global
//! tokens, receives pushes and answers them with passive replies, but
//! `cgi-bin/qrcode/create`, `cgi-bin/user/info` and `sns/oauth2/access_token` answer
//! `{"errcode":48001,"errmsg":"api unauthorized, rid: …"}` and `connect/oauth2/authorize`
//! shows error page 10005 (`x-mock-error: 10005`) and never issues a code. Every such call is
//! counted for its appid: a test proves a layer never tried with
//! `mock.app_calls(&mock.unverified_account().appid, "cgi-bin/qrcode/create") == 0` or
//! `GET /mock/calls?appid=wx5000000000000005`. The phone page has one chat per account.
//!
//! # Scan login: the push
//!
//! The follow-the-account login shows a temporary parametric QR code; the user scans it in
//! WeChat and WeChat pushes an event to the account's push URL. [`MockWechat::scan`] and
//! `POST /mock/scan` play the user and WeChat:
//!
//! - the code is found by the URL a phone reads from the image (`qr_url`), its `ticket`, or
//!   its `scene` (with `appid`, default the primary Official Account). Unknown: 404 and
//!   nothing happens. Expired: 410 and nothing is pushed (WeChat shows "二维码已过期").
//! - A user who does not follow the account follows it now and the event is `subscribe`
//!   with `EventKey` `qrscene_SCENE` (`cgi-bin/user/info` then reports
//!   `subscribe_scene: ADD_SCENE_QR_CODE` and `qr_scene` / `qr_scene_str`); a follower gets
//!   `SCAN` with `EventKey` `SCENE`. `subscribed` in the request overrides the stored state.
//! - The event XML ([`wire::event_xml`]) is POSTed with `Content-Type: text/xml` and
//!   the query `signature`, `timestamp` (real time; `CreateTime` is the mock's clock), `nonce`,
//!   `openid`; when the account has an
//!   EncodingAESKey (the default one does), in safe mode: `encrypt_type=aes`,
//!   `msg_signature`, body `<xml><ToUserName/><Encrypt/></xml>`.
//! - An answer counts when it comes within [`MockConfig::push_timeout`] (5 s), with a 2xx
//!   status and `success`, an empty body, or a reply XML. Otherwise the same request (same
//!   `CreateTime`, same ciphertext) is sent again, at most 3 deliveries in all. Each delivery
//!   counts as a call of `push`. The push URL is the request's `push_url`, else the one set
//!   with [`MockWechat::set_push_url`] / `POST /mock/push_url`; without one: 400.
//!
//! Scans over HTTP wait for delivery to finish: up to three push timeouts (15 s by default),
//! so give the HTTP client calling `/mock/scan` a longer timeout than that.
//!
//! # Where it differs from WeChat
//!
//! - Everything is plain `http://` on one origin; WeChat uses three https hosts.
//! - `showqrcode` answers a PNG (`image/png`); WeChat sends a JPEG.
//! - `getwxacodeunlimit` answers a PNG labelled `image/jpeg` (WeChat sends a JPEG, or a PNG
//!   with `is_hyaline`, under the same label); the code is a plain QR code, not the round
//!   mini program code. `check_path` is accepted but not enforced (the mock knows no
//!   published pages): only the shape of `page` is checked.
//! - Mini program URL Links are `http://127.0.0.1:PORT/mock/urllink/TICKET` on the mock's
//!   host instead of `https://wxaurl.cn/TICKET`; the daily limits (500,000 links made,
//!   3,000,000 opens) are not simulated (inject 45009 / 44990 instead), and any user may open
//!   a link any number of times until it expires.
//! - `jscode2session` hands out a new `session_key` on every login; WeChat may keep one for
//!   a while.
//! - Avatars are served by the mock (`/mmopen/vi_32/…/132`) instead of `thirdwx.qlogo.cn`.
//! - A WeCom trusted domain without a port matches its host on any port (tests run on
//!   ephemeral ports); WeCom wants the port too when it is not the default one. A domain
//!   given with a port is matched exactly. WeCom's in-app page is silent for
//!   `snsapi_base`; the mock shows its buttons (it has to be told who the user is).
//! - `snsapi_base` also shows the page (WeChat is silent there): the mock has to be told who
//!   the user is.
//! - Limits that take days to reach (daily quotas other than forced `stable_token`
//!   refreshes) are not simulated; inject the errcode instead.
//! - Push URLs may be any http(s) URL on any port (WeChat wants port 80 or 443), and the
//!   mock never sends the `GET` URL verification; a scanning user always follows (WeChat
//!   sends nothing when an unfollowed user scans and then does not follow). Retries follow
//!   immediately after a failed delivery.
//! - Douyin is served on the mock's origin too ([`MockWechat::douyin_open_base`],
//!   [`MockWechat::douyin_miniapp_base`]), over `http://`; Douyin wants an https
//!   `redirect_uri`. Callback domains are compared by host, like WeChat's. What a refusal on
//!   the Douyin page sends is not documented (protocol §31): the mock sends `state` without
//!   `code`. The errcode of a reused or expired code is not documented either: the mock
//!   answers 2100005. `tt.login()` codes live 5 minutes (not documented).

mod bounded;
mod cgi;
mod clock;
mod config;
mod control;
mod douyin;
mod douyin_apps;
mod douyin_config;
mod douyin_mini;
mod douyin_state;
mod douyin_wire;
mod errors;
mod faults;
mod ids;
mod links;
mod middleware;
mod pages;
mod params;
mod phone;
mod push_wire;
mod scan;
mod sns;
mod state;
mod wecom;
mod wecom_config;
mod wecom_state;
mod wecom_suite;
pub mod wire;
mod wxa;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{AppKind, MockApp, MockConfig, MockUser};
pub use douyin_apps::{MockDouyinApp, MockDouyinMiniApp};
pub use errors::MockError;
pub use faults::Fault;
pub use links::OpenedLink;
pub use push_wire::{ChatLine, PushFormat, PushMode};
pub use scan::{ScanOptions, ScanReport};
pub use state::{QrScene, QrTicket};
pub use wecom_config::{MockWecomCorp, MockWecomMember, MockWecomSuite};
pub use wecom_suite::SuiteTicketReport;

use errors::WxError;
use state::{Settings, Shared};

/// A running mock WeChat server. Dropping the handle stops the server (gracefully, in the
/// background); [`MockWechat::shutdown`] stops it and waits.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mock = wechat_auth_mock::MockWechat::start().await?;
/// assert!(mock.url().starts_with("http://127.0.0.1:"));
/// mock.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockWechat {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// The 10-minute WeCom `suite_ticket` schedule.
    ticker: Option<JoinHandle<()>>,
}

impl Drop for MockWechat {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
    }
}

impl MockWechat {
    /// Starts a mock with the default apps and users on an ephemeral loopback port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.users().len(), 3);
    /// # Ok(()) }
    /// ```
    pub async fn start() -> io::Result<Self> {
        Self::start_with(MockConfig::default()).await
    }

    /// Starts a mock with `cfg` on an ephemeral loopback port. Fails with `InvalidInput` when
    /// the configuration is inconsistent (duplicate appids or user names, a malformed
    /// EncodingAESKey, …).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use wechat_auth_mock::{MockConfig, MockWechat};
    ///
    /// let mock = MockWechat::start_with(MockConfig::default().with_user("dave", "戴夫")).await?;
    /// assert!(mock.user("dave").is_some());
    /// # Ok(()) }
    /// ```
    pub async fn start_with(cfg: MockConfig) -> io::Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), cfg).await
    }

    /// Starts a mock with `cfg` on `addr` (port 0 picks a free one). Must be called inside a
    /// tokio runtime.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use wechat_auth_mock::{MockConfig, MockWechat};
    ///
    /// let mock = MockWechat::start_on("127.0.0.1:4000".parse().unwrap(), MockConfig::default()).await?;
    /// assert_eq!(mock.url(), "http://127.0.0.1:4000");
    /// # Ok(()) }
    /// ```
    pub async fn start_on(addr: SocketAddr, cfg: MockConfig) -> io::Result<Self> {
        cfg.validate()?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = origin(addr);
        let users = cfg
            .users
            .iter()
            .map(|u| {
                let avatar = u
                    .headimgurl
                    .clone()
                    .unwrap_or_else(|| pages::avatar_url(&base_url, &u.name));
                MockUser::derive(&u.name, &u.nickname, avatar)
            })
            .collect();
        let settings = Settings {
            refresh_ttl: cfg.refresh_token_ttl,
            website_deny_redirects: cfg.website_deny_redirects,
            text_plain: cfg.text_plain,
            blocked: cfg.blocked.clone(),
            subscribed: cfg.subscribed.clone(),
            push_timeout: cfg.push_timeout,
            push_http: push_client()?,
            wecom_corps: cfg.wecom_corps,
            wecom_suites: cfg.wecom_suites,
            douyin_apps: cfg.douyin_apps,
            douyin_miniapps: cfg.douyin_miniapps,
        };
        let shared = Arc::new(Shared::new(cfg.apps, users, settings, base_url));
        let app = router(shared.clone());
        let ticker = tokio::spawn(wecom_suite::ticker(Arc::downgrade(&shared)));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "mock wechat: server stopped with an error");
            }
        });
        tracing::debug!(%addr, "mock wechat: listening");
        Ok(MockWechat {
            shared,
            addr,
            shutdown: Some(tx),
            task: Some(task),
            ticker: Some(ticker),
        })
    }

    /// Stops the server and waits until it has closed its connections.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let addr = mock.addr();
    /// mock.shutdown().await;
    /// assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The origin the mock serves on: `http://127.0.0.1:PORT`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.url(), format!("http://127.0.0.1:{}", mock.addr().port()));
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server is bound to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.addr().ip().is_loopback());
    /// # Ok(()) }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stands for `https://api.weixin.qq.com` (the same as [`MockWechat::url`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.api_base(), mock.url());
    /// # Ok(()) }
    /// ```
    pub fn api_base(&self) -> String {
        self.url()
    }

    /// Stands for `https://open.weixin.qq.com` (the same as [`MockWechat::url`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.open_base(), mock.url());
    /// # Ok(()) }
    /// ```
    pub fn open_base(&self) -> String {
        self.url()
    }

    /// Stands for `https://mp.weixin.qq.com` (the same as [`MockWechat::url`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.mp_base(), mock.url());
    /// # Ok(()) }
    /// ```
    pub fn mp_base(&self) -> String {
        self.url()
    }

    /// The environment that points an app at this mock: `WECHAT_API_BASE`,
    /// `WECHAT_OPEN_BASE`, `WECHAT_MP_BASE`, and the primary apps' `WECHAT_WEBSITE_APP_ID`,
    /// `WECHAT_WEBSITE_APP_SECRET`, `WECHAT_OA_APP_ID`, `WECHAT_OA_APP_SECRET`,
    /// `WECHAT_OA_TOKEN`, `WECHAT_OA_ENCODING_AES_KEY` (when set; otherwise, for an account
    /// with a push token, `WECHAT_OA_INSECURE_PLAINTEXT_PUSH=1`), `WECHAT_MOBILE_APP_ID`,
    /// `WECHAT_MOBILE_APP_SECRET`, `WECHAT_MINI_APP_ID`, `WECHAT_MINI_APP_SECRET`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let env = mock.env_vars();
    /// assert!(env.contains(&("WECHAT_OA_APP_ID", "wx2000000000000002".to_owned())));
    /// assert!(env.contains(&("WECHAT_API_BASE", mock.url())));
    /// # Ok(()) }
    /// ```
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        self.env_with_account(self.official_account())
    }

    /// [`MockWechat::env_vars`] with the `WECHAT_OA_*` variables naming the
    /// [unverified subscription account](MockWechat::unverified_account) instead of the
    /// primary one, and `WECHAT_OA_VERIFIED=false`: an app started with these logs in by
    /// message code (issue 25) and must never call what the account lacks.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let env = mock.env_vars_with_unverified_account();
    /// assert!(env.contains(&("WECHAT_OA_APP_ID", "wx5000000000000005".to_owned())));
    /// assert!(env.contains(&("WECHAT_OA_TOKEN", "mocksubtoken".to_owned())));
    /// assert!(env.contains(&("WECHAT_OA_VERIFIED", "false".to_owned())));
    /// assert!(!mock.env_vars().iter().any(|(k, _)| *k == "WECHAT_OA_VERIFIED"));
    /// # Ok(()) }
    /// ```
    pub fn env_vars_with_unverified_account(&self) -> Vec<(&'static str, String)> {
        let mut env = self.env_with_account(self.unverified_account());
        env.push(("WECHAT_OA_VERIFIED", "false".to_owned()));
        env
    }

    fn env_with_account(&self, oa: &MockApp) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("WECHAT_API_BASE", self.api_base()),
            ("WECHAT_OPEN_BASE", self.open_base()),
            ("WECHAT_MP_BASE", self.mp_base()),
        ];
        let site = self.website();
        env.push(("WECHAT_WEBSITE_APP_ID", site.appid.clone()));
        env.push(("WECHAT_WEBSITE_APP_SECRET", site.secret.clone()));
        env.push(("WECHAT_OA_APP_ID", oa.appid.clone()));
        env.push(("WECHAT_OA_APP_SECRET", oa.secret.clone()));
        if let Some(token) = &oa.token {
            env.push(("WECHAT_OA_TOKEN", token.clone()));
        }
        match (&oa.token, &oa.encoding_aes_key) {
            (_, Some(key)) => env.push(("WECHAT_OA_ENCODING_AES_KEY", key.clone())),
            // The mock's account pushes plaintext: the app must accept that explicitly.
            (Some(_), None) => env.push(("WECHAT_OA_INSECURE_PLAINTEXT_PUSH", "1".to_owned())),
            (None, None) => {}
        }
        let mobile = self.mobile();
        env.push(("WECHAT_MOBILE_APP_ID", mobile.appid.clone()));
        env.push(("WECHAT_MOBILE_APP_SECRET", mobile.secret.clone()));
        let mini = self.mini_program();
        env.push(("WECHAT_MINI_APP_ID", mini.appid.clone()));
        env.push(("WECHAT_MINI_APP_SECRET", mini.secret.clone()));
        env
    }

    /// A human-readable description: first line `mock wechat: URL`, then the apps, the users
    /// and the environment variables. The `mock_server` example prints it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let text = mock.summary();
    /// assert_eq!(text.lines().next(), Some(format!("mock wechat: {}", mock.url()).as_str()));
    /// assert!(text.contains("alice"));
    /// # Ok(()) }
    /// ```
    pub fn summary(&self) -> String {
        let mut out = format!("mock wechat: {}\n", self.url());
        out.push_str("apps:\n");
        for app in self.apps() {
            let _ = write!(
                out,
                "  {:<16} appid {}  secret {}",
                app.kind.as_str(),
                app.appid,
                app.secret
            );
            if let Some(t) = &app.token {
                let _ = write!(out, "  token {t}");
            }
            if let Some(k) = &app.encoding_aes_key {
                let _ = write!(out, "  encoding_aes_key {k}");
            }
            if let Some(id) = &app.original_id {
                let _ = write!(out, "  original_id {id}");
            }
            if !app.bound {
                out.push_str("  (not bound: no unionid)");
            }
            if !app.verified {
                out.push_str("  (unverified: no QR codes, web authorization or user/info)");
            }
            out.push('\n');
        }
        for app in self.douyin_apps() {
            let _ = writeln!(
                out,
                "  {:<16} client_key {}  client_secret {}",
                "douyin", app.client_key, app.client_secret
            );
        }
        for mini in self.douyin_miniapps() {
            let _ = writeln!(
                out,
                "  {:<16} appid {}  secret {}",
                "douyin_miniapp", mini.appid, mini.secret
            );
        }
        out.push_str("users:\n");
        for user in self.users() {
            let _ = writeln!(
                out,
                "  {:<8} {}  unionid {}  douyin union_id {}",
                user.name,
                user.nickname,
                user.unionid,
                user.douyin_union_id()
            );
            for app in self.apps() {
                let _ = writeln!(
                    out,
                    "      openid in {} ({}): {}",
                    app.appid,
                    app.kind.as_str(),
                    user.openid_for(&app.appid)
                );
            }
            let douyin_ids = (self.douyin_apps().iter().map(|a| &a.client_key))
                .chain(self.douyin_miniapps().iter().map(|m| &m.appid));
            for id in douyin_ids {
                let _ = writeln!(
                    out,
                    "      douyin open_id in {id}: {}",
                    user.douyin_open_id_for(id)
                );
            }
        }
        out.push_str("env:\n");
        for (k, v) in self.env_vars() {
            let _ = writeln!(out, "  {k}={v}");
        }
        out
    }

    /// The primary website app (default `wx1000000000000001`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.website().appid, "wx1000000000000001");
    /// # Ok(()) }
    /// ```
    pub fn website(&self) -> &MockApp {
        self.shared.primary(AppKind::Website)
    }

    /// The primary Official Account (default `wx2000000000000002`, token `mocktoken`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.official_account().original_id.as_deref(), Some("gh_000000000001"));
    /// # Ok(()) }
    /// ```
    pub fn official_account(&self) -> &MockApp {
        self.shared.primary(AppKind::OfficialAccount)
    }

    /// The unverified subscription account (default `wx5000000000000005`, token
    /// `mocksubtoken`; see [`MockApp::default_unverified`]): it gets global tokens and
    /// pushes, and WeChat refuses it parametric QR codes, `cgi-bin/user/info` and web
    /// authorization (48001, error page 10005). Never the same app as
    /// [`MockWechat::official_account`] unless a config made the primary account unverified.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let sub = mock.unverified_account();
    /// assert_eq!(sub.appid, "wx5000000000000005");
    /// assert!(!sub.verified && mock.official_account().verified);
    /// # Ok(()) }
    /// ```
    pub fn unverified_account(&self) -> &MockApp {
        self.shared.unverified()
    }

    /// The primary mobile app (default `wx3000000000000003`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.mobile().appid, "wx3000000000000003");
    /// # Ok(()) }
    /// ```
    pub fn mobile(&self) -> &MockApp {
        self.shared.primary(AppKind::Mobile)
    }

    /// The primary mini program (default `wx4000000000000004`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.mini_program().appid, "wx4000000000000004");
    /// # Ok(()) }
    /// ```
    pub fn mini_program(&self) -> &MockApp {
        self.shared.primary(AppKind::MiniProgram)
    }

    /// The app with this appid, if registered.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.app("wx1000000000000001").is_some());
    /// assert!(mock.app("wx_unknown").is_none());
    /// # Ok(()) }
    /// ```
    pub fn app(&self, appid: &str) -> Option<&MockApp> {
        self.shared.app(appid)
    }

    /// Every registered app.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.apps().len(), 5);
    /// # Ok(()) }
    /// ```
    pub fn apps(&self) -> &[MockApp] {
        &self.shared.apps
    }

    /// Every simulated user (default: `alice`, `bob`, `carol`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let names: Vec<_> = mock.users().iter().map(|u| u.name.as_str()).collect();
    /// assert_eq!(names, ["alice", "bob", "carol"]);
    /// # Ok(()) }
    /// ```
    pub fn users(&self) -> &[MockUser] {
        &self.shared.users
    }

    /// The simulated user called `name`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let alice = mock.user("alice").unwrap();
    /// assert_eq!(alice.nickname, "爱丽丝");
    /// assert!(alice.headimgurl.ends_with("/132"));
    /// # Ok(()) }
    /// ```
    pub fn user(&self, name: &str) -> Option<MockUser> {
        self.shared.user(name).cloned()
    }

    /// Replaces the allowed redirect domains of `appid` (hosts; any `:port` is ignored).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let appid = mock.website().appid.clone();
    /// mock.set_redirect_domains(&appid, vec!["app.example.com".into()]).unwrap();
    /// assert_eq!(mock.redirect_domains(&appid), ["app.example.com"]);
    /// # Ok(()) }
    /// ```
    pub fn set_redirect_domains(&self, appid: &str, domains: Vec<String>) -> Result<(), MockError> {
        self.shared.set_redirect_domains(appid, &domains)
    }

    /// The allowed redirect domains of `appid` (empty for an unknown appid).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.redirect_domains("wx2000000000000002"), ["127.0.0.1", "localhost"]);
    /// # Ok(()) }
    /// ```
    pub fn redirect_domains(&self, appid: &str) -> Vec<String> {
        self.shared
            .lock()
            .redirect_domains
            .get(appid)
            .cloned()
            .unwrap_or_default()
    }

    /// How often `endpoint` (path without leading slash, e.g. `"sns/oauth2/access_token"`,
    /// `"cgi-bin/stable_token"`, `"connect/qrconnect"`) has been called. `"push"` counts the
    /// mock's own deliveries of scan events to push URLs (one per attempt, retries included).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// reqwest::get(format!("{}/sns/auth", mock.api_base())).await?;
    /// assert_eq!(mock.calls("sns/auth"), 1);
    /// assert_eq!(mock.calls("/sns/auth"), 1); // a leading slash is fine
    /// # Ok(()) }
    /// ```
    pub fn calls(&self, endpoint: &str) -> u64 {
        let endpoint = endpoint.trim_start_matches('/');
        self.shared.lock().calls.get(endpoint).copied().unwrap_or(0)
    }

    /// Every endpoint called so far, with its count.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// reqwest::get(format!("{}/cgi-bin/token", mock.api_base())).await?;
    /// assert_eq!(mock.all_calls().get("cgi-bin/token"), Some(&1));
    /// # Ok(()) }
    /// ```
    pub fn all_calls(&self) -> BTreeMap<String, u64> {
        self.shared.all_calls()
    }

    /// How often `endpoint` (named as in [`MockWechat::calls`]) has been called for the app
    /// `appid`: the call named it in its query (`appid=`: the authorization pages,
    /// `sns/oauth2/access_token`, `cgi-bin/token`, …), in its JSON body
    /// (`cgi-bin/stable_token`), or carried a global `access_token` of that app
    /// (`cgi-bin/qrcode/create`, `cgi-bin/user/info`, `wxa/*`). `"push"` counts deliveries
    /// to that account's push URL. Calls with a user access token (`sns/userinfo`,
    /// `sns/auth`) are counted per endpoint only. `GET /mock/calls?appid=APPID` answers the
    /// same counts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let sub = mock.unverified_account().clone();
    /// let http = reqwest::Client::new();
    /// let token: serde_json::Value = http
    ///     .get(format!("{}/cgi-bin/token", mock.api_base()))
    ///     .query(&[("grant_type", "client_credential"), ("appid", &sub.appid), ("secret", &sub.secret)])
    ///     .send().await?.json().await?;
    /// let qr: serde_json::Value = http
    ///     .post(format!("{}/cgi-bin/qrcode/create", mock.api_base()))
    ///     .query(&[("access_token", token["access_token"].as_str().unwrap())])
    ///     .json(&serde_json::json!({"action_name": "QR_STR_SCENE",
    ///                               "action_info": {"scene": {"scene_str": "x"}}}))
    ///     .send().await?.json().await?;
    /// assert_eq!(qr["errcode"], 48001);
    /// assert_eq!(mock.app_calls(&sub.appid, "cgi-bin/qrcode/create"), 1);
    /// assert_eq!(mock.app_calls(&mock.official_account().appid, "cgi-bin/qrcode/create"), 0);
    /// # Ok(()) }
    /// ```
    pub fn app_calls(&self, appid: &str, endpoint: &str) -> u64 {
        let endpoint = endpoint.trim_start_matches('/');
        self.shared
            .lock()
            .app_calls
            .get(appid)
            .and_then(|c| c.get(endpoint))
            .copied()
            .unwrap_or(0)
    }

    /// Every endpoint called for the app `appid` so far, with its count (see
    /// [`MockWechat::app_calls`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.all_app_calls(&mock.unverified_account().appid).is_empty());
    /// # Ok(()) }
    /// ```
    pub fn all_app_calls(&self, appid: &str) -> BTreeMap<String, u64> {
        self.shared
            .lock()
            .app_calls
            .get(appid)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets every call counter back to zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// reqwest::get(format!("{}/sns/auth", mock.api_base())).await?;
    /// mock.reset_calls();
    /// assert!(mock.all_calls().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn reset_calls(&self) {
        let mut inner = self.shared.lock();
        inner.calls.clear();
        inner.app_calls.clear();
    }

    /// Makes the next `times` calls of `endpoint` misbehave (see [`Fault`]). Faults queue up
    /// in order; a [`Fault::Delay`] then continues to the normal answer. Names are as in
    /// [`MockWechat::calls`]; a name that is no endpoint never fires.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth_mock::{Fault, MockWechat};
    ///
    /// let mock = MockWechat::start().await?;
    /// mock.inject("sns/auth", Fault::Errcode(-1), 1);
    /// let url = format!("{}/sns/auth", mock.api_base());
    /// let first: serde_json::Value = reqwest::get(&url).await?.json().await?;
    /// assert_eq!(first["errcode"], -1);
    /// let second: serde_json::Value = reqwest::get(&url).await?.json().await?;
    /// assert_eq!(second["errcode"], 41001); // back to normal: access_token missing
    /// # Ok(()) }
    /// ```
    pub fn inject(&self, endpoint: &str, fault: Fault, times: u32) {
        self.shared.lock().faults.queue(endpoint, fault, times);
    }

    /// Forgets every queued fault.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use wechat_auth_mock::{Fault, MockWechat};
    /// let mock = MockWechat::start().await?;
    /// mock.inject("sns/auth", Fault::HttpStatus(503), 5);
    /// mock.clear_faults();
    /// # Ok(()) }
    /// ```
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Sticky switch: while on, every JSON answer says `Content-Type: text/plain` (as `sns/*`
    /// has been seen doing), to catch clients that trust the header.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// mock.set_text_plain(true);
    /// let resp = reqwest::get(format!("{}/sns/auth", mock.api_base())).await?;
    /// assert!(resp.headers()["content-type"].to_str()?.starts_with("text/plain"));
    /// # Ok(()) }
    /// ```
    pub fn set_text_plain(&self, on: bool) {
        self.shared.lock().text_plain = on;
    }

    /// Moves the mock's clock forward. Every expiry (codes, tokens, tickets, rate windows)
    /// follows this clock, so tests can time-travel instead of sleeping.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let before = mock.now();
    /// mock.advance(Duration::from_secs(7201));
    /// assert!(mock.now().duration_since(before).unwrap() >= Duration::from_secs(7201));
    /// # Ok(()) }
    /// ```
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// The mock's current time (wall clock plus everything [`MockWechat::advance`]d).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.now() >= std::time::SystemTime::UNIX_EPOCH);
    /// # Ok(()) }
    /// ```
    pub fn now(&self) -> SystemTime {
        self.shared.now()
    }

    /// Mints a code as the user's phone would: for a mobile app, the OpenSDK's `code`
    /// (scope `snsapi_userinfo`, 10 minutes, for `sns/oauth2/access_token`); for a mini
    /// program, `wx.login()`'s `js_code` (5 minutes, for `sns/jscode2session`); for a Douyin
    /// client key, the Douyin OpenSDK's code (scope `user_info`, 10 minutes, for
    /// `oauth/access_token/`); for a Douyin mini-app, `tt.login()`'s `code` (5 minutes, for
    /// `api/apps/v2/jscode2session`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let mini = mock.mini_program();
    /// let js_code = mock.sdk_code(&mini.appid, "bob")?;
    /// let session: serde_json::Value = reqwest::Client::new()
    ///     .get(format!("{}/sns/jscode2session", mock.api_base()))
    ///     .query(&[("appid", mini.appid.as_str()), ("secret", &mini.secret),
    ///              ("js_code", &js_code), ("grant_type", "authorization_code")])
    ///     .send().await?.json().await?;
    /// assert_eq!(session["openid"], mock.user("bob").unwrap().openid_for(&mini.appid));
    /// # Ok(()) }
    /// ```
    pub fn sdk_code(&self, appid: &str, user: &str) -> Result<String, MockError> {
        self.shared.sdk_code(appid, user)
    }

    /// The code `<button open-type="getPhoneNumber">` hands the mini program page
    /// (`e.detail.code`) when `user` agrees, for `wxa/business/getuserphonenumber`: single
    /// use, 5 minutes on the mock clock, bound to the mini program `appid`. The number it
    /// yields is [`MockUser::phone`].
    ///
    /// Errors: [`MockError::UnknownApp`], [`MockError::UnknownUser`],
    /// [`MockError::WrongAppKind`] for an app that is not a mini program.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let mini = mock.mini_program().clone();
    /// let http = reqwest::Client::new();
    /// let token: serde_json::Value = http
    ///     .get(format!("{}/cgi-bin/token", mock.api_base()))
    ///     .query(&[("grant_type", "client_credential"), ("appid", &mini.appid), ("secret", &mini.secret)])
    ///     .send().await?.json().await?;
    /// let phone: serde_json::Value = http
    ///     .post(format!("{}/wxa/business/getuserphonenumber", mock.api_base()))
    ///     .query(&[("access_token", token["access_token"].as_str().unwrap())])
    ///     .json(&serde_json::json!({"code": mock.phone_code(&mini.appid, "alice")?}))
    ///     .send().await?.json().await?;
    /// assert_eq!(phone["phone_info"]["purePhoneNumber"], mock.user("alice").unwrap().phone);
    /// assert_eq!(phone["phone_info"]["countryCode"], "86");
    /// assert!(mock.phone_code(&mock.website().appid, "alice").is_err());
    /// # Ok(()) }
    /// ```
    pub fn phone_code(&self, appid: &str, user: &str) -> Result<String, MockError> {
        self.shared.phone_code(appid, user)
    }

    /// `user` scans a mini program code whose scene is `scene` and the primary mini program
    /// opens: returns `(scene, js_code)`, what the opened page has — the scene it reads from
    /// `decodeURIComponent(query.scene)` and a fresh `wx.login()` code of that user for
    /// `sns/jscode2session` (as [`MockWechat::sdk_code`]).
    ///
    /// Errors: [`MockError::UnknownUser`]; [`MockError::Invalid`] for a scene WeChat would
    /// not draw (empty, over 32 characters, or a character outside
    /// `[0-9A-Za-z!#$&'()*+,/:;=?@-._~]`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let (scene, js_code) = mock.open_mini_program("t3f9a2c", "bob")?;
    /// assert_eq!(scene, "t3f9a2c");
    /// assert_eq!(js_code.len(), 32);
    /// assert!(mock.open_mini_program("50%off", "bob").is_err());
    /// # Ok(()) }
    /// ```
    pub fn open_mini_program(
        &self,
        scene: &str,
        user: &str,
    ) -> Result<(String, String), MockError> {
        self.shared.open_mini_program(scene, user)
    }

    /// `user` opens a mini program link in WeChat — a URL Link from `wxa/generate_urllink`
    /// (`http://127.0.0.1:PORT/mock/urllink/TICKET`, the mock's stand-in for
    /// `https://wxaurl.cn/TICKET`) or a URL Scheme from `wxa/generatescheme`
    /// (`weixin://dl/business/?t=TICKET`) — and the mini program that made it starts on the
    /// link's page: what it sees ([`OpenedLink`]) is the link's query and the value of its
    /// `scene=`, the scene number (1194 for a URL Link, 1065 for a URL Scheme) and a fresh
    /// `wx.login()` code of that user. A link may be opened more than once, by anyone, until
    /// it expires. `POST /mock/miniprogram/open {"url_link","user"}` does the same over HTTP.
    ///
    /// Errors: [`MockError::UnknownLink`] for a link the mock never made (or of another
    /// mock), [`MockError::ExpiredLink`] once its expiry has passed on the mock clock
    /// (both 404 over HTTP), [`MockError::UnknownUser`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth_mock::{MockError, MockWechat};
    ///
    /// let mock = MockWechat::start().await?;
    /// let mini = mock.mini_program().clone();
    /// let http = reqwest::Client::new();
    /// let token: serde_json::Value = http
    ///     .get(format!("{}/cgi-bin/token", mock.api_base()))
    ///     .query(&[("grant_type", "client_credential"), ("appid", &mini.appid), ("secret", &mini.secret)])
    ///     .send().await?.json().await?;
    /// let made: serde_json::Value = http
    ///     .post(format!("{}/wxa/generatescheme", mock.api_base()))
    ///     .query(&[("access_token", token["access_token"].as_str().unwrap())])
    ///     .json(&serde_json::json!({"jump_wxa": {"path": "pages/login/confirm", "query": "scene=abc"},
    ///                               "is_expire": true, "expire_type": 1, "expire_interval": 1}))
    ///     .send().await?.json().await?;
    /// let link = made["openlink"].as_str().unwrap();
    /// assert!(link.starts_with("weixin://dl/business/?t="));
    /// let opened = mock.open_url_link(link, "bob")?;
    /// assert_eq!((opened.scene.as_deref(), opened.scene_id), (Some("abc"), 1065));
    ///
    /// mock.advance(std::time::Duration::from_secs(24 * 3600));
    /// assert!(matches!(mock.open_url_link(link, "bob"), Err(MockError::ExpiredLink(_))));
    /// assert!(matches!(
    ///     mock.open_url_link("weixin://dl/business/?t=nope", "bob"),
    ///     Err(MockError::UnknownLink(_))
    /// ));
    /// # Ok(()) }
    /// ```
    pub fn open_url_link(&self, link: &str, user: &str) -> Result<OpenedLink, MockError> {
        self.shared.open_url_link(link, user)
    }

    /// The current `session_key` of (appid, openid): the one the last `sns/jscode2session`
    /// gave, to build `encryptedData` fixtures. Each login replaces it (the previous key then
    /// fails `wxa/checksession` with 87009).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let openid = mock.user("alice").unwrap().openid_for(&mock.mini_program().appid);
    /// assert_eq!(mock.session_key(&mock.mini_program().appid, &openid), None); // no login yet
    /// # Ok(()) }
    /// ```
    pub fn session_key(&self, appid: &str, openid: &str) -> Option<String> {
        self.shared
            .lock()
            .session_keys
            .get(&(appid.to_owned(), openid.to_owned()))
            .cloned()
    }

    /// Seals `payload` as WeChat seals a mini program's `encryptedData` for this user
    /// (`wx.getPhoneNumber` and the like): a `watermark` `{appid, timestamp}` is added, the
    /// JSON is encrypted with AES-128-CBC under the user's current `session_key` and a random
    /// IV, and `(encryptedData, iv)` come back base64-encoded. The user must have logged in
    /// through `jscode2session` first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let mini = mock.mini_program();
    /// let openid = mock.user("alice").unwrap().openid_for(&mini.appid);
    /// assert!(mock.mini_program_data(&mini.appid, &openid, serde_json::json!({})).is_err());
    /// # Ok(()) }
    /// ```
    pub fn mini_program_data(
        &self,
        appid: &str,
        openid: &str,
        mut payload: serde_json::Value,
    ) -> Result<(String, String), MockError> {
        use aes::cipher::{BlockEncryptMut as _, KeyIvInit as _, block_padding::Pkcs7};
        use base64::{Engine as _, engine::general_purpose::STANDARD};

        let key = self.session_key(appid, openid).ok_or_else(|| {
            MockError::Invalid(format!(
                "no session_key for {openid} of {appid}: log in through jscode2session first"
            ))
        })?;
        let key: [u8; 16] = STANDARD
            .decode(key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| MockError::Invalid("stored session_key is not 16 bytes".into()))?;
        let timestamp = self
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if let Some(obj) = payload.as_object_mut() {
            obj.insert(
                "watermark".into(),
                serde_json::json!({ "appid": appid, "timestamp": timestamp }),
            );
        } else {
            return Err(MockError::Invalid("payload must be a JSON object".into()));
        }
        let iv: [u8; 16] = rand::random();
        let sealed = cbc::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(payload.to_string().as_bytes());
        Ok((STANDARD.encode(sealed), STANDARD.encode(iv)))
    }

    /// Whether `user` follows the primary Official Account (what `cgi-bin/user/info` says).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// mock.set_subscribed("alice", true).unwrap();
    /// assert!(mock.is_subscribed("alice"));
    /// assert!(mock.set_subscribed("nobody", true).is_err());
    /// # Ok(()) }
    /// ```
    pub fn set_subscribed(&self, user: &str, subscribed: bool) -> Result<(), MockError> {
        let oa = self.official_account().appid.clone();
        self.shared.set_subscribed(&oa, user, subscribed)
    }

    /// Whether `user` follows the primary Official Account.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(!mock.is_subscribed("bob"));
    /// # Ok(()) }
    /// ```
    pub fn is_subscribed(&self, user: &str) -> bool {
        let oa = self.official_account().appid.clone();
        self.shared
            .lock()
            .follows
            .contains_key(&(oa, user.to_owned()))
    }

    /// Marks `user` as high-risk (or not): `sns/jscode2session` then answers 40226.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// mock.set_blocked("carol", true).unwrap();
    /// # Ok(()) }
    /// ```
    pub fn set_blocked(&self, user: &str, blocked: bool) -> Result<(), MockError> {
        if self.shared.user(user).is_none() {
            return Err(MockError::UnknownUser(user.to_owned()));
        }
        let mut inner = self.shared.lock();
        if blocked {
            inner.blocked.insert(user.to_owned());
        } else {
            inner.blocked.remove(user);
        }
        Ok(())
    }

    /// Sets (or clears) the message push URL of an Official Account, as shown by
    /// `GET /mock/config`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let oa = mock.official_account().appid.clone();
    /// mock.set_push_url(&oa, Some("http://127.0.0.1:3000/auth/wechat/push")).unwrap();
    /// assert_eq!(mock.push_url(&oa).as_deref(), Some("http://127.0.0.1:3000/auth/wechat/push"));
    /// assert!(mock.set_push_url(&mock.website().appid, None).is_err());
    /// # Ok(()) }
    /// ```
    pub fn set_push_url(&self, appid: &str, url: Option<&str>) -> Result<(), MockError> {
        self.shared.set_push_url(appid, url)
    }

    /// The push URL of an Official Account, if set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.push_url(&mock.official_account().appid), None);
    /// # Ok(()) }
    /// ```
    pub fn push_url(&self, appid: &str) -> Option<String> {
        self.shared.lock().push_urls.get(appid).cloned()
    }

    /// Sets (or clears) where the mini program `appid` sends its requests: the site's origin
    /// (e.g. `http://127.0.0.1:3000`). The phone page's "确认 / 取消 as USER" buttons under
    /// "Mini program codes" POST `{scene, code}` to `{url}/auth/wechat/miniprogram/scan/open`,
    /// then `{scene, token, decision}` with the token it answered to
    /// `{url}/auth/wechat/miniprogram/scan` (also `POST /mock/miniprogram_server`).
    ///
    /// Errors: [`MockError::UnknownApp`], [`MockError::WrongAppKind`] for an app that is no
    /// mini program, [`MockError::Invalid`] for a URL that is not http(s).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let mini = mock.mini_program().appid.clone();
    /// mock.set_mini_program_server(&mini, Some("http://127.0.0.1:3000/")).unwrap();
    /// assert_eq!(mock.mini_program_server(&mini).as_deref(), Some("http://127.0.0.1:3000"));
    /// assert!(mock.set_mini_program_server(&mini, Some("ftp://x")).is_err());
    /// assert!(mock.set_mini_program_server(&mock.official_account().appid, None).is_err());
    /// mock.set_mini_program_server(&mini, None).unwrap();
    /// assert_eq!(mock.mini_program_server(&mini), None);
    /// # Ok(()) }
    /// ```
    pub fn set_mini_program_server(&self, appid: &str, url: Option<&str>) -> Result<(), MockError> {
        self.shared.set_mini_program_server(appid, url)
    }

    /// The server of the mini program `appid`, if set (without a trailing `/`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.mini_program_server(&mock.mini_program().appid), None);
    /// # Ok(()) }
    /// ```
    pub fn mini_program_server(&self, appid: &str) -> Option<String> {
        self.shared.lock().mini_servers.get(appid).cloned()
    }

    /// `user` scans the parametric QR code named by `qr_url_or_ticket` (what a phone reads
    /// from the image, `http://weixin.qq.com/q/…`, or the ticket): the mock pushes the event
    /// WeChat would to the Official Account's push URL and returns once delivery is over.
    ///
    /// - A user who does not follow the account follows it now (`cgi-bin/user/info` then says
    ///   `subscribe: 1`, `subscribe_scene: ADD_SCENE_QR_CODE` and the scene) and the event is
    ///   `subscribe` with `EventKey` `qrscene_SCENE`; a follower gets `SCAN` with `SCENE`.
    /// - The XML is signed with the push token (`signature`, `timestamp`, `nonce`, `openid` in
    ///   the query); with an EncodingAESKey it goes in safe mode (`encrypt_type=aes`,
    ///   `msg_signature`, body `<xml><ToUserName/><Encrypt/></xml>`).
    /// - Unless answered within [`MockConfig::push_timeout`] (5 s) with a 2xx and `success`,
    ///   an empty body or a reply XML, the same request is sent again: at most 3 deliveries.
    ///   Every delivery counts as a call of `"push"` ([`MockWechat::calls`]).
    ///
    /// Errors: [`MockError::UnknownTicket`]; [`MockError::ExpiredTicket`] (nothing is
    /// pushed); [`MockError::UnknownUser`]; [`MockError::NoPushUrl`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axum::{Router, routing::post};
    /// use wechat_auth_mock::MockWechat;
    ///
    /// // The app's push endpoint: here a receiver that acknowledges everything.
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let push_url = format!("http://{}/push", listener.local_addr()?);
    /// let app = Router::new().route("/push", post(|| async { "success" }));
    /// tokio::spawn(async move { axum::serve(listener, app).await });
    ///
    /// let mock = MockWechat::start().await?;
    /// let oa = mock.official_account().clone();
    /// mock.set_push_url(&oa.appid, Some(&push_url))?;
    ///
    /// // The app creates a temporary QR code with a string scene, as the scan login does.
    /// let http = reqwest::Client::new();
    /// let token: serde_json::Value = http
    ///     .get(format!("{}/cgi-bin/token", mock.api_base()))
    ///     .query(&[("grant_type", "client_credential"), ("appid", &oa.appid), ("secret", &oa.secret)])
    ///     .send().await?.json().await?;
    /// let qr: serde_json::Value = http
    ///     .post(format!("{}/cgi-bin/qrcode/create", mock.api_base()))
    ///     .query(&[("access_token", token["access_token"].as_str().unwrap())])
    ///     .json(&serde_json::json!({"expire_seconds": 300, "action_name": "QR_STR_SCENE",
    ///                               "action_info": {"scene": {"scene_str": "login_1"}}}))
    ///     .send().await?.json().await?;
    ///
    /// // Bob, who does not follow the account yet, scans it with his phone.
    /// let report = mock.scan(qr["url"].as_str().unwrap(), "bob").await?;
    /// assert_eq!((report.event.as_str(), report.event_key.as_str()), ("subscribe", "qrscene_login_1"));
    /// assert_eq!(report.openid, mock.user("bob").unwrap().openid_for(&oa.appid));
    /// assert!(report.acknowledged && report.encrypted);
    /// assert_eq!(report.deliveries, 1);
    /// assert!(mock.is_subscribed("bob"));
    ///
    /// // Scanning again, now as a follower: a SCAN event.
    /// let again = mock.scan(qr["ticket"].as_str().unwrap(), "bob").await?;
    /// assert_eq!((again.event.as_str(), again.event_key.as_str()), ("SCAN", "login_1"));
    /// assert_eq!(mock.calls("push"), 2);
    /// # Ok(()) }
    /// ```
    pub async fn scan(&self, qr_url_or_ticket: &str, user: &str) -> Result<ScanReport, MockError> {
        self.scan_with(qr_url_or_ticket, user, ScanOptions::new())
            .await
    }

    /// [`MockWechat::scan`] with options: override the follow state, or deliver to another
    /// push URL for this scan.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth_mock::{MockError, MockWechat, ScanOptions};
    ///
    /// let mock = MockWechat::start().await?;
    /// // Nothing listens on port 9 (discard): three deliveries, none acknowledged — once the
    /// // code exists. An unknown code is refused before anything is sent.
    /// let opts = ScanOptions::new().subscribed(true).push_url("http://127.0.0.1:9/push");
    /// let err = mock.scan_with("http://weixin.qq.com/q/02nope", "alice", opts).await.unwrap_err();
    /// assert!(matches!(err, MockError::UnknownTicket(_)));
    /// assert_eq!(mock.calls("push"), 0);
    /// # Ok(()) }
    /// ```
    pub async fn scan_with(
        &self,
        qr_url_or_ticket: &str,
        user: &str,
        options: ScanOptions,
    ) -> Result<ScanReport, MockError> {
        let target = scan::Target::url_or_ticket(qr_url_or_ticket);
        self.shared.scan(&target, user, &options).await
    }

    /// The live ticket whose QR code encodes `url` (what a phone reads from the image).
    /// `None` when no live ticket has that url (unknown, or expired on the mock clock).
    /// [`QrTicket`] shows a whole round trip.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.ticket_for_url("http://weixin.qq.com/q/02nothing"), None);
    /// # Ok(()) }
    /// ```
    pub fn ticket_for_url(&self, url: &str) -> Option<String> {
        let now = self.now();
        let inner = self.shared.lock();
        inner
            .ticket_by_url(url)
            .filter(|t| t.alive(now))
            .map(|t| t.ticket.clone())
    }

    /// What the mock knows about a live ticket: app, scene, url, expiry. `None` for an
    /// unknown or expired ticket. [`QrTicket`] shows a whole round trip.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.qr_ticket("gQH47joAAAAAAAAAASxodHRw").is_none());
    /// # Ok(()) }
    /// ```
    pub fn qr_ticket(&self, ticket: &str) -> Option<QrTicket> {
        cgi::live_ticket(&self.shared, ticket)
    }

    /// `url` (a `qrconnect` or `oauth2/authorize` URL, fragment and all) with
    /// `mock_user=USER&mock_action=approve` added: opening it answers the approving 302.
    ///
    /// ```
    /// use wechat_auth_mock::MockWechat;
    ///
    /// let url = "http://127.0.0.1:1/connect/qrconnect?appid=wx1&state=a#wechat_redirect";
    /// assert_eq!(
    ///     MockWechat::approve_url(url, "alice"),
    ///     "http://127.0.0.1:1/connect/qrconnect?appid=wx1&state=a&mock_user=alice&mock_action=approve"
    /// );
    /// ```
    pub fn approve_url(url: &str, user: &str) -> String {
        with_mock_params(url, Some(user), "approve")
    }

    /// `url` with `mock_action=deny` added: opening it answers what a refusal does.
    ///
    /// ```
    /// use wechat_auth_mock::MockWechat;
    ///
    /// assert!(MockWechat::deny_url("http://h/connect/qrconnect?appid=wx1").ends_with("&mock_action=deny"));
    /// ```
    pub fn deny_url(url: &str) -> String {
        with_mock_params(url, None, "deny")
    }

    /// `url` with `mock_user=USER&mock_action=snapshot` added (OA `snsapi_userinfo` only):
    /// the code's exchange says `is_snapshotuser: 1`.
    ///
    /// ```
    /// use wechat_auth_mock::MockWechat;
    ///
    /// assert!(MockWechat::snapshot_url("http://h/connect/oauth2/authorize?appid=wx2", "bob")
    ///     .ends_with("&mock_user=bob&mock_action=snapshot"));
    /// ```
    pub fn snapshot_url(url: &str, user: &str) -> String {
        with_mock_params(url, Some(user), "snapshot")
    }
}

fn with_mock_params(url: &str, user: Option<&str>, action: &str) -> String {
    let base = url.split('#').next().unwrap_or_default();
    let sep = if base.contains('?') { '&' } else { '?' };
    let user = user
        .map(|u| {
            let u: String = url::form_urlencoded::byte_serialize(u.as_bytes()).collect();
            format!("mock_user={u}&")
        })
        .unwrap_or_default();
    format!("{base}{sep}{user}mock_action={action}")
}

/// The client that delivers pushes, as WeChat's servers would: straight to the URL (no
/// proxy from the environment), no redirects, a short connect timeout. The per-delivery
/// deadline is set on each request.
fn push_client() -> io::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(scan::PUSH_CONNECT_TIMEOUT)
        .user_agent("Mozilla/4.0 (mock wechat push)")
        .build()
        .map_err(io::Error::other)
}

/// `http://HOST:PORT` for a bound address; an unspecified address is reached via loopback.
fn origin(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

async fn require_get() -> Response {
    WxError::new(43001).into_response()
}

async fn require_post() -> Response {
    WxError::new(43002).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "mock wechat: no such endpoint").into_response()
}

/// All routes: WeChat's endpoints behind the counting/fault middleware, then the control API
/// and the avatars.
fn router(shared: Arc<Shared>) -> Router {
    let wechat = Router::new()
        .route(
            "/connect/qrconnect",
            get(pages::qrconnect).fallback(require_get),
        )
        .route(
            "/connect/oauth2/authorize",
            get(wecom::authorize).fallback(require_get),
        )
        .route(
            "/sns/oauth2/access_token",
            get(sns::access_token).fallback(require_get),
        )
        .route(
            "/sns/oauth2/refresh_token",
            get(sns::refresh_token).fallback(require_get),
        )
        .route("/sns/userinfo", get(sns::userinfo).fallback(require_get))
        .route("/sns/auth", get(sns::auth).fallback(require_get))
        .route(
            "/sns/jscode2session",
            get(sns::jscode2session).fallback(require_get),
        )
        .route("/cgi-bin/token", get(cgi::token).fallback(require_get))
        .route(
            "/cgi-bin/stable_token",
            post(cgi::stable_token).fallback(require_post),
        )
        .route(
            "/cgi-bin/qrcode/create",
            post(cgi::qrcode_create).fallback(require_post),
        )
        .route(
            "/cgi-bin/showqrcode",
            get(cgi::showqrcode).fallback(require_get),
        )
        .route(
            "/cgi-bin/user/info",
            get(cgi::user_info).fallback(require_get),
        )
        .route(
            "/wxa/business/getuserphonenumber",
            post(wxa::phone_number).fallback(require_post),
        )
        .route(
            "/wxa/checksession",
            get(wxa::checksession).fallback(require_get),
        )
        .route(
            "/wxa/getwxacodeunlimit",
            post(wxa::wxa_code_unlimit).fallback(require_post),
        )
        .route(
            "/wxa/generate_urllink",
            post(links::generate_urllink).fallback(require_post),
        )
        .route(
            "/wxa/generatescheme",
            post(links::generatescheme).fallback(require_post),
        )
        .route(
            "/wwlogin/sso/login",
            get(wecom::sso_login).fallback(wecom::require_get),
        )
        .route(
            "/cgi-bin/gettoken",
            get(wecom::gettoken).fallback(wecom::require_get),
        )
        .route(
            "/cgi-bin/auth/getuserinfo",
            get(wecom::getuserinfo).fallback(wecom::require_get),
        )
        .route(
            "/cgi-bin/auth/getuserdetail",
            post(wecom::getuserdetail).fallback(wecom::require_post),
        )
        .route(
            "/cgi-bin/service/get_suite_token",
            post(wecom_suite::get_suite_token).fallback(wecom::require_post),
        )
        .route(
            "/cgi-bin/service/auth/getuserinfo3rd",
            get(wecom_suite::getuserinfo3rd).fallback(wecom::require_get),
        )
        .route(
            "/cgi-bin/service/auth/getuserdetail3rd",
            post(wecom_suite::getuserdetail3rd).fallback(wecom::require_post),
        )
        .route(
            "/platform/oauth/connect/",
            get(douyin::connect).fallback(douyin::wrong_method),
        )
        .route(
            "/oauth/access_token/",
            post(douyin::access_token).fallback(douyin::wrong_method),
        )
        .route(
            "/oauth/refresh_token/",
            post(douyin::refresh_token).fallback(douyin::wrong_method),
        )
        .route(
            "/oauth/renew_refresh_token/",
            post(douyin::renew_refresh_token).fallback(douyin::wrong_method),
        )
        .route(
            "/oauth/client_token/",
            post(douyin::client_token).fallback(douyin::wrong_method),
        )
        .route(
            "/oauth/userinfo/",
            post(douyin::userinfo).fallback(douyin::wrong_method),
        )
        .route(
            "/api/apps/v2/jscode2session",
            post(douyin_mini::jscode2session).fallback(douyin_mini::wrong_method),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            middleware::count_and_inject,
        ));
    let control = Router::new()
        .route("/mock/config", get(control::config))
        .route("/mock/sdk/code", post(control::sdk_code))
        .route("/mock/sdk/phone_code", post(control::phone_code))
        .route("/mock/miniprogram/open", post(control::open_mini_program))
        .route(
            "/mock/calls",
            get(control::calls).delete(control::reset_calls),
        )
        .route(
            "/mock/faults",
            post(control::add_fault).delete(control::clear_faults),
        )
        .route(
            "/mock/clock",
            get(control::clock).post(control::advance_clock),
        )
        .route("/mock/follow", post(control::follow))
        .route("/mock/scan", post(scan::scan))
        .route("/mock/phone", get(phone::page))
        .route("/mock/phone/scan", post(phone::scan))
        .route("/mock/phone/miniprogram", post(phone::mini_program))
        .route("/mock/phone/link", post(phone::open_link))
        .route("/mock/urllink/{ticket}", get(links::url_link_page))
        .route("/mock/miniprogram_server", post(phone::set_server))
        .route("/mock/push_url", post(scan::set_push_url))
        .route("/mock/push_format", post(scan::set_push_format))
        .route("/mock/message", post(scan::message))
        .route("/mock/wecom/suite_ticket", post(wecom_suite::push_ticket))
        .route("/mock/wecom/verify_url", post(wecom_suite::verify_url))
        .route("/mock/phone/open", get(phone::open))
        .route("/mock/phone/answer", post(phone::answer))
        .route("/mock/phone/message", post(phone::send))
        .route("/mock/redirect_domains", post(control::redirect_domains))
        .route("/mock/text_plain", post(control::text_plain))
        .route("/mock/douyin/legacy", post(control::douyin_legacy))
        .route("/mmopen/vi_32/{key}/{size}", get(pages::avatar));
    wechat
        .merge(control)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(middleware::log_requests))
        .with_state(shared)
}
