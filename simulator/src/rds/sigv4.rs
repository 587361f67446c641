//! SigV4 verification: the simulator recomputes a request's signature with `aws-sigv4` from the
//! request's own `x-amz-date`, the headers it says it signed, its path and query and its body,
//! using the simulator's test credentials and region and the service name `rds`, and compares.
//!
//! Both header signing (`Authorization: AWS4-HMAC-SHA256 …`) and presigned URLs
//! (`X-Amz-Signature=…` in the query) are accepted. The request time is not checked against the
//! clock (the simulated clock need not be real time); a presigned URL's expiry is checked
//! against the real clock, and an `X-Amz-Expires` over [`MAX_PRESIGN_EXPIRES_SECS`] (a week,
//! AWS's limit) is refused with `AuthorizationQueryParametersError` as AWS does.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::days_from_civil;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use http::HeaderMap;

use super::error::ApiError;

/// The service name RDS signs with.
pub const SIGNING_SERVICE: &str = "rds";

/// The longest lifetime AWS accepts for a presigned URL: 7 days, in seconds.
pub(crate) const MAX_PRESIGN_EXPIRES_SECS: u64 = 604_800;

/// What the simulator accepts signatures from.
#[derive(Clone, Debug)]
pub(crate) struct Verifier {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

/// The parts of a request that are signed.
pub(crate) struct SignedParts<'a> {
    pub method: &'a str,
    /// Path and query exactly as received.
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The query parameters a presigned URL adds.
const PRESIGN_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// What a request claims about its signature.
struct Claim {
    credential: String,
    date: String,
    signed_headers: String,
    signature: String,
    /// Presigned: the URL's lifetime.
    expires: Option<Duration>,
}

impl Verifier {
    /// `Ok` when the request is signed with the simulator's credentials, region and `rds`.
    pub fn verify(&self, req: &SignedParts<'_>) -> Result<(), ApiError> {
        let claim = claim(req)?;
        let scope: Vec<&str> = claim.credential.split('/').collect();
        let [key, _day, region, service, "aws4_request"] = scope.as_slice() else {
            return Err(ApiError::signature_mismatch("malformed credential scope"));
        };
        if *key != self.access_key_id {
            return Err(ApiError::invalid_client_token());
        }
        if *region != self.region || *service != SIGNING_SERVICE {
            return Err(ApiError::signature_mismatch(&format!(
                "credential scope {region}/{service}, expected {}/{SIGNING_SERVICE}",
                self.region
            )));
        }
        let time = parse_amz_date(&claim.date)
            .ok_or_else(|| ApiError::signature_mismatch("malformed x-amz-date"))?;
        if let Some(expires) = claim.expires {
            let expired = time
                .checked_add(expires)
                .is_none_or(|deadline| SystemTime::now() > deadline);
            if expired {
                return Err(ApiError::signature_mismatch(
                    "the presigned url has expired",
                ));
            }
        }
        let expected = self.signatures(req, &claim, time)?;
        if expected.iter().any(|s| same(s, &claim.signature)) {
            Ok(())
        } else {
            Err(ApiError::signature_mismatch("signatures differ"))
        }
    }

