//! The WeCom (企业微信) provider's services, shared by whatever channel logs people in
//! through WeCom: the corp apps' tokens (`cgi-bin/gettoken`, per corp + agent), the
//! third-party suite's newest `suite_ticket` and its `suite_access_token`, all shared through
//! the store, and the code exchange that turns a WeCom login code into a [`WecomUser`].
//! Built on the WeCom client crate and the core's store; it never names a channel.

pub(crate) mod failure;
mod tokens;

use std::{sync::Arc, time::Duration};

use wechat_auth_client::Secret;
use wecom_client::{CorpUser, ErrorKind, Gender, SuiteUser, WecomClient, WecomError};

use crate::{
    config::wecom_settings::{WecomCorp, WecomSection, WecomSuite},
    core::{
        failure::Failure,
        store::{Store, keys::Key},
    },
    user::{WecomDetail, WecomUser},
};
use failure::WecomFailure;
use tokens::{Current, SharedToken};

/// How long a `suite_ticket` is kept: WeCom's tickets are valid 30 minutes.
const TICKET_TTL: Duration = Duration::from_secs(30 * 60);

/// One corp app and its token.
#[derive(Debug)]
struct CorpApp {
    corp: WecomCorp,
    token: SharedToken,
}

/// The suite, its token and where its newest ticket is kept.
#[derive(Debug)]
struct SuiteApp {
    suite: WecomSuite,
    token: SharedToken,
    ticket: Key,
}

/// Which app a login went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WecomApp<'a> {
    /// A self-built or agent-developed app.
    Corp(&'a WecomCorp),
    /// The third-party suite.
    Suite(&'a WecomSuite),
}

/// The WeCom provider: its apps, their tokens, the suite ticket and the code exchange.
pub(crate) struct Wecom {
    client: WecomClient,
    store: Arc<dyn Store>,
    corps: Vec<CorpApp>,
    suite: Option<SuiteApp>,
}

impl std::fmt::Debug for Wecom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wecom")
            .field(
                "corps",
                &self.corps.iter().map(|c| &c.corp).collect::<Vec<_>>(),
            )
            .field("suite", &self.suite.as_ref().map(|s| s.suite.suite_id()))
            .finish_non_exhaustive()
    }
}

impl Wecom {
    /// The provider for the checked `section`, sharing tokens and tickets through `store`.
    pub(crate) fn new(section: &WecomSection, store: Arc<dyn Store>) -> Self {
        Self {
            client: section.client.clone(),
            store,
            corps: section
                .corps
                .iter()
                .map(|c| CorpApp {
                    token: SharedToken::new(Key::of(c.corp_id(), "wecom_token", c.agent_id())),
                    corp: c.clone(),
                })
                .collect(),
            suite: section.suite.as_ref().map(|s| SuiteApp {
                token: SharedToken::new(Key::of(
                    s.suite.suite_id(),
                    "wecom_suite_token",
                    "current",
                )),
                ticket: Key::of(s.suite.suite_id(), "wecom_suite_ticket", "newest"),
                suite: s.suite.clone(),
            }),
        }
    }

    /// The WeCom client (its login URLs).
    pub(crate) fn client(&self) -> &WecomClient {
        &self.client
    }

    /// The corp apps, in configuration order.
    pub(crate) fn corps(&self) -> impl Iterator<Item = &WecomCorp> {
        self.corps.iter().map(|c| &c.corp)
    }

    /// The suite, when one is configured.
    pub(crate) fn suite(&self) -> Option<&WecomSuite> {
        self.suite.as_ref().map(|s| &s.suite)
    }

    /// The corp app a login is for: `corp` (and `agent`) when given, else the only one.
    pub(crate) fn corp(
        &self,
        corp: Option<&str>,
        agent: Option<&str>,
    ) -> Result<&WecomCorp, Failure> {
        let mut matching = self.corps().filter(|c| {
            corp.is_none_or(|id| c.corp_id() == id) && agent.is_none_or(|a| c.agent_id() == a)
        });
        match (matching.next(), corp) {
            (Some(c), Some(_)) => Ok(c),
            (Some(c), None) if self.corps.len() == 1 => Ok(c),
            _ => Err(WecomFailure::UnknownCorp(corp.unwrap_or_default().to_owned()).into()),
        }
    }

    fn corp_app(&self, corp: &WecomCorp) -> Result<&CorpApp, Failure> {
        self.corps
            .iter()
            .find(|c| c.corp == *corp)
            .ok_or_else(|| WecomFailure::UnknownCorp(corp.corp_id().to_owned()).into())
    }

    fn suite_app(&self) -> Result<&SuiteApp, Failure> {
        self.suite
            .as_ref()
            .ok_or(Failure::ChannelOff("WeCom third-party"))
    }

