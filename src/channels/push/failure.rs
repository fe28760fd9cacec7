//! Why a request to the push URL (from WeChat's push servers, or posing as them) is not
//! served: they read the status and retry on anything but `success`, so the answer is plain
//! text ([`crate::core::render::push`]), with no `Retry-After` (they keep their own
//! schedule), and the log says which setting to check, never the body.

use http::StatusCode;

use crate::core::failure::{BUSY_ZH, Description, Failure, Refusal};

/// Why a request to the push URL was not served.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum PushFailure {
    /// A signature, the timestamp, the ciphertext or the appid is wrong, or the signed query
    /// was used before (`403`): the error, and what to check.
    #[error("{error}")]
    Forged {
        /// What failed (never the body).
        error: String,
        /// Which setting to check.
        hint: &'static str,
    },
    /// Not a push in the console's format (`400`): the error, and what to check.
    #[error("{error}")]
    Malformed {
        /// What failed (never the body).
        error: String,
        /// Which setting to check.
        hint: &'static str,
    },
    /// The body is not UTF-8 (`400`).
    #[error("push_malformed")]
    NotUtf8,
    /// No push URL is configured (`404`).
    #[error("push_not_configured")]
    Off,
    /// The store could not record the push (`503`): WeChat sends it again.
    #[error("the store is unavailable: {0}")]
    StoreDown(String),
}

impl Refusal for PushFailure {
    /// How a refused push is answered: the English text is the plain-text body WeChat reads.
    fn describe(&self) -> Description {
        use tracing::Level;
        let (status, code, zh, en, level) = match self {
            Self::Forged { .. } => (
                StatusCode::FORBIDDEN,
                "push_forged",
                "推送签名无效。",
                "invalid signature",
                Level::WARN,
            ),
            Self::Malformed { .. } => (
                StatusCode::BAD_REQUEST,
                "push_malformed",
                "推送格式有误。",
                "malformed push",
                Level::WARN,
            ),
            Self::NotUtf8 => (
                StatusCode::BAD_REQUEST,
                "push_malformed",
                "推送内容不是 UTF-8。",
                "body is not UTF-8",
                Level::WARN,
            ),
            Self::Off => (
                StatusCode::NOT_FOUND,
                "push_not_configured",
                "未配置推送。",
                "push is not configured",
                Level::INFO,
            ),
            Self::StoreDown(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                BUSY_ZH,
                "try again",
                Level::ERROR,
            ),
        };
        Description {
            status,
            code,
            zh: zh.into(),
            en: en.into(),
            level,
            retry_after: None,
        }
    }

    /// A refused push: what to check (the body is never logged).
    fn log(&self, _: &Description) {
        match self {
            Self::Forged { hint, .. } | Self::Malformed { hint, .. } => {
                tracing::warn!(error = %self, hint, "push refused");
            }
            Self::NotUtf8 => {
                tracing::warn!(hint = "the body must be UTF-8 XML or JSON", "push refused");
            }
            Self::Off => tracing::info!("push refused: no push URL is configured"),
            Self::StoreDown(_) => {
                tracing::error!(error = %self, "store unavailable while checking a push");
            }
        }
    }

    fn is_push(&self) -> bool {
        true
    }
}

impl From<PushFailure> for Failure {
    fn from(f: PushFailure) -> Self {
        Failure::channel(f)
    }
}

#[cfg(test)]
mod tests {
    use http::header;

    use super::PushFailure;
    use crate::core::{failure::Failure, render};

    /// Every push refusal answers as before: status, code, the English text as the plain
    /// body, and no `Retry-After` (not even for the `503`).
    #[tokio::test]
    async fn every_push_refusal_is_answered_as_before() {
        let cases = [
            (
                PushFailure::Forged {
                    error: "bad signature".into(),
                    hint: "h",
                },
                403,
                "push_forged",
                "invalid signature",
            ),
            (
                PushFailure::Malformed {
                    error: "xml".into(),
                    hint: "h",
                },
                400,
                "push_malformed",
                "malformed push",
            ),
            (
                PushFailure::NotUtf8,
                400,
                "push_malformed",
                "body is not UTF-8",
            ),
            (
                PushFailure::Off,
                404,
                "push_not_configured",
                "push is not configured",
            ),
            (
                PushFailure::StoreDown("down".into()),
                503,
                "store_unavailable",
                "try again",
            ),
        ];
        for (f, status, code, body) in cases {
            let failure = Failure::from(f.clone());
            let d = failure.describe();
            assert_eq!((d.status.as_u16(), d.code), (status, code), "{f:?}");
            assert_eq!(d.retry_after, None, "{f:?}");
            let res = render::push(&failure);
            assert_eq!(res.status().as_u16(), status, "{f:?}");
            assert_eq!(
                res.headers()[header::CONTENT_TYPE],
                "text/plain; charset=utf-8"
            );
            assert!(res.headers().get(header::RETRY_AFTER).is_none(), "{f:?}");
            let text = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            assert_eq!(text, body, "{f:?}");
            assert_eq!(render::json(&failure).status().as_u16(), status);
        }
        assert_eq!(
            PushFailure::StoreDown("x".into()).to_string(),
            "the store is unavailable: x"
        );
        assert_eq!(
            PushFailure::Forged {
                error: "e".into(),
                hint: "h"
            }
            .to_string(),
            "e"
        );
    }
}
