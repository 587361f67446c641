//! Reading records back: `POST /api/{org}/_search`, one page of a stream's records in
//! `_timestamp` order (what replaying the dead-letter stream reads).

use http::Method;
use serde_json::{json, Value};

use crate::client::{segment, Api, ApiError};
use crate::Target;

/// Reads pages of one stream's records over a time range, oldest first.
#[derive(Debug)]
pub struct Search {
    api: Api,
}

impl Search {
    /// A reader of `target`'s org (the user needs search rights: not an ingestion passcode).
    pub fn new(target: &Target) -> Result<Search, String> {
        Ok(Search {
            api: Api::new(target)?,
        })
    }

    /// Records `from..from + size` of `stream` with `_timestamp` in `start_us..end_us`
    /// (microseconds since the epoch), oldest first.
    pub async fn page(
        &self,
        stream: &str,
        start_us: i64,
        end_us: i64,
        from: usize,
        size: usize,
    ) -> Result<Vec<Value>, ApiError> {
        let sql = format!(
            "SELECT * FROM \"{}\" ORDER BY _timestamp ASC",
            stream.replace('"', "\"\"")
        );
        let body = json!({
            "query": {
                "sql": sql,
                "start_time": start_us,
                "end_time": end_us,
                "from": from,
                "size": size,
            }
        });
        let path = format!("/api/{}/_search", self.api.org());
        let answer = self.api.call(Method::POST, &path, Some(&body)).await?;
        match answer.get("hits") {
            Some(Value::Array(hits)) => Ok(hits.clone()),
            _ => Err(ApiError::BadAnswer {
                method: Method::POST,
                url: format!("{path} ({})", segment(stream)),
                reason: "no \"hits\" array in the answer".into(),
            }),
        }
    }
}
