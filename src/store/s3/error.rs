//! How `S3ObjectStore` reports failures: the SDK's errors mapped onto the store's kinds (by HTTP
//! status and S3 code), credential failures told apart from network ones, and every message
//! scrubbed of the secret key.

use super::*;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::ProvideErrorMetadata;
use std::error::Error as StdError;

impl S3ObjectStore {
    pub(super) fn error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        op: &str,
        key: &str,
        err: SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> StoreError {
        let scrub = |s: String| match &self.secret {
            Some(secret) => s.replace(secret.as_str(), "***"),
            None => s,
        };
        // The credential chain fails inside the request (as a dispatch failure): not a network
        // problem, and retrying cannot help.
        if let Some(ce) = credentials_error(&err) {
            let why = match ce {
                CredentialsError::CredentialsNotLoaded(_) => format!(
                    "no S3 credentials for {}: no `credentials` option, and the AWS chain found none (tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, web identity, ECS and EC2 instance roles)",
                    self.location
                ),
                other => format!(
                    "S3 credentials for {} could not be loaded: {}",
                    self.location,
                    error_chain(other)
                ),
            };
            return StoreError::Other {
                op: op.into(),
                key: key.into(),
                status: None,
                code: "NoCredentials".into(),
                message: scrub(format!("{why}; {CREDENTIALS_FIX}")),
            };
        }
        match &err {
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                let code = se.err().code().unwrap_or("").to_string();
                let message = scrub(se.err().message().unwrap_or("").to_string());
                match classify(op, key, status, code, message) {
                    StoreError::Other {
                        op,
                        key,
                        status,
                        code,
                        message,
                    } if CREDENTIAL_CODES.contains(&code.as_str()) => StoreError::Other {
                        message: format!(
                            "{} refused the credentials: HTTP {} {code}: {message}; {CREDENTIALS_FIX}",
                            self.location,
                            status.unwrap_or_default()
                        ),
                        op,
                        key,
                        status,
                        code,
                    },
                    other => other,
                }
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => StoreError::Transient {
                op: op.into(),
                key: key.into(),
                status: None,
                code: "NetworkError".into(),
                message: scrub(error_chain(&err)),
            },
            _ => StoreError::Other {
                op: op.into(),
                key: key.into(),
                status: None,
                code: "ClientError".into(),
                message: scrub(error_chain(&err)),
            },
        }
    }
}

/// How to provide credentials, appended to every credentials error.
const CREDENTIALS_FIX: &str = "pass the `credentials` option ({ accessKeyId, secretAccessKey }) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)";

/// The credential provider's error, if that is what made a request fail.
fn credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(ce) = e.downcast_ref::<CredentialsError>() {
            return Some(ce);
        }
        cur = e.source();
    }
    None
}

/// An error and its causes on one line (`dispatch failure: io error: ...: Connection refused`), each
/// cause once. With `S3FS_DEBUG=1` in the environment the SDK's full debug form follows in parentheses.
pub(super) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    let mut out = parts.join(": ");
    if std::env::var("S3FS_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0") {
        out.push_str(&format!(" ({err:?})"));
    }
    out
}

/// Maps an HTTP status and S3 error code onto the store's error kinds.
fn classify(op: &str, key: &str, status: u16, code: String, message: String) -> StoreError {
    let code = if code.is_empty() {
        format!("Http{status}")
    } else {
        code
    };
    match (status, code.as_str()) {
        (_, "NoSuchBucket") => StoreError::Other {
            op: op.into(),
            key: key.into(),
            status: Some(status),
            code,
            message,
        },
        (404, _) | (_, "NoSuchKey") => StoreError::NotFound { key: key.into() },
        // `put` makes it `AlreadyExists` when the PUT was create-only.
        (412, _) | (409, "ConditionalRequestConflict") => {
            StoreError::PreconditionFailed { key: key.into() }
        }
        (304, _) => StoreError::NotModified { key: key.into() },
        (429 | 500..=599, _)
        | (
            _,
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestTimeout"
            | "InternalError"
            | "ServiceUnavailable",
        ) => StoreError::Transient {
            op: op.into(),
            key: key.into(),
            status: Some(status),
            code,
            message,
        },
        _ => StoreError::Other {
            op: op.into(),
            key: key.into(),
            status: Some(status),
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    #[test]
    fn finds_credential_failures_inside_dispatch_failures() {
        let missing =
            ConnectorError::other(Box::new(CredentialsError::not_loaded_no_source()), None);
        assert!(matches!(
            credentials_error(&missing),
            Some(CredentialsError::CredentialsNotLoaded(_))
        ));
        let refused = ConnectorError::io(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused\n(os error 111)",
        )));
        assert!(credentials_error(&refused).is_none());
        let line = error_chain(&refused);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.ends_with("Connection refused (os error 111)"),
            "{line}"
        );
    }

    #[test]
    fn classifies_provider_errors() {
        assert!(matches!(
            classify("put", "k", 412, "PreconditionFailed".into(), String::new()),
            StoreError::PreconditionFailed { .. }
        ));
        assert!(matches!(
            classify(
                "put",
                "k",
                409,
                "ConditionalRequestConflict".into(),
                String::new()
            ),
            StoreError::PreconditionFailed { .. }
        ));
        assert!(matches!(
            classify("put", "k", 409, "BucketAlreadyExists".into(), String::new()),
            StoreError::Other { .. }
        ));
        assert!(matches!(
            classify("get", "k", 404, "NoSuchKey".into(), String::new()),
            StoreError::NotFound { .. }
        ));
        assert!(matches!(
            classify("get", "k", 404, "NoSuchBucket".into(), String::new()),
            StoreError::Other { .. }
        ));
        assert!(matches!(
            classify("get", "k", 503, "SlowDown".into(), String::new()),
            StoreError::Transient { .. }
        ));
        assert!(matches!(
            classify("get", "k", 500, String::new(), String::new()),
            StoreError::Transient { .. }
        ));
        assert!(matches!(
            classify("get", "k", 403, "AccessDenied".into(), String::new()),
            StoreError::Other {
                status: Some(403),
                ..
            }
        ));
        assert!(
            classify("get", "k", 403, "InvalidAccessKeyId".into(), String::new()).is_credentials()
        );
        assert!(!classify("get", "k", 403, "AccessDenied".into(), String::new()).is_credentials());
    }
}
