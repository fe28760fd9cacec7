//! Accounts in a real database: SQLite through `sqlx`, with migrations, keyed by unionid with
//! an (appid, openid) fallback, and WeChat bound to a signed-in account.
//!
//! `cargo run --example accounts_sqlite` creates `accounts.db` (or the file in
//! `ACCOUNTS_DB`), runs the migrations in `examples/migrations/accounts_sqlite/`, starts the
//! mock WeChat and an app on `PORT` (default 3003). With `WECHAT_*` variables set it uses
//! those apps instead (see the README). `GET /account` shows the signed-in account and every
//! WeChat identity bound to it.
//!
//! What the `on_login` hook ([`Accounts::on_login`], set with
//! [`with_on_login_bind`](wechat_auth::WechatConfigBuilder::with_on_login_bind)) does, in one
//! write transaction:
//!
//! 1. The identity is looked up by (appid, openid), WeChat's id of a person in one app; a
//!    first login through a new app is found through the `unionid`, the same for every app
//!    bound to one Open Platform account (an app not bound to it has no unionid: only the
//!    fallback works).
//! 2. When the login request already carries a session (someone signed in adds WeChat to
//!    their account), the identity is bound to that account, or the login is refused when
//!    the identity already belongs to another account.
//! 3. Otherwise an unknown identity gets a new account.
//!
//! The account id becomes [`WechatUser::subject`], so handlers know the account without a
//! query.

use std::{path::Path, str::FromStr, time::Duration};

use axum::{Json, Router, extract::State, routing::get};
use serde::Serialize;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use wechat_auth::{
    LoginRefused, WechatAuthLayer, WechatConfig, WechatConfigBuilder, WechatUser, mock::MockWechat,
};

/// The example's migrations, embedded at compile time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("examples/migrations/accounts_sqlite");

/// What the hook answers when a WeChat identity already belongs to another account.
pub const ALREADY_BOUND: &str = "这个微信已绑定另一个账号，请先用它登录并解绑 · \
     This WeChat is already bound to another account: sign in with it and unbind it first.";

/// The accounts and their WeChat identities, in SQLite.
#[derive(Clone, Debug)]
pub struct Accounts {
    pool: SqlitePool,
}

/// One WeChat identity bound to an account.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Identity {
    /// The WeChat app.
    pub appid: String,
    /// The person's id in that app.
    pub openid: String,
    /// The person's id across the Open Platform account, when WeChat gave one.
    pub unionid: Option<String>,
    /// The channel of the identity's first login.
    pub channel: String,
}

/// What linking a login found.
enum Link {
    Account(i64),
    BoundElsewhere,
}

