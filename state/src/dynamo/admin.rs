//! Creating and deleting the state table, for tests, benches and local development: production
//! tables come from terraform (`eks-terraform/dynamodb.tf`), and the processes never call these
//! (they are built only with the `test-support` feature).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use contract::state::attr;

use super::table::{Failure, Table};
use super::DynamoConfig;
use crate::{CheckpointError, DatabaseError};

/// How long [`ensure_table`] waits for a new table to become ACTIVE.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(120);

/// Create the state table of `config` if it is absent (keys per [`contract::state`],
/// on-demand billing), wait until it is ACTIVE, and enable TTL on `expires_at`. For tests,
/// benches and local development; production tables come from terraform.
pub async fn ensure_table(config: &DynamoConfig) -> Result<(), CheckpointError> {
    let table = Table::connect(config).await?;
    let name = &table.name;
    let err = |op: &str, f: Failure| f.into_error(name, op, "the table");
    let exists = match table
        .call(
            "describe_table",
            table.client.describe_table().table_name(name).send(),
            |_| None,
        )
        .await
    {
        Ok(_) => true,
        Err(Failure::Other(e)) if e.code() == Some("ResourceNotFoundException") => false,
        Err(e) => return Err(err("DescribeTable", e)),
    };
    if !exists {
        create(&table).await?;
    }
    wait_active(&table).await?;
    enable_ttl(&table).await;
    Ok(())
}

/// `CreateTable` with the contract's keys and on-demand billing (created meanwhile by someone
/// else is fine).
async fn create(table: &Table) -> Result<(), CheckpointError> {
    let name = &table.name;
    let err = |op: &str, f: Failure| f.into_error(name, op, "the table");
    {
        let key = |a: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(a)
                .key_type(t)
                .build()
                .map_err(|e| CheckpointError::from(DatabaseError::Config(e.to_string())))
        };
        let def = |a: &str| {
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| CheckpointError::from(DatabaseError::Config(e.to_string())))
        };
        let create = table
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(attr::INSTANCE_ID, KeyType::Hash)?)
            .key_schema(key(attr::LOG_FILE, KeyType::Range)?)
            .attribute_definitions(def(attr::INSTANCE_ID)?)
            .attribute_definitions(def(attr::LOG_FILE)?)
            .send();
        match table.call("create_table", create, |_| None).await {
            Ok(_) => tracing::info!(table = %name, "created the dynamodb state table"),
            // Created by someone else meanwhile.
            Err(Failure::Other(e)) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(err("CreateTable", e)),
        }
    }
    Ok(())
}

/// Wait until the table is ACTIVE, for at most [`TABLE_ACTIVE_WAIT`].
async fn wait_active(table: &Table) -> Result<(), CheckpointError> {
    let name = &table.name;
    let err = |op: &str, f: Failure| f.into_error(name, op, "the table");
    let deadline = Instant::now() + TABLE_ACTIVE_WAIT;
    loop {
        let out = table
            .call(
                "describe_table",
                table.client.describe_table().table_name(name).send(),
                |_| None,
            )
            .await
            .map_err(|e| err("DescribeTable", e))?;
        let status = out.table.and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            break;
        }
        if Instant::now() >= deadline {
            return Err(DatabaseError::Config(format!(
                "table {name} is not ACTIVE after {TABLE_ACTIVE_WAIT:?} (status {status:?})"
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Turn TTL on `expires_at` on (best effort: DynamoDB Local has no TTL; state then never
/// expires).
async fn enable_ttl(table: &Table) {
    let name = &table.name;
    let Ok(ttl) = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attr::EXPIRES_AT)
        .build()
    else {
        return;
    };
    let fut = table
        .client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send();
    if let Err(e) = table.call("update_time_to_live", fut, |_| None).await {
        // Already enabled, or DynamoDB Local without TTL support: state then never expires.
        tracing::debug!(table = %name, error = ?e, "enabling TTL on the state table failed");
    }
}

/// Delete the state table of `config` (test cleanup); an absent table is fine.
pub async fn delete_table(config: &DynamoConfig) -> Result<(), CheckpointError> {
    let table = Table::connect(config).await?;
    let fut = table.client.delete_table().table_name(&table.name).send();
    match table.call("delete_table", fut, |_| None).await {
        Ok(_) => Ok(()),
        Err(Failure::Other(e)) if e.code() == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(e.into_error(&table.name, "DeleteTable", "the table")),
    }
}
