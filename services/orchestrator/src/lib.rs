//! The orchestrator: one spec (`groundwork.toml`) → plan → apply, as a durable run across
//! the services that can wait for a person, resume after a crash, and be watched.
//!
//! Layout (pure core first, I/O at the edge):
//! - [`spec`]: the document, its validated scalars, offline validation with TOML paths.
//! - [`resource`]: a spec as a flat list of resources with desired fields and dependencies.
//! - [`graph`]: the step graph (independent steps in parallel, destroy in reverse).
//! - [`machine`]: the step and run state machines as explicit transition tables.
//! - [`plan`]: the diff of desired and live fields (create, update, unchanged, delete).
//! - [`diagram`]: the conceptual and logical architecture in Mermaid.

pub mod diagram;
pub mod graph;
pub mod machine;
pub mod plan;
pub mod resource;
pub mod spec;