    /// Runs `call` with `corp`'s token; when WeCom refuses the token (40014, 42001, 40001)
    /// it is dropped (only if still current) and `call` runs once more with a fresh one.
    pub(crate) async fn with_corp_token<T, F, Fut>(
        &self,
        corp: &WecomCorp,
        call: F,
    ) -> Result<T, Failure>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WecomError>>,
    {
        let app = self.corp_app(corp)?;
        let fetch = || async {
            let t = self
                .client
                .gettoken(app.corp.corp_id(), app.corp.secret())
                .await?;
            crate::metrics::wecom_token_fetch("corp");
            tracing::info!(
                corp_id = app.corp.corp_id(),
                agent_id = app.corp.agent_id(),
                expires_in = t.expires_in,
                "fetched a WeCom corp token"
            );
            Ok(Current::new(&t.access_token, t.expires_in))
        };
        let current = app.token.current(self.store.as_ref(), fetch).await?;
        match call(current.token()).await {
            Err(e) if e.kind() == ErrorKind::TokenInvalid => {
                app.token
                    .drop_if_current(self.store.as_ref(), &current)
                    .await?;
                let fresh = app.token.current(self.store.as_ref(), fetch).await?;
                Ok(call(fresh.token()).await?)
            }
            other => Ok(other?),
        }
    }

    /// Keeps `ticket` (pushed at `timestamp`) as the suite's newest, for every instance;
    /// an older ticket than the one kept is ignored. `false` when it was not kept.
    pub(crate) async fn suite_ticket_received(
        &self,
        ticket: &Secret,
        timestamp: u64,
    ) -> Result<bool, Failure> {
        let app = self.suite_app()?;
        let store = self.store.as_ref();
        if let Some(kept) = store.get(&app.ticket).await?
            && let Some((at, _)) = parse_ticket(&kept)
            && at > timestamp
        {
            return Ok(false);
        }
        let value = format!("{timestamp} {}", ticket.expose());
        store
            .set(&app.ticket, value.into_bytes(), TICKET_TTL)
            .await?;
        Ok(true)
    }

    /// The newest ticket, when one arrived within its lifetime.
    async fn suite_ticket(&self, app: &SuiteApp) -> Result<Option<Secret>, Failure> {
        Ok(self
            .store
            .get(&app.ticket)
            .await?
            .as_deref()
            .and_then(parse_ticket)
            .map(|(_, t)| t))
    }

    /// Runs `call` with the suite's token; when WeCom refuses it (40082, 42009) it is
    /// dropped (only if still current) and `call` runs once more with a fresh one. Before any
    /// `suite_ticket` has arrived it fails at once with [`WecomFailure::NoSuiteTicket`].
    pub(crate) async fn with_suite_token<T, F, Fut>(&self, call: F) -> Result<T, Failure>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WecomError>>,
    {
        let app = self.suite_app()?;
        if app.token.cached().is_none() && self.suite_ticket(app).await?.is_none() {
            return Err(WecomFailure::NoSuiteTicket.into());
        }
        let fetch = || async {
            let ticket = self
                .suite_ticket(app)
                .await?
                .ok_or(Failure::from(WecomFailure::NoSuiteTicket))?;
            let t = self
                .client
                .get_suite_token(app.suite.suite_id(), app.suite.secret(), &ticket)
                .await?;
            crate::metrics::wecom_token_fetch("suite");
            tracing::info!(
                suite_id = app.suite.suite_id(),
                expires_in = t.expires_in,
                "fetched a WeCom suite token"
            );
            Ok(Current::new(&t.suite_access_token, t.expires_in))
        };
        let current = app.token.current(self.store.as_ref(), fetch).await?;
        match call(current.token()).await {
            Err(e) if e.kind() == ErrorKind::SuiteTokenInvalid => {
                app.token
                    .drop_if_current(self.store.as_ref(), &current)
                    .await?;
                let fresh = app.token.current(self.store.as_ref(), fetch).await?;
                Ok(call(fresh.token()).await?)
            }
            other => Ok(other?),
        }
    }

    /// Exchanges a login `code` of `app` for who logged in: a member (with the fields a
    /// `user_ticket` grants, for `snsapi_privateinfo`) or a non-member.
    pub(crate) async fn login(&self, app: WecomApp<'_>, code: &str) -> Result<WecomUser, Failure> {
        match app {
            WecomApp::Corp(corp) => self.corp_login(corp, code).await,
            WecomApp::Suite(_) => self.suite_login(code).await,
        }
    }

