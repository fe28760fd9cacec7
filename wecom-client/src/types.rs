//! Typed WeCom answers (protocol §20.4–§20.6, §27).
//!
//! Answer types ignore fields they do not name, so WeCom's `errcode: 0, errmsg: "ok"` and new
//! fields never break decoding. Tokens and user tickets are [`Secret`]s: `{:?}` prints
//! `Secret(***)`. The identity answers come in two shapes (a member, or a person who is not a
//! member of the corp); they are read into an enum so a caller cannot mistake one for the
//! other.

use serde::{Deserialize, Deserializer, Serialize};
use wechat_auth_client::Secret;

use super::error::WecomError;

/// A corp app's `access_token` from `cgi-bin/gettoken` (one per corp + app secret).
///
/// ```
/// let t: wecom_client::AccessToken = serde_json::from_str(
///     r#"{"errcode":0,"errmsg":"ok","access_token":"accesstoken000001","expires_in":7200}"#,
/// ).unwrap();
/// assert_eq!(t.expires_in, 7200);
/// assert_eq!(format!("{t:?}"), "AccessToken { access_token: Secret(***), expires_in: 7200 }");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AccessToken {
    /// The token for `cgi-bin/*` calls of this app (store at least 512 characters).
    pub access_token: Secret,
    /// Lifetime in seconds (normally 7200; WeCom may invalidate it sooner).
    pub expires_in: u64,
}

/// A third-party suite's `suite_access_token` from `service/get_suite_token`.
///
/// ```
/// let t: wecom_client::SuiteToken = serde_json::from_str(
///     r#"{"errcode":0,"errmsg":"ok","suite_access_token":"61W3mEpU66027wgNZ_MhGHNQDHnFATkDa9-2llqrMBjUwxRSNPbVsMmyD-yq8wZETSoE5NQgecigDrSHkPtIYA","expires_in":7200}"#,
/// ).unwrap();
/// assert!(!format!("{t:?}").contains("61W3"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SuiteToken {
    /// The token for `cgi-bin/service/*` calls of this suite.
    pub suite_access_token: Secret,
    /// Lifetime in seconds (7200).
    pub expires_in: u64,
}

/// Who logged in, from `cgi-bin/auth/getuserinfo` (a self-built or agent-developed app).
///
/// ```
/// use wecom_client::CorpUser;
///
/// let member = CorpUser::Member { user_id: "lisi".into(), user_ticket: None };
/// assert_eq!(member.user_id(), Some("lisi"));
/// assert_eq!(member.openid(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CorpUser {
    /// A member of the corp (inside or outside the app's visible range).
    Member {
        /// The member's UserID (`CorpId/userid` for interconnected corps).
        user_id: String,
        /// For `cgi-bin/auth/getuserdetail`: only with `snsapi_privateinfo` and the member in
        /// the app's visible range; valid 1800 s. Web-login codes carry none.
        user_ticket: Option<Secret>,
    },
    /// Someone who is not a member of the corp.
    NonMember {
        /// Their id within this corp (at most 64 bytes).
        openid: String,
        /// Set when they are a customer of the corp and a follow-up member is in the app's
        /// visible range.
        external_userid: Option<String>,
    },
}

impl CorpUser {
    /// The member's UserID, `None` for a non-member.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::Member { user_id, .. } => Some(user_id),
            Self::NonMember { .. } => None,
        }
    }

    /// The non-member's openid, `None` for a member.
    pub fn openid(&self) -> Option<&str> {
        match self {
            Self::Member { .. } => None,
            Self::NonMember { openid, .. } => Some(openid),
        }
    }

    /// The `user_ticket` for `getuserdetail`, when WeCom gave one.
    pub fn user_ticket(&self) -> Option<&Secret> {
        match self {
            Self::Member { user_ticket, .. } => user_ticket.as_ref(),
            Self::NonMember { .. } => None,
        }
    }
}

/// The wire shape of `auth/getuserinfo` (current and legacy capitalised spellings).
#[derive(Deserialize)]
pub(crate) struct RawCorpUser {
    #[serde(default, alias = "UserId", deserialize_with = "trimmed_opt")]
    userid: Option<String>,
    #[serde(default)]
    user_ticket: Option<Secret>,
    #[serde(default, alias = "OpenId", deserialize_with = "trimmed_opt")]
    openid: Option<String>,
    #[serde(default, deserialize_with = "trimmed_opt")]
    external_userid: Option<String>,
}

impl RawCorpUser {
    pub(crate) fn into_user(self, endpoint: &'static str) -> Result<CorpUser, WecomError> {
        match (self.userid, self.openid) {
            (Some(user_id), _) => Ok(CorpUser::Member {
                user_id,
                user_ticket: self.user_ticket.filter(|t| !t.is_empty()),
            }),
            (None, Some(openid)) => Ok(CorpUser::NonMember {
                openid,
                external_userid: self.external_userid,
            }),
            (None, None) => Err(neither(endpoint)),
        }
    }
}

