//! The log kinds, and maps with one value per kind.
//!
//! [`LogKind`] is the one list of what aurora-logs ships. Everything that exists once per kind
//! derives from it: the Kafka topics ([`crate::Topics`]), the OpenObserve streams, the parsers'
//! formats (`parsers::LogFormat::kind`), the record's `log_type`, the CLI's `--format` values and
//! the metric labels. A per-kind value is held in a [`PerKind`], which cannot miss a kind.
//!
//! Adding a kind: a variant here with its row in [`LogKind::SPECS`], its file names in
//! [`crate::file`], and its parser. The compiler points at every `match` that must learn it.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What kind of log a file holds; one Kafka topic and one OpenObserve stream per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LogKind {
    /// MySQL error log.
    #[serde(rename = "error")]
    MysqlError,
    /// MySQL slow query log.
    #[serde(rename = "slowquery")]
    MysqlSlow,
    /// MySQL general log.
    #[serde(rename = "general")]
    MysqlGeneral,
    /// Aurora MySQL advanced audit log.
    #[serde(rename = "audit")]
    MysqlAudit,
    /// PostgreSQL log (stderr or csvlog).
    #[serde(rename = "postgresql")]
    Postgresql,
}

/// The names one kind goes by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindSpec {
    /// The kind.
    pub kind: LogKind,
    /// Its name in jobs, topics and metric labels (`slowquery`).
    pub name: &'static str,
    /// The record's `log_type` and the key of its stream in the configuration (`mysql_slow`).
    pub log_type: &'static str,
    /// The default OpenObserve stream (`aurora_mysql_slowquery`).
    pub default_stream: &'static str,
}

impl LogKind {
    /// How many kinds there are.
    pub const COUNT: usize = 5;

    /// Every kind, in topic order.
    pub const ALL: [LogKind; LogKind::COUNT] = [
        LogKind::MysqlError,
        LogKind::MysqlSlow,
        LogKind::MysqlGeneral,
        LogKind::MysqlAudit,
        LogKind::Postgresql,
    ];

    /// The names of every kind, in [`LogKind::ALL`] order.
    pub const SPECS: [KindSpec; LogKind::COUNT] = [
        KindSpec {
            kind: LogKind::MysqlError,
            name: "error",
            log_type: "mysql_error",
            default_stream: "aurora_mysql_error",
        },
        KindSpec {
            kind: LogKind::MysqlSlow,
            name: "slowquery",
            log_type: "mysql_slow",
            default_stream: "aurora_mysql_slowquery",
        },
        KindSpec {
            kind: LogKind::MysqlGeneral,
            name: "general",
            log_type: "mysql_general",
            default_stream: "aurora_mysql_general",
        },
        KindSpec {
            kind: LogKind::MysqlAudit,
            name: "audit",
            log_type: "mysql_audit",
            default_stream: "aurora_mysql_audit",
        },
        KindSpec {
            kind: LogKind::Postgresql,
            name: "postgresql",
            log_type: "postgresql",
            default_stream: "aurora_postgresql",
        },
    ];

    /// The kind's position in [`LogKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Its names.
    pub const fn spec(self) -> &'static KindSpec {
        &LogKind::SPECS[self.index()]
    }

    /// The kind's name in jobs, topics and metric labels.
    pub const fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// The record's `log_type`, also the key of the kind's stream in the configuration.
    pub const fn log_type(self) -> &'static str {
        self.spec().log_type
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value per [`LogKind`].
///
/// In configuration it is a table keyed by one of the kind's names (see
/// [`PerKind::serialize_keyed`]); a key left out keeps its default, an unknown key is an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PerKind<T>([T; LogKind::COUNT]);

impl<T> PerKind<T> {
    /// The map whose value for each kind is `f(kind)`.
    pub fn from_fn(mut f: impl FnMut(LogKind) -> T) -> PerKind<T> {
        PerKind(std::array::from_fn(|i| f(LogKind::ALL[i])))
    }

