//! Errors: the API errors the simulator answers with (code and HTTP status as in the botocore
//! model of RDS), and the library error of starting it.

use http::StatusCode;

/// An error answer of the RDS API: the `Code`, `Message` and HTTP status of an `ErrorResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The error `Code`, e.g. `DBInstanceNotFound`.
    pub code: &'static str,
    /// The error `Message`.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `Throttling` (400): the account's request rate bucket is empty.
    pub fn throttling() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
    }

    /// `InvalidParameterValue` (400).
    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidParameterValue", message)
    }

    /// `MissingParameter` (400): a required parameter is absent.
    pub fn missing_parameter(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `InvalidAction` (400): an action this service does not know (or the simulator does not
    /// implement).
    pub fn invalid_action(action: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }

    /// `DBInstanceNotFound` (404).
    pub fn instance_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "DBInstanceNotFound",
            format!("DBInstance {id} not found."),
        )
    }

    /// `DBInstanceNotReady` (400), e.g. a paused Serverless v2 instance.
    pub fn instance_not_ready(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DBInstanceNotReady",
            format!("DB instance {id} is not in an available state."),
        )
    }

    /// `DBClusterNotFoundFault` (404).
    pub fn cluster_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "DBClusterNotFoundFault",
            format!("DBCluster {id} not found."),
        )
    }

    /// `DBLogFileNotFoundFault` (404).
    pub fn log_file_not_found(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "DBLogFileNotFoundFault",
            format!("DBLog File: {name}, is not found on the DB instance"),
        )
    }

    /// `InvalidParameterValue` (400) for a file marked binary (RDS.md, verbatim).
    pub fn binary_file() -> ApiError {
        ApiError::invalid_parameter(
            "This file contains binary data and should be downloaded instead of viewed.",
        )
    }

    /// `MissingAuthenticationToken` (403): the request is not signed.
    pub fn missing_authentication() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    }

    /// `InvalidClientTokenId` (403): the access key is not the simulator's.
    pub fn invalid_client_token() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    }

    /// `SignatureDoesNotMatch` (403).
    pub fn signature_mismatch(why: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            format!(
                "The request signature we calculated does not match the signature you provided: {why}"
            ),
        )
    }

    /// `AuthorizationQueryParametersError` (400): a presigned URL's query parameters are
    /// invalid, e.g. `X-Amz-Expires` over a week (AWS's wording).
    pub fn authorization_query_parameters(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            message,
        )
    }

    /// `RequestEntityTooLarge` (413): a request body over the simulator's limit.
    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("request body over {limit} bytes"),
        )
    }

    /// `InternalFailure` (500): the simulator failed (e.g. reading a file on disk).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            message,
        )
    }

    /// Whether the client is at fault (the `Type` of the error: `Sender` or `Receiver`).
    pub fn is_sender(&self) -> bool {
        !self.status.is_server_error()
    }
}

/// Why the simulator could not start or do what a test asked.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listener failed.
    #[error("binding the rds simulator to {addr} failed: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is inconsistent (e.g. an instance id used twice).
    #[error("invalid rds simulator config: {0}")]
    Config(String),
    /// No instance has this id.
    #[error("no simulated instance {0}: use an id from the config")]
    NoSuchInstance(String),
    /// Reading a file given to the simulator failed.
    #[error("reading {path} for the rds simulator failed: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
