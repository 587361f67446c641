//! The state table: the client, its name and the call discipline every operation goes
//! through (a timeout, a metric, one error classification).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use metrics::{counter, histogram};
use net::AwsError;

use super::codec::{names_in, s, Item};
use super::DynamoConfig;
use crate::telemetry;
use crate::{CheckpointError, DatabaseError};

/// Why a DynamoDB call did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The condition did not hold; the item as it was (ALL_OLD), if there was one.
    Conflict(Option<Item>),
    /// DynamoDB refused an operand's type: a stored attribute has the wrong type.
    WrongType(AwsError),
    /// Anything else, classified.
    Other(AwsError),
}

impl Failure {
    /// The store error of this failure of `op` on `key`.
    pub fn into_error(self, table: &str, op: &str, key: &str) -> CheckpointError {
        let (table, op, key) = (table.to_string(), op.to_string(), key.to_string());
        match self {
            Failure::Conflict(_) => DatabaseError::UnexpectedConflict { op, key, table }.into(),
            Failure::WrongType(e) => corrupt(&table, &key, e.message),
            Failure::Other(error) => DatabaseError::Dynamo {
                op,
                key,
                table,
                error,
            }
            .into(),
        }
    }
}

/// The error for a malformed item `key` of `table`.
pub fn corrupt(table: &str, key: &str, error: String) -> CheckpointError {
    CheckpointError::Corrupt {
        key: key.to_string(),
        error: format!("{error}; delete the item from table {table} to start the file over"),
    }
}

fn update_conflict(e: &UpdateItemError) -> Option<Option<Item>> {
    match e {
        UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item().cloned()),
        _ => None,
    }
}

fn delete_conflict(e: &DeleteItemError) -> Option<Option<Item>> {
    match e {
        DeleteItemError::ConditionalCheckFailedException(c) => Some(c.item().cloned()),
        _ => None,
    }
}

/// The state table: the client, its name and the call discipline (timeout, metrics, errors).
#[derive(Clone, Debug)]
pub struct Table {
    pub(crate) client: aws_sdk_dynamodb::Client,
    /// The table name.
    pub name: String,
    call_timeout: Duration,
}

impl Table {
    /// A client for `config` (no call is made).
    pub async fn connect(config: &DynamoConfig) -> Result<Table, CheckpointError> {
        let sdk = net::aws::sdk_config(
            &config.region,
            &config.endpoint_url,
            &config.access_key_id,
            &config.secret_access_key,
        )
        .await;
        if sdk.region().is_none() {
            return Err(DatabaseError::Config(
                "no AWS region for DynamoDB: set dynamodb.region or AWS_REGION".into(),
            )
            .into());
        }
        if config.call_timeout.is_zero() {
            return Err(
                DatabaseError::Config("dynamodb.call_timeout must be above zero".into()).into(),
            );
        }
        Ok(Table {
            client: aws_sdk_dynamodb::Client::new(&sdk),
            name: config.table.clone(),
            call_timeout: config.call_timeout,
        })
    }

    /// Run one call of `op` under the timeout, counting it; `conflict` recognises the
    /// conditional-check failure of the operation and returns the old item.
    pub(crate) async fn call<T, E, Fut>(
        &self,
        op: &'static str,
        fut: Fut,
        conflict: fn(&E) -> Option<Option<Item>>,
    ) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let started = Instant::now();
        let out = tokio::time::timeout(self.call_timeout, fut).await;
        histogram!(telemetry::DYNAMODB_CALL_SECONDS, "op" => op)
            .record(started.elapsed().as_secs_f64());
        let outcome = |outcome: &'static str| {
            counter!(telemetry::DYNAMODB_CALLS, "op" => op, "outcome" => outcome).increment(1);
        };
        match out {
            Ok(Ok(v)) => {
                outcome("ok");
                Ok(v)
            }
            Err(_) => {
                outcome("timeout");
                Err(Failure::Other(AwsError::timeout(
                    "dynamodb",
                    op,
                    self.call_timeout,
                )))
            }
            Ok(Err(e)) => {
                if let Some(old) = e.as_service_error().and_then(conflict) {
                    outcome("conflict");
                    counter!(telemetry::DYNAMODB_CONFLICTS, "op" => op).increment(1);
                    return Err(Failure::Conflict(old));
                }
                outcome("error");
                let error = AwsError::from_sdk("dynamodb", op, &e);
                if error.code() == Some("ValidationException")
                    && error.message.contains("data type")
                {
                    return Err(Failure::WrongType(error));
                }
                Err(Failure::Other(error))
            }
        }
    }

    /// A conditional `UpdateItem` of `key`; the item after the update (ALL_NEW) when
    /// `return_new`, else empty. A failed condition gives the item before (ALL_OLD).
    pub async fn update(
        &self,
        op: &'static str,
        key: Item,
        update: &str,
        condition: &str,
        values: Item,
        return_new: bool,
    ) -> Result<Item, Failure> {
        let fut = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[update, condition])))
            .set_expression_attribute_values(Some(values))
            .return_values(if return_new {
                ReturnValue::AllNew
            } else {
                ReturnValue::None
            })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        let out = self.call(op, fut, update_conflict).await?;
        Ok(out.attributes.unwrap_or_default())
    }

    /// A consistent `GetItem` of `key`.
    pub async fn get(&self, op: &'static str, key: Item) -> Result<Option<Item>, Failure> {
        let fut = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .consistent_read(true)
            .send();
        Ok(self.call(op, fut, |_| None).await?.item)
    }

    /// A conditional `DeleteItem` of `key`.
    pub(crate) async fn delete(
        &self,
        op: &'static str,
        key: Item,
        condition: &str,
        values: Item,
    ) -> Result<(), Failure> {
        let fut = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[condition])))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        self.call(op, fut, delete_conflict).await.map(|_| ())
    }

    /// One consistent Query page of `instance`: its items and where the next page starts.
    pub(crate) async fn query_page(
        &self,
        instance: &str,
        start: Option<Item>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<Item>), Failure> {
        let condition = "#instance_id = :instance";
        let fut = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression(condition)
            .set_expression_attribute_names(Some(names_in(&[condition])))
            .expression_attribute_values(":instance", s(instance))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .set_limit((limit > 0).then(|| i32::try_from(limit).unwrap_or(i32::MAX)))
            .send();
        let out = self.call("instance", fut, |_| None).await?;
        Ok((
            out.items.unwrap_or_default(),
            out.last_evaluated_key.filter(|k| !k.is_empty()),
        ))
    }
}