    /// The signatures this request may carry (a presigned URL's payload may be signed either
    /// as empty or as `UNSIGNED-PAYLOAD`).
    fn signatures(
        &self,
        req: &SignedParts<'_>,
        claim: &Claim,
        time: SystemTime,
    ) -> Result<Vec<String>, ApiError> {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        for name in claim.signed_headers.split(';').filter(|n| !n.is_empty()) {
            if name == "x-amz-date" {
                continue; // aws-sigv4 adds it from the signing time
            }
            let value = req
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    ApiError::signature_mismatch(&format!("signed header {name} is missing"))
                })?;
            headers.push((name, value));
        }
        let mut settings = SigningSettings::default();
        let uri: Cow<'_, str> = match claim.expires {
            None => Cow::Borrowed(req.path_and_query),
            Some(expires) => {
                settings.signature_location = SignatureLocation::QueryParams;
                settings.expires_in = Some(expires);
                Cow::Owned(without_presign_params(req.path_and_query))
            }
        };
        let content_sha = req
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok());
        let bodies: Vec<SignableBody<'_>> = match (content_sha, claim.expires) {
            (Some("UNSIGNED-PAYLOAD"), _) => vec![SignableBody::UnsignedPayload],
            (Some(sha), _) => vec![SignableBody::Precomputed(sha.to_string())],
            (None, None) => vec![SignableBody::Bytes(req.body)],
            (None, Some(_)) => vec![SignableBody::Bytes(req.body), SignableBody::UnsignedPayload],
        };
        let identity = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "rds-simulator",
        )
        .into();
        let mut out = Vec::new();
        for body in bodies {
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.region)
                .name(SIGNING_SERVICE)
                .time(time)
                .settings(settings.clone())
                .build()
                .map_err(|e| ApiError::internal(format!("signing params: {e}")))?
                .into();
            let signable =
                SignableRequest::new(req.method, uri.clone(), headers.iter().copied(), body)
                    .map_err(|e| ApiError::signature_mismatch(&format!("unsignable: {e}")))?;
            let signed = sign(signable, &params)
                .map_err(|e| ApiError::signature_mismatch(&format!("unsignable: {e}")))?;
            out.push(signed.signature().to_string());
        }
        Ok(out)
    }
}

/// The signature claim of a request: from its `Authorization` header or its presigned query.
fn claim(req: &SignedParts<'_>) -> Result<Claim, ApiError> {
    if let Some(auth) = req.headers.get(http::header::AUTHORIZATION) {
        let auth = auth
            .to_str()
            .map_err(|_| ApiError::signature_mismatch("malformed authorization header"))?;
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| ApiError::signature_mismatch("not AWS4-HMAC-SHA256"))?;
        let field = |key: &str| {
            rest.split(',')
                .map(str::trim)
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
                .ok_or_else(|| ApiError::signature_mismatch(&format!("no {key} in authorization")))
        };
        let date = req
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::signature_mismatch("no x-amz-date header"))?;
        return Ok(Claim {
            credential: field("Credential")?,
            signed_headers: field("SignedHeaders")?,
            signature: field("Signature")?,
            date: date.to_string(),
            expires: None,
        });
    }
    let query = req.path_and_query.split_once('?').map_or("", |(_, q)| q);
    let params: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        form_urlencoded::parse(query.as_bytes()).collect();
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.to_string())
    };
    let Some(signature) = get("X-Amz-Signature") else {
        return Err(ApiError::missing_authentication());
    };
    let missing = |key: &str| ApiError::signature_mismatch(&format!("no {key} in the query"));
    let expires = get("X-Amz-Expires")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| missing("X-Amz-Expires"))?;
    if expires > MAX_PRESIGN_EXPIRES_SECS {
        return Err(ApiError::authorization_query_parameters(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is \
             {MAX_PRESIGN_EXPIRES_SECS}"
        )));
    }
    Ok(Claim {
        credential: get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?,
        date: get("X-Amz-Date").ok_or_else(|| missing("X-Amz-Date"))?,
        signed_headers: get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?,
        signature,
        expires: Some(Duration::from_secs(expires)),
    })
}

