//! Leases on items of the state table: an owner, an expiry (ms since the epoch, the holder's
//! clock) and a fencing token that grows by one at every acquisition. The file leases of the
//! processors ([`super::DynamoCheckpoints`]) and the discovery leader lease (in the discovery
//! crate) are both made of these conditional `UpdateItem`s.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use contract::state::attr;

use super::codec::{get_n, get_s, n, s, Item};
use super::table::{Failure, Table};

/// The lease attributes of an item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseAttrs {
    /// Who holds it, if anyone.
    pub owner: Option<String>,
    /// Until when, ms since the epoch (the holder's clock).
    pub expires_ms: i64,
    /// The fencing token of the last acquisition.
    pub token: u64,
}

/// The lease attributes of `item`; a wrong type is an error.
pub fn decode_lease(item: &Item) -> Result<LeaseAttrs, String> {
    Ok(LeaseAttrs {
        owner: get_s(item, attr::LEASE_OWNER)?.map(str::to_string),
        expires_ms: get_n(item, attr::LEASE_EXPIRES_MS)?.unwrap_or(0),
        token: get_n(item, attr::LEASE_TOKEN)?.unwrap_or(0),
    })
}

/// Milliseconds since the epoch, by this host's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Who may take a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takeover {
    /// Only a free or expired one.
    FreeOrExpired,
    /// Also one this owner holds already (a restart under the same name takes its leases back).
    AlsoOwn,
}

/// Take the lease of `key` for `owner` until `expires_ms`, bumping the token; `extra_set`
/// (`, #a = :a …`) and `extra_values` are written in the same update. Returns the item after
/// the update; [`Failure::Conflict`] with the item before when someone else holds it.
pub async fn take(
    table: &Table,
    op: &'static str,
    key: Item,
    owner: &str,
    (now, expires_ms): (i64, i64),
    takeover: Takeover,
    (extra_set, extra_values): (&str, Item),
) -> Result<Item, Failure> {
    let mut values = HashMap::from([
        (":me".to_string(), s(owner)),
        (":now".to_string(), n(now)),
        (":exp".to_string(), n(expires_ms)),
        (":zero".to_string(), n(0)),
        (":one".to_string(), n(1)),
    ]);
    values.extend(extra_values);
    let update = format!(
        "SET #lease_owner = :me, #lease_expires_ms = :exp, \
         #lease_token = if_not_exists(#lease_token, :zero) + :one, #updated_ms = :now{extra_set}"
    );
    let condition = match takeover {
        Takeover::FreeOrExpired => "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now",
        Takeover::AlsoOwn => {
            "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now OR #lease_owner = :me"
        }
    };
    table
        .update(op, key, &update, condition, values, true)
        .await
}

/// Give the lease of `key` back, if `owner` still holds it with `token` (a lease taken over
/// meanwhile is not ours to give: that is no error).
pub async fn release(
    table: &Table,
    op: &'static str,
    key: Item,
    owner: &str,
    token: u64,
) -> Result<(), Failure> {
    let values = HashMap::from([
        (":me".to_string(), s(owner)),
        (":tok".to_string(), n(token)),
        (":zero".to_string(), n(0)),
    ]);
    match table
        .update(
            op,
            key,
            "REMOVE #lease_owner SET #lease_expires_ms = :zero",
            "#lease_owner = :me AND #lease_token = :tok",
            values,
            false,
        )
        .await
    {
        Ok(_) | Err(Failure::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The holder of a lease that a conditional write found in the way, from the item before it.
pub fn holder(old: Option<&Item>) -> Option<String> {
    old.and_then(|i| decode_lease(i).ok()).and_then(|l| l.owner)
}