/// Who logged in, from `cgi-bin/service/auth/getuserinfo3rd` (a third-party app).
///
/// ```
/// use wecom_client::SuiteUser;
///
/// let outsider = SuiteUser::NonMember { openid: "oX".into() };
/// assert_eq!(outsider.corp_id(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SuiteUser {
    /// A member of a corp that installed the suite.
    Member {
        /// The member's corp.
        corp_id: String,
        /// The member's UserID in that corp.
        user_id: String,
        /// Stable across one service provider's apps (at most 64 bytes); absent in old answers.
        open_userid: Option<String>,
        /// For `getuserdetail3rd`: only in-app with `snsapi_privateinfo`; web-login codes
        /// carry none.
        user_ticket: Option<Secret>,
        /// Lifetime of `user_ticket` in seconds (7200), when there is one.
        expires_in: Option<u64>,
    },
    /// Someone who is not a member of an authorizing corp.
    NonMember {
        /// Their openid.
        openid: String,
    },
}

impl SuiteUser {
    /// The member's corp id, `None` for a non-member.
    pub fn corp_id(&self) -> Option<&str> {
        match self {
            Self::Member { corp_id, .. } => Some(corp_id),
            Self::NonMember { .. } => None,
        }
    }

    /// The member's UserID, `None` for a non-member.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::Member { user_id, .. } => Some(user_id),
            Self::NonMember { .. } => None,
        }
    }

    /// The `user_ticket` for `getuserdetail3rd`, when WeCom gave one.
    pub fn user_ticket(&self) -> Option<&Secret> {
        match self {
            Self::Member { user_ticket, .. } => user_ticket.as_ref(),
            Self::NonMember { .. } => None,
        }
    }
}

/// The wire shape of `service/auth/getuserinfo3rd` (current and legacy spellings).
#[derive(Deserialize)]
pub(crate) struct RawSuiteUser {
    #[serde(default, alias = "CorpId", deserialize_with = "trimmed_opt")]
    corpid: Option<String>,
    #[serde(default, alias = "UserId", deserialize_with = "trimmed_opt")]
    userid: Option<String>,
    #[serde(default, deserialize_with = "trimmed_opt")]
    open_userid: Option<String>,
    #[serde(default)]
    user_ticket: Option<Secret>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default, alias = "OpenId", deserialize_with = "trimmed_opt")]
    openid: Option<String>,
}

impl RawSuiteUser {
    pub(crate) fn into_user(self, endpoint: &'static str) -> Result<SuiteUser, WecomError> {
        match (self.userid, self.openid) {
            (Some(user_id), _) => {
                let corp_id = self.corpid.ok_or_else(|| WecomError::Decode {
                    endpoint,
                    detail: "a member without `corpid`".to_owned(),
                })?;
                let user_ticket = self.user_ticket.filter(|t| !t.is_empty());
                Ok(SuiteUser::Member {
                    corp_id,
                    user_id,
                    open_userid: self.open_userid,
                    expires_in: user_ticket.as_ref().and(self.expires_in),
                    user_ticket,
                })
            }
            (None, Some(openid)) => Ok(SuiteUser::NonMember { openid }),
            (None, None) => Err(neither(endpoint)),
        }
    }
}

fn neither(endpoint: &'static str) -> WecomError {
    WecomError::Decode {
        endpoint,
        detail: "neither `userid` (a member) nor `openid` (a non-member) in the answer".to_owned(),
    }
}

/// A member's gender as WeCom sends it: a string `"0"`, `"1"`, `"2"` (a number is read too).
///
/// ```
/// use wecom_client::Gender;
///
/// let g: Gender = serde_json::from_str(r#""2""#).unwrap();
/// assert_eq!(g, Gender::Female);
/// assert_eq!(serde_json::from_str::<Gender>("7").unwrap(), Gender::Unknown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[non_exhaustive]
pub enum Gender {
    /// `"0"`, or not granted / not consented.
    #[default]
    Unknown,
    /// `"1"`.
    Male,
    /// `"2"`.
    Female,
}

impl<'de> Deserialize<'de> for Gender {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let n = match &value {
            serde_json::Value::String(s) => s.trim().parse::<u8>().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
            _ => None,
        };
        Ok(match n {
            Some(1) => Self::Male,
            Some(2) => Self::Female,
            _ => Self::Unknown,
        })
    }
}

/// A member's sensitive fields from `cgi-bin/auth/getuserdetail`.
///
/// Real values only after the member consented to `snsapi_privateinfo` and the admin enabled
/// each field for the app; missing fields are empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UserDetail {
    /// The member's UserID.
    pub userid: String,
    /// Gender.
    pub gender: Gender,
    /// Avatar URL.
    pub avatar: String,
    /// The member's personal QR code URL.
    pub qr_code: String,
    /// Mobile number.
    pub mobile: String,
    /// E-mail.
    pub email: String,
    /// Business e-mail.
    pub biz_mail: String,
    /// Address.
    pub address: String,
}