/// The path and query with the presigning parameters taken out (as they were before signing).
fn without_presign_params(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            let key = kv.split_once('=').map_or(*kv, |(k, _)| k);
            !PRESIGN_PARAMS.contains(&key)
        })
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        let part = s.get(r)?;
        // Digits only: `parse` would also take a sign.
        part.bytes().all(|c| c.is_ascii_digit()).then_some(())?;
        part.parse::<u32>().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(i32::try_from(y).ok()?, mo, d)?;
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se);
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Constant-time string equality.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> Verifier {
        Verifier {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "secret".into(),
            region: "us-east-1".into(),
        }
    }

    /// Sign like a client would, with aws-sigv4.
    fn signed(secret: &str, region: &str, presign: bool) -> (String, HeaderMap) {
        let expires = presign.then_some(Duration::from_secs(900));
        signed_with(secret, region, expires)
    }

    /// Sign with aws-sigv4; presigned for `expires` when given, else in the headers.
    fn signed_with(secret: &str, region: &str, expires: Option<Duration>) -> (String, HeaderMap) {
        let identity = Credentials::new("AKIDTEST", secret, None, None, "t").into();
        let mut settings = SigningSettings::default();
        if let Some(expires) = expires {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(expires);
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("rds")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let uri =
            "http://127.0.0.1:9/v13/downloadCompleteLogFile/db-1/slowquery/mysql-slowquery.log";
        let req = SignableRequest::new(
            "GET",
            uri,
            [("host", "127.0.0.1:9")].into_iter(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut request = http::Request::builder().uri(uri).body(()).unwrap();
        request
            .headers_mut()
            .insert("host", "127.0.0.1:9".parse().unwrap());
        instructions.apply_to_request_http1x(&mut request);
        let pq = request.uri().path_and_query().unwrap().to_string();
        (pq, request.headers().clone())
    }

    fn check(pq: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        verifier().verify(&SignedParts {
            method: "GET",
            path_and_query: pq,
            headers,
            body: b"",
        })
    }

    #[test]
    fn accepts_its_own_credentials_signed_either_way() {
        let (pq, h) = signed("secret", "us-east-1", false);
        check(&pq, &h).unwrap();
        let (pq, h) = signed("secret", "us-east-1", true);
        assert!(pq.contains("X-Amz-Signature="), "{pq}");
        check(&pq, &h).unwrap();
    }

    #[test]
    fn refuses_unsigned_wrong_secret_wrong_region_and_tampering() {
        let (pq, h) = signed("nope", "us-east-1", false);
        assert_eq!(check(&pq, &h).unwrap_err().code, "SignatureDoesNotMatch");
        let (pq, h) = signed("secret", "eu-west-1", false);
        assert_eq!(check(&pq, &h).unwrap_err().code, "SignatureDoesNotMatch");
        let (pq, h) = signed("secret", "us-east-1", false);
        let other = pq.replace("db-1", "db-2");
        assert_eq!(check(&other, &h).unwrap_err().code, "SignatureDoesNotMatch");
        let err = check(&pq, &HeaderMap::new()).unwrap_err();
        assert_eq!(
            (err.code, err.status.as_u16()),
            ("MissingAuthenticationToken", 403)
        );
    }

    #[test]
    fn presigned_urls_live_at_most_a_week() {
        let week = Duration::from_secs(MAX_PRESIGN_EXPIRES_SECS);
        let (pq, h) = signed_with("secret", "us-east-1", Some(week));
        assert!(pq.contains("X-Amz-Expires=604800"), "{pq}");
        check(&pq, &h).unwrap();
        let (pq, h) = signed_with("secret", "us-east-1", Some(week + Duration::from_secs(1)));
        assert!(pq.contains("X-Amz-Expires=604801"), "{pq}");
        let err = check(&pq, &h).unwrap_err();
        assert_eq!(
            (err.code, err.status.as_u16()),
            ("AuthorizationQueryParametersError", 400)
        );
        assert!(err.message.contains("604800"), "{}", err.message);
        // An absurd lifetime is refused the same way, before any time arithmetic.
        let absurd = pq.replace("X-Amz-Expires=604801", "X-Amz-Expires=18446744073709551615");
        let err = check(&absurd, &h).unwrap_err();
        assert_eq!(err.code, "AuthorizationQueryParametersError");
        // An expired one is still a signature mismatch.
        let old = pq
            .replace("X-Amz-Expires=604801", "X-Amz-Expires=1")
            .replace(&format_amz_date_of(&pq), "20240104T090000Z");
        assert_eq!(check(&old, &h).unwrap_err().code, "SignatureDoesNotMatch");
    }

    /// The `X-Amz-Date` value of a presigned path and query.
    fn format_amz_date_of(pq: &str) -> String {
        let at = pq.find("X-Amz-Date=").unwrap() + "X-Amz-Date=".len();
        pq[at..at + 16].to_string()
    }

    #[test]
    fn amz_dates_parse() {
        let t = parse_amz_date("20240104T090000Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_704_358_800
        );
        assert!(parse_amz_date("2024-01-04T09:00:00Z").is_none());
        assert!(parse_amz_date("+0240104T090000Z").is_none());
        assert!(parse_amz_date("20240230T0900+0Z").is_none());
        let t = parse_amz_date("19700101T000001Z").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1);
        assert!(
            parse_amz_date("19691231T235959Z").is_none(),
            "before the epoch"
        );
    }
}