    /// The value of `kind`.
    pub fn get(&self, kind: LogKind) -> &T {
        &self.0[kind.index()]
    }

    /// The value of `kind`, to change.
    pub fn get_mut(&mut self, kind: LogKind) -> &mut T {
        &mut self.0[kind.index()]
    }

    /// Every kind with its value, in [`LogKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (LogKind, &T)> {
        LogKind::ALL.into_iter().zip(self.0.iter())
    }

    /// Write the map as a table keyed by `key(kind)`.
    pub fn serialize_keyed<S: Serializer>(
        &self,
        serializer: S,
        key: fn(LogKind) -> &'static str,
    ) -> Result<S::Ok, S::Error>
    where
        T: Serialize,
    {
        let mut map = serializer.serialize_map(Some(LogKind::COUNT))?;
        for (kind, value) in self.iter() {
            map.serialize_entry(key(kind), value)?;
        }
        map.end()
    }

    /// Read a table keyed by `key(kind)` over `defaults`: keys left out keep their default, an
    /// unknown key is an error naming the keys there are.
    pub fn deserialize_keyed<'de, D: Deserializer<'de>>(
        deserializer: D,
        key: fn(LogKind) -> &'static str,
        defaults: PerKind<T>,
    ) -> Result<PerKind<T>, D::Error>
    where
        T: Deserialize<'de>,
    {
        deserializer.deserialize_map(KeyedVisitor { key, defaults })
    }
}

impl<T> std::ops::Index<LogKind> for PerKind<T> {
    type Output = T;
    fn index(&self, kind: LogKind) -> &T {
        self.get(kind)
    }
}

struct KeyedVisitor<T> {
    key: fn(LogKind) -> &'static str,
    defaults: PerKind<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for KeyedVisitor<T> {
    type Value = PerKind<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table with one entry per log kind")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PerKind<T>, A::Error> {
        let mut out = self.defaults;
        while let Some(name) = map.next_key::<String>()? {
            let Some(kind) = LogKind::ALL.into_iter().find(|&k| (self.key)(k) == name) else {
                let known: Vec<&str> = LogKind::ALL.into_iter().map(self.key).collect();
                return Err(de::Error::custom(format!(
                    "unknown field `{name}`, expected one of {}",
                    known.join(", ")
                )));
            };
            *out.get_mut(kind) = map.next_value()?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_in_kind_order_and_names_are_unique() {
        for (i, (kind, spec)) in LogKind::ALL.iter().zip(LogKind::SPECS).enumerate() {
            assert_eq!(spec.kind, *kind);
            assert_eq!(kind.index(), i);
        }
        let mut names: Vec<&str> = LogKind::ALL.iter().map(|k| k.as_str()).collect();
        names.extend(LogKind::ALL.iter().map(|k| k.log_type()));
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        // `postgresql` is both the name and the log_type of one kind.
        assert_eq!(names.len(), n - 1);
    }

    #[test]
    fn the_wire_name_is_the_kind_name() {
        for kind in LogKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<LogKind>(&json).unwrap(), kind);
        }
    }

    #[derive(Debug, PartialEq)]
    struct ByType(PerKind<u32>);

    impl<'de> Deserialize<'de> for ByType {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            PerKind::deserialize_keyed(d, LogKind::log_type, PerKind::from_fn(|_| 7)).map(ByType)
        }
    }

    impl Serialize for ByType {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.serialize_keyed(s, LogKind::log_type)
        }
    }

    #[test]
    fn keyed_tables_default_what_is_left_out_and_refuse_unknown_keys() {
        let m: ByType = serde_json::from_str(r#"{"mysql_slow": 1}"#).unwrap();
        assert_eq!(m.0[LogKind::MysqlSlow], 1);
        assert_eq!(m.0[LogKind::Postgresql], 7);
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["mysql_slow"], 1);
        assert_eq!(back["mysql_audit"], 7);
        let e = serde_json::from_str::<ByType>(r#"{"slowquery": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `slowquery`"), "{e}");
        assert!(e.to_string().contains("mysql_slow"), "{e}");
    }
}
