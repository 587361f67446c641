//! MySQL and Aurora MySQL logs: slow query, error, general and audit.
pub mod audit;
pub mod error;
pub mod general;
pub mod slow;