impl Accounts {
    /// Opens (creating it if needed) the database file at `path` and runs the migrations.
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            // Logins write; a second writer waits for the first instead of failing.
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The `on_login` hook: links `user` to its account (binding it to the signed-in one,
    /// when there is one) and answers the account id, or refuses.
    pub async fn on_login(
        &self,
        user: WechatUser,
        signed_in: Option<WechatUser>,
    ) -> Result<Option<String>, LoginRefused> {
        // The signed-in session's subject is the account id this hook gave at that login.
        let current = signed_in
            .and_then(|s| s.subject)
            .and_then(|s| i64::from_str(&s).ok());
        match self.link(&user, current).await {
            Ok(Link::Account(id)) => Ok(Some(id.to_string())),
            Ok(Link::BoundElsewhere) => Err(LoginRefused::new(ALREADY_BOUND)),
            Err(e) => {
                tracing::error!(error = %e, "accounts database");
                Err(LoginRefused::new(
                    "账号服务暂时不可用，请稍后再试 · Accounts are unavailable, try again later.",
                ))
            }
        }
    }

    async fn link(&self, user: &WechatUser, current: Option<i64>) -> Result<Link, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // A write first, so the transaction holds SQLite's write lock from its start: two
        // first logins of one person cannot both create an account.
        let known: Option<i64> = sqlx::query_scalar(
            "UPDATE wechat_identities SET last_login = unixepoch(), \
             unionid = COALESCE(?3, unionid) WHERE appid = ?1 AND openid = ?2 \
             RETURNING account_id",
        )
        .bind(&user.appid)
        .bind(&user.openid)
        .bind(&user.unionid)
        .fetch_optional(&mut *tx)
        .await?;
        let found = match (known, &user.unionid) {
            (Some(id), _) => Some(id),
            (None, Some(unionid)) => {
                sqlx::query_scalar(
                    "SELECT account_id FROM wechat_identities WHERE unionid = ?1 \
                     ORDER BY created_at LIMIT 1",
                )
                .bind(unionid)
                .fetch_optional(&mut *tx)
                .await?
            }
            (None, None) => None,
        };
        // The signed-in account, if it still exists.
        let current = match current {
            Some(id) => {
                sqlx::query_scalar::<_, i64>("SELECT id FROM accounts WHERE id = ?1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => None,
        };
        let account = match (found, current) {
            (Some(owner), Some(current)) if owner != current => return Ok(Link::BoundElsewhere),
            (Some(owner), _) => owner,
            (None, Some(current)) => current,
            (None, None) => {
                sqlx::query_scalar("INSERT INTO accounts (nickname) VALUES (?1) RETURNING id")
                    .bind(&user.nickname)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        if known.is_none() {
            sqlx::query(
                "INSERT INTO wechat_identities (appid, openid, unionid, channel, account_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&user.appid)
            .bind(&user.openid)
            .bind(&user.unionid)
            .bind(user.channel.as_str())
            .bind(account)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Link::Account(account))
    }

    /// Every WeChat identity bound to `account`.
    pub async fn identities(&self, account: i64) -> Result<Vec<Identity>, sqlx::Error> {
        sqlx::query_as(
            "SELECT appid, openid, unionid, channel FROM wechat_identities \
             WHERE account_id = ?1 ORDER BY created_at, appid",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await
    }

    /// How many accounts there are.
    pub async fn count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.pool)
            .await
    }
}

/// The configuration with the hook, and the app: `/account` (protected) shows the account.
pub fn app(
    builder: WechatConfigBuilder,
    accounts: Accounts,
) -> Result<Router, wechat_auth::ConfigError> {
    let hook = accounts.clone();
    let cfg = builder
        .with_on_login_bind(move |user: WechatUser, signed_in: Option<WechatUser>| {
            let accounts = hook.clone();
            async move { accounts.on_login(user, signed_in).await }
        })
        .with_public_path("/")
        .build()?;
    Ok(Router::new()
        .route("/", get(home))
        .route("/account", get(account))
        .layer(WechatAuthLayer::new(cfg))
        .with_state(accounts))
}

async fn home() -> &'static str {
    "accounts in SQLite: log in at /auth/wechat/login?return_to=/account"
}

async fn account(
    State(accounts): State<Accounts>,
    user: WechatUser,
) -> Result<Json<serde_json::Value>, (http::StatusCode, String)> {
    let unavailable = |e: sqlx::Error| (http::StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    let id: i64 = user
        .subject
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or((http::StatusCode::FORBIDDEN, "no account".to_owned()))?;
    let identities = accounts.identities(id).await.map_err(unavailable)?;
    Ok(Json(serde_json::json!({
        "account": id,
        "signed_in_as": { "appid": user.appid, "openid": user.openid, "channel": user.channel },
        "identities": identities,
    })))
}

#[allow(dead_code)] // the test includes this file and starts the app itself
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let real = match std::env::var("WECHAT_WEBSITE_APP_ID").or(std::env::var("WECHAT_OA_APP_ID")) {
        Ok(_) => Some(WechatConfigBuilder::from_env()?),
        Err(_) => None,
    };
    let db = std::env::var("ACCOUNTS_DB").unwrap_or_else(|_| "accounts.db".to_owned());
    let accounts = Accounts::open(Path::new(&db))
        .await
        .map_err(|e| format!("cannot open the accounts database {db:?} (ACCOUNTS_DB): {e}"))?;
    let port = match std::env::var("PORT") {
        Ok(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("PORT must be a port number (0-65535), got {p:?}"))?,
        Err(_) => 3003,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}; set PORT to a free port"))?;
    let url = format!("http://{}", listener.local_addr()?);

    let (builder, _mock) = match real {
        Some(builder) => (builder, None),
        None => {
            let mock = MockWechat::start().await?;
            let builder = WechatConfig::builder()
                .with_public_url(&url)
                .with_session_secret(session_secret())
                .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
                .with_website_app(&mock.website().appid, &mock.website().secret)
                .with_mobile_app(&mock.mobile().appid, &mock.mobile().secret)
                .with_mini_program(&mock.mini_program().appid, &mock.mini_program().secret);
            println!("mock wechat: {}", mock.url());
            (builder, Some(mock))
        }
    };
    let app = app(builder, accounts)?;
    println!("app: {url}");
    println!("accounts database: {db}");
    println!("log in: {url}/auth/wechat/login?return_to=/account");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// The session signing key: `WECHAT_SESSION_SECRET` when set (sessions survive a restart),
/// else a fresh random one per run, so nobody can forge a session for a demo left running.
fn session_secret() -> String {
    use rand::{Rng, distr::Alphanumeric};
    match std::env::var("WECHAT_SESSION_SECRET") {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => rand::rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect(),
    }
}
