//! A webhook: the address the rules' targets post to. Nothing on the bus stands for it
//! but those targets, so it is always in place and has nothing to make or remove.

use groundwork_spec::resource::Webhook;

use super::{Ctx, LiveCtx, Managed, Reads, outputs};
use crate::error::Error;
use crate::runner::StepResult;

impl Managed for Webhook {
    async fn apply(&self, _cx: Ctx<'_>) -> StepResult {
        StepResult::done("unchanged", outputs([("url", self.url.clone())]))
    }

    async fn read_live(&self, _cx: LiveCtx<'_>, _reads: &mut Reads) -> Result<Option<Self>, Error> {
        Ok(Some(self.clone()))
    }
}
