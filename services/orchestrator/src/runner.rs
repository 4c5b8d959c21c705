//! What the engine asks of the outside world: run one step (apply or destroy a resource)
//! and read the live state for a plan. [`crate::services`] does it over gRPC with the
//! identity, budget and alerting services; the engine only sees [`StepResult`]s.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use secrecy::{SecretSlice, SecretString};

use crate::error::Error;
use crate::plan::LiveState;
use crate::resource::Resource;
use crate::run::{Run, RunKind, StepRecord};

/// A secret a step produced, for a person: held sealed by [`crate::vault`] until a client
/// acknowledges it. `Debug` prints nothing of the value.
#[derive(Debug, Clone)]
pub struct OneTimeSecret {
    pub resource: String,
    /// `initial_password`, `secret_access_key`, `mfa_otpauth_uri`, `mfa_base32_seed`.
    pub name: String,
    pub value: SecretString,
    pub png: Option<SecretSlice<u8>>,
    /// Given when the vault holds it (empty before).
    pub id: String,
    /// Unix milliseconds when the vault discards it (0 before it is held).
    pub expires_at_ms: i64,
}

/// How a step's call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Done: `outcome` is `created`, `updated`, `unchanged`, `deleted` or `absent`.
    Done {
        outcome: String,
        outputs: BTreeMap<String, String>,
    },
    /// A person must act; the step resumes on an event or a check.
    NeedPerson {
        instructions: Vec<String>,
        outputs: BTreeMap<String, String>,
    },
    /// A console-only step is not done; reported with instructions.
    NeedAttention { instructions: Vec<String> },
    /// The call failed; `retryable` says whether trying again may help.
    Failed { error: String, retryable: bool },
}

/// A step's result: its outcome and any one-time secrets.
#[derive(Debug)]
pub struct StepResult {
    pub outcome: StepOutcome,
    pub secrets: Vec<OneTimeSecret>,
}

impl StepResult {
    pub fn done(outcome: &str, outputs: BTreeMap<String, String>) -> Self {
        Self {
            outcome: StepOutcome::Done {
                outcome: outcome.to_owned(),
                outputs,
            },
            secrets: Vec::new(),
        }
    }

    pub fn failed(error: impl Into<String>, retryable: bool) -> Self {
        Self {
            outcome: StepOutcome::Failed {
                error: error.into(),
                retryable,
            },
            secrets: Vec::new(),
        }
    }
}

/// Runs steps and reads live state.
pub trait StepRunner: Send + Sync + std::fmt::Debug {
    /// Applies (or, for a destroy run, removes) the step's resource. Must be idempotent:
    /// after a crash the same step runs again.
    /// `run` is the run as it was when the step started (dependencies' outputs).
    fn run<'a>(
        &'a self,
        kind: RunKind,
        step: &'a StepRecord,
        run: &'a Run,
    ) -> BoxFuture<'a, StepResult>;

    /// For a WAITING step: whether the person did it, by a read-only check.
    fn is_done<'a>(&'a self, step: &'a StepRecord) -> BoxFuture<'a, Result<bool, Error>>;

    /// Which of these managed policy ARNs name no policy in the account. Read-only.
    fn missing_policies<'a>(
        &'a self,
        arns: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, Error>>;

    /// The live fields of each resource that exists. Read-only.
    fn read_live<'a>(
        &'a self,
        resources: &'a [Resource],
    ) -> BoxFuture<'a, Result<LiveState, Error>>;

    /// The account's plan (Free or Paid) as the budget service reads it, for the plan's
    /// report; `None` where nothing reads it. Read-only.
    fn account_plan(
        &self,
    ) -> BoxFuture<'_, Result<Option<groundwork_proto::v1::AccountPlan>, Error>> {
        Box::pin(async { Ok(None) })
    }
}