/// A member's sensitive fields from `cgi-bin/service/auth/getuserdetail3rd` (no mobile,
/// e-mail or address for third-party apps; `name` is the UserID since 2020-06-30).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UserDetail3rd {
    /// The member's corp.
    pub corpid: String,
    /// The member's UserID.
    pub userid: String,
    /// Name (the UserID for third-party apps since 2020-06-30).
    pub name: String,
    /// Gender.
    pub gender: Gender,
    /// Avatar URL.
    pub avatar: String,
    /// The member's personal QR code URL.
    pub qr_code: String,
}

/// `{"user_ticket": …}`, the body of both `getuserdetail` calls.
#[derive(Serialize)]
pub(crate) struct UserTicketBody<'a> {
    pub(crate) user_ticket: &'a str,
}

/// The body of `service/get_suite_token`.
#[derive(Serialize)]
pub(crate) struct SuiteTokenBody<'a> {
    pub(crate) suite_id: &'a str,
    pub(crate) suite_secret: &'a str,
    pub(crate) suite_ticket: &'a str,
}

/// An optional id with stray white space trimmed; empty reads as absent.
fn trimmed_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corp(body: &str) -> Result<CorpUser, WecomError> {
        serde_json::from_str::<RawCorpUser>(body)
            .unwrap()
            .into_user("cgi-bin/auth/getuserinfo")
    }

    fn suite(body: &str) -> Result<SuiteUser, WecomError> {
        serde_json::from_str::<RawSuiteUser>(body)
            .unwrap()
            .into_user("cgi-bin/service/auth/getuserinfo3rd")
    }

    #[test]
    fn getuserinfo_member_and_non_member_shapes() {
        let m =
            corp(r#"{"errcode":0,"errmsg":"ok","userid":"USERID","user_ticket":"USER_TICKET"}"#)
                .unwrap();
        assert_eq!(m.user_id(), Some("USERID"));
        assert_eq!(m.user_ticket().map(Secret::expose), Some("USER_TICKET"));
        assert!(!format!("{m:?}").contains("USER_TICKET"));
        let web = corp(r#"{"errcode":0,"errmsg":"ok","userid":"lisi"}"#).unwrap();
        assert_eq!(web.user_ticket(), None);
        let n = corp(
            r#"{"errcode":0,"errmsg":"ok","openid":"OPENID","external_userid":"EXTERNAL_USERID"}"#,
        )
        .unwrap();
        assert_eq!(
            n,
            CorpUser::NonMember {
                openid: "OPENID".into(),
                external_userid: Some("EXTERNAL_USERID".into())
            }
        );
        // Legacy capitalised spelling.
        assert_eq!(
            corp(r#"{"UserId":"old","DeviceId":"d"}"#)
                .unwrap()
                .user_id(),
            Some("old")
        );
        assert_eq!(corp(r#"{"OpenId":"o"}"#).unwrap().openid(), Some("o"));
        let err = corp(r#"{"errcode":0,"errmsg":"ok","userid":"  "}"#).unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
    }

    #[test]
    fn getuserinfo3rd_member_and_non_member_shapes() {
        let web = suite(
            r#"{"errcode":0,"errmsg":"ok","corpid":"wwCORP","userid":"zhangsan","open_userid":"woOPEN"}"#,
        )
        .unwrap();
        assert_eq!(
            web,
            SuiteUser::Member {
                corp_id: "wwCORP".into(),
                user_id: "zhangsan".into(),
                open_userid: Some("woOPEN".into()),
                user_ticket: None,
                expires_in: None,
            }
        );
        let app = suite(
            r#"{"errcode":0,"errmsg":"ok","corpid":"wwCORP","userid":"u","user_ticket":"T","expires_in":7200,"open_userid":"o"}"#,
        )
        .unwrap();
        assert_eq!(app.user_ticket().map(Secret::expose), Some("T"));
        assert!(matches!(
            app,
            SuiteUser::Member {
                expires_in: Some(7200),
                ..
            }
        ));
        assert_eq!(
            suite(r#"{"errcode":0,"errmsg":"ok","openid":"oNON"}"#).unwrap(),
            SuiteUser::NonMember {
                openid: "oNON".into()
            }
        );
        assert!(
            suite(r#"{"userid":"u"}"#)
                .unwrap_err()
                .to_string()
                .contains("corpid")
        );
        assert!(suite(r#"{"errcode":0}"#).is_err());
    }

    #[test]
    fn user_detail_shapes() {
        let d: UserDetail = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","userid":"lisi","gender":"1","avatar":"http://shp.qpic.cn/bizmp/xxxxxxxxxxx/0","qr_code":"https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=vcfc13b01dfs78e981c","mobile":"13800000000","email":"zhangsan@gzdev.com","biz_mail":"zhangsan@qyycs2.wecom.work","address":"广州市海珠区新港中路"}"#,
        )
        .unwrap();
        assert_eq!(d.gender, Gender::Male);
        assert_eq!(d.address, "广州市海珠区新港中路");
        let d: UserDetail3rd = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","corpid":"wwCORP","userid":"lisi","name":"lisi","gender":"0","avatar":"http://x/0","qr_code":"https://q"}"#,
        )
        .unwrap();
        assert_eq!((d.corpid.as_str(), d.gender), ("wwCORP", Gender::Unknown));
    }
}