    async fn corp_login(&self, corp: &WecomCorp, code: &str) -> Result<WecomUser, Failure> {
        let client = &self.client;
        let who = self
            .with_corp_token(corp, |t| async move { client.getuserinfo(&t, code).await })
            .await?;
        let corp_id = corp.corp_id();
        Ok(match who {
            CorpUser::Member {
                user_id,
                user_ticket,
            } => {
                let mut user = WecomUser::member(corp_id, user_id);
                if let Some(ticket) = user_ticket {
                    let d = self
                        .with_corp_token(corp, |t| {
                            let ticket = ticket.clone();
                            async move { client.getuserdetail(&t, &ticket).await }
                        })
                        .await?;
                    user.avatar_url = non_empty(d.avatar);
                    user.detail = Some(Box::new(WecomDetail {
                        gender: gender(d.gender),
                        mobile: non_empty(d.mobile),
                        email: non_empty(d.email).or(non_empty(d.biz_mail)),
                    }));
                }
                user
            }
            CorpUser::NonMember { openid, .. } => WecomUser::non_member(corp_id, openid),
            other => {
                return Err(Failure::BadRequest(format!(
                    "WeCom answered an identity this layer does not know: {other:?}"
                )));
            }
        })
    }

    async fn suite_login(&self, code: &str) -> Result<WecomUser, Failure> {
        let client = &self.client;
        let app = self.suite_app()?;
        let who = self
            .with_suite_token(|t| async move { client.getuserinfo3rd(&t, code).await })
            .await?;
        Ok(match who {
            SuiteUser::Member {
                corp_id,
                user_id,
                open_userid,
                user_ticket,
                ..
            } => {
                let mut user = WecomUser::member(corp_id, user_id);
                user.open_userid = open_userid;
                if let Some(ticket) = user_ticket {
                    let d = self
                        .with_suite_token(|t| {
                            let ticket = ticket.clone();
                            async move { client.getuserdetail3rd(&t, &ticket).await }
                        })
                        .await?;
                    user.avatar_url = non_empty(d.avatar);
                    user.nickname = non_empty(d.name);
                    user.detail = Some(Box::new(WecomDetail {
                        gender: gender(d.gender),
                        ..WecomDetail::default()
                    }));
                }
                user
            }
            // A non-member of a third-party login belongs to no corp: the suite vouches.
            SuiteUser::NonMember { openid } => WecomUser::non_member(app.suite.suite_id(), openid),
            other => {
                return Err(Failure::BadRequest(format!(
                    "WeCom answered an identity this layer does not know: {other:?}"
                )));
            }
        })
    }
}

/// `"TIMESTAMP TICKET"` as the store keeps a suite ticket.
fn parse_ticket(raw: &[u8]) -> Option<(u64, Secret)> {
    let raw = std::str::from_utf8(raw).ok()?;
    let (at, ticket) = raw.split_once(' ')?;
    (!ticket.is_empty()).then(|| Some((at.parse().ok()?, Secret::new(ticket))))?
}

fn non_empty(s: String) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn gender(g: Gender) -> Option<String> {
    match g {
        Gender::Male => Some("male".to_owned()),
        Gender::Female => Some("female".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::store::MemoryStore;

    fn section() -> WecomSection {
        crate::config::WechatConfig::builder()
            .with_public_url("https://example.com")
            .with_session_secret("0123456789abcdef0123456789abcdef")
            .with_wecom_corp(WecomCorp::new("ww1", "1", "a"))
            .with_wecom_corp(WecomCorp::new("ww2", "5", "b"))
            .with_wecom_suite(WecomSuite::new(
                "ww8",
                "s",
                "t",
                "mockSuiteEncodingAesKey0123456789abcdefghij",
            ))
            .with_wecom_bases("http://127.0.0.1:9", "http://127.0.0.1:9")
            .build()
            .unwrap()
            .wecom
    }

    #[tokio::test]
    async fn a_login_before_any_ticket_fails_at_once_and_the_newest_ticket_wins() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let wecom = Wecom::new(&section(), store.clone());
        let started = std::time::Instant::now();
        let err = wecom
            .login(WecomApp::Suite(wecom.suite().unwrap()), "c")
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(matches!(
            err.refusal::<WecomFailure>(),
            Some(WecomFailure::NoSuiteTicket)
        ));
        assert!(err.to_string().contains("no suite_ticket yet"), "{err}");
        assert!(
            wecom
                .suite_ticket_received(&Secret::new("T2"), 200)
                .await
                .unwrap()
        );
        assert!(
            !wecom
                .suite_ticket_received(&Secret::new("T1"), 100)
                .await
                .unwrap()
        );
        // Another instance on the same store reads it.
        let other = Wecom::new(&section(), store);
        let app = other.suite.as_ref().unwrap();
        assert_eq!(
            other.suite_ticket(app).await.unwrap().unwrap().expose(),
            "T2"
        );
    }

    #[test]
    fn the_corp_of_a_login() {
        let wecom = Wecom::new(&section(), Arc::new(MemoryStore::new()));
        assert_eq!(wecom.corp(Some("ww2"), None).unwrap().agent_id(), "5");
        assert!(
            wecom.corp(None, None).is_err(),
            "several corps: corp= is needed"
        );
        assert!(wecom.corp(Some("ww9"), None).is_err());
        assert!(wecom.corp(Some("ww1"), Some("5")).is_err());
    }
}
