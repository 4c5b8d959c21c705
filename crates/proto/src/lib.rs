//! Generated gRPC code for every Groundwork API (`proto/groundwork/v1/*.proto`).
//!
//! The code is generated at build time by `build.rs` (protox + tonic-prost-build), so no
//! system `protoc` is needed. [`FILE_DESCRIPTOR_SET`] serves gRPC reflection.

#![allow(clippy::all, missing_debug_implementations)]

/// Version 1 of the Groundwork APIs.
pub mod v1 {
    tonic::include_proto!("groundwork.v1");
}

/// The encoded `FileDescriptorSet` of every Groundwork proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/groundwork_descriptor.bin"));
