//! Pure EventBridge semantics, with no I/O.
//!
//! Layout:
//! - [`envelope`]: the event envelope (`version, id, detail-type, source, …`) and the
//!   PutEvents entry contract (validation, size accounting, per-entry errors).
//! - [`pattern`]: the event-pattern language: parsing and validation with EventBridge's
//!   reason texts, a reference matcher, and a compiled [`pattern::RuleSet`] for many rules.
//! - [`catalog`]: every event Groundwork itself publishes: source, detail-type and a typed
//!   detail struct shared by producers and consumers.

pub mod catalog;
pub mod envelope;
pub mod pattern;
pub mod transform;
