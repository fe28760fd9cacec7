//! Reading Douyin's answer envelopes: pure functions over `(status, body)`, unit-tested on the
//! recorded answers of protocol §29.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wechat_auth_client::transport_kit::{
    code_of, json_object, json_type, safe_data_error, truncate,
};

use crate::error::DouyinError;

/// The longest description kept (Douyin's are short; this bounds a hostile answer).
const MAX_DESCRIPTION_BYTES: usize = 512;

/// Which host answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// `open.douyin.com`: `{"data": {..., "error_code", "description"}, "message", "extra"}`.
    Open,
    /// `developer.toutiao.com`: `{"err_no", "err_tips", "data": {...}}`.
    Miniapp,
}

/// An answer as a value or a [`DouyinError`]:
///
/// - non-2xx → [`DouyinError::Http`];
/// - a non-zero `data.error_code` (number or numeric string), `extra.error_code`, `err_no` or
///   (older mini-app answers) `errcode` → [`DouyinError::Api`] with the description and `logid`;
/// - otherwise `data` is decoded as `T`;
/// - anything unreadable → [`DouyinError::Decode`], never quoting the body.
pub(crate) fn parse<T: DeserializeOwned>(
    envelope: Envelope,
    endpoint: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, DouyinError> {
    if !(200..300).contains(&status) {
        return Err(DouyinError::Http { endpoint, status });
    }
    let decode = |detail: String| DouyinError::Decode { endpoint, detail };
    let mut top = json_object(body).map_err(decode)?;
    let data = top.remove("data");
    let data_obj = data.as_ref().and_then(Value::as_object);
    let logid = logid(&top, data_obj);
    let failed = |code: i64, text: Option<&Value>| DouyinError::Api {
        endpoint,
        code,
        description: text
            .and_then(Value::as_str)
            .map(|s| truncate(s, MAX_DESCRIPTION_BYTES))
            .unwrap_or_default(),
        logid: logid.clone(),
    };
    // Where each host puts its number and text, in the order they are looked at.
    let mut places: Vec<(Option<&Value>, Option<&Value>)> = vec![
        (
            top.get("err_no"),
            top.get("err_tips").or(top.get("err_msg")),
        ),
        (top.get("errcode"), top.get("errmsg")),
    ];
    let extra = top.get("extra").and_then(Value::as_object);
    if envelope == Envelope::Open {
        places.push((
            extra.and_then(|e| e.get("error_code")),
            extra.and_then(|e| e.get("description")),
        ));
        places.push((
            data_obj.and_then(|d| d.get("error_code")),
            data_obj.and_then(|d| d.get("description")),
        ));
    }
    for (code, text) in places {
        let Some(raw) = code else { continue };
        let code = code_of(raw).ok_or_else(|| {
            decode(format!(
                "an error code is {}, not an integer",
                json_type(raw)
            ))
        })?;
        if code != 0 {
            return Err(failed(code, text));
        }
    }
    let Some(data) = data else {
        return Err(decode(format!("no `data` object ({} bytes)", body.len())));
    };
    if !data.is_object() {
        return Err(decode(format!(
            "`data` is {}, not an object",
            json_type(&data)
        )));
    }
    T::deserialize(data).map_err(|e| decode(safe_data_error(&e, body.len())))
}

fn logid(top: &Map<String, Value>, data: Option<&Map<String, Value>>) -> Option<String> {
    let extra = top.get("extra").and_then(Value::as_object);
    [
        extra.and_then(|e| e.get("logid")),
        data.and_then(|d| d.get("log_id")),
        top.get("log_id"),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_str)
    .filter(|s| !s.is_empty())
    .map(|s| truncate(s, 128))
}
