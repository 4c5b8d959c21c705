//! Pure EventBridge semantics, with no I/O.
//!
//! Layout:
//! - [`envelope`]: the event envelope (`version, id, detail-type, source, …`) and the
//!   PutEvents entry contract (validation, size accounting, per-entry errors).
//! - [`limits`]: what an entry may hold beyond the request size: `Source` and
//!   `DetailType` lengths, the nesting depth of `Detail`.
//! - [`pattern`]: the event-pattern language: parsing and validation with EventBridge's
//!   reason texts, a reference matcher, and a compiled [`pattern::RuleSet`] for many rules.
//! - [`transform`]: target input (`Input`, `InputPath`, `InputTransformer`).
//! - [`redact`]: webhook URLs and target ARNs as shown in logs, dead letters, events and
//!   error messages (scheme, host and port only).
//! - [`catalog`]: every event Groundwork itself publishes: source, detail-type and a typed
//!   detail struct shared by producers and consumers.
//! - [`kill_switch`]: what the kill switch's rule delivers to the identity service.

pub mod catalog;
pub mod envelope;
pub mod kill_switch;
pub mod limits;
pub mod pattern;
pub mod redact;
pub mod transform;
