//! What every endpoint of the layer shares about a request: serving it through the route
//! table (the body read within its limit and deadline, a failure rendered once), its query,
//! its cookies, and whether it comes from an allowed origin.

use std::time::Duration;

use axum_core::body::Body;
use bytes::Bytes;
use http::{Request, Response, header, request::Parts};

use crate::core::{failure::Failure, route::Table};

/// A tiny view over a query string.
pub(crate) struct Query<'a>(Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>);

impl<'a> Query<'a> {
    pub(crate) fn parse(query: Option<&'a str>) -> Self {
        Self(
            query
                .map(|q| form_urlencoded::parse(q.as_bytes()).take(32).collect())
                .unwrap_or_default(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// Serves one of the layer's own endpoints; `sub` is the path after the prefix. A failure
/// left over is answered as JSON (the API endpoints); the browser pages answer with HTML
/// pages themselves, through the one renderer, [`crate::core::render`].
pub(crate) async fn serve<B>(
    table: &Table,
    req: Request<B>,
    sub: &str,
    body_timeout: Duration,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    let (parts, body) = req.into_parts();
    let span = tracing::debug_span!("wechat_auth", endpoint = sub, method = %parts.method);
    let answer = async {
        let (channel, hit) = crate::core::route::find(table, sub, &parts)?;
        let body = match hit.body {
            crate::core::route::ReadBody::No => Bytes::new(),
            crate::core::route::ReadBody::UpTo(limit) => {
                read_body(body, limit, body_timeout).await?
            }
        };
        channel.call(hit, &parts, body).await
    };
    tracing::Instrument::instrument(answer, span)
        .await
        .unwrap_or_else(|failure| crate::core::render::json(&failure))
}

/// Reads a request body of at most `limit` bytes, within the configured body deadline
/// ([`crate::WechatConfigBuilder::with_body_timeout`], default
/// [`crate::config::DEFAULT_BODY_TIMEOUT`], for the whole body, not per chunk): a larger
/// one is `413`, a slower one `408` with `Connection: close`, so a client that trickles a
/// body (or announces more than it sends) cannot hold a connection and a task for ever.
async fn read_body<B>(body: B, limit: usize, deadline: Duration) -> Result<Bytes, Failure>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    use http_body_util::BodyExt;
    // A body announced (Content-Length) larger than the limit is refused at once, not after
    // the body deadline.
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(Failure::TooLarge);
    }
    let read = tokio::time::timeout(
        deadline,
        http_body_util::Limited::new(body, limit).collect(),
    );
    let Ok(collected) = read.await else {
        tracing::info!(
            timeout_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            "request body too slow; closing the connection"
        );
        return Err(Failure::BodyTimeout);
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Failure::TooLarge)
        }
        Err(_) => Err(Failure::BadBody),
    }
}

/// The origins a state-changing request may come from: the site's own, and the allow-listed.
#[derive(Clone, Debug)]
pub(crate) struct Origins {
    /// The site's own origin.
    own: String,
    /// Other allowed origins.
    allowed: Vec<String>,
}

impl Origins {
    pub(crate) fn new(own: String, allowed: Vec<String>) -> Self {
        Self { own, allowed }
    }

    /// Whether `origin` is one of the allow-listed others.
    pub(crate) fn is_allowed(&self, origin: &str) -> bool {
        self.allowed.iter().any(|a| a == origin)
    }

    /// Whether a state-changing request comes from our own origin (or an allow-listed one), or
    /// says nothing about it, as non-browser clients do. Browsers send `Origin` on every
    /// cross-site POST.
    pub(crate) fn same_origin(&self, req: &Parts) -> bool {
        match req.headers.get(header::ORIGIN).map(|o| o.to_str()) {
            None => true,
            Some(Ok(origin)) => origin.eq_ignore_ascii_case(&self.own) || self.is_allowed(origin),
            Some(Err(_)) => false,
        }
    }
}

/// The value of the cookie called `name`, if the request carries it exactly once. Two
/// cookies of one name are one planted beside ours (another path or a parent domain): then
/// neither is trusted.
pub(crate) fn cookie_value<'r>(req: &'r Parts, name: &str) -> Option<&'r str> {
    let mut named = crate::core::respond::request_cookies(req).filter(|c| c.name() == name);
    let first = named.next()?;
    if named.next().is_some() {
        return None;
    }
    first.value_raw()
}

/// Whether the query of `req` has `name=value` (its first `name`): what a route guard
/// (`core::route::Route::when`) asks of `login?channel=wecom`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn query_is(req: &Parts, name: &str, value: &str) -> bool {
    Query::parse(req.uri.query()).get(name) == Some(value)
}

#[cfg(test)]
mod query_tests {
    use super::query_is;

    fn parts(uri: &str) -> http::request::Parts {
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn query_is_reads_the_first_value() {
        assert!(query_is(
            &parts("/l?channel=wecom&channel=x"),
            "channel",
            "wecom"
        ));
        assert!(!query_is(&parts("/l?channel=wecomx"), "channel", "wecom"));
        assert!(!query_is(&parts("/l"), "channel", "wecom"));
    }
}
