//! Execution: the effects of an allowed activity, inside the activity's transaction, by the
//! intent's executor ([`crate::activities`]). Parameters were checked before the activity was
//! recorded; what is checked here depends on stored state, and a failed check leaves the
//! activity FAILED with no effects (the caller rolls back to a savepoint).

use crate::activities::{ExecContext, Executed, Intent};
use crate::error::Result;
use crate::store::StoreTx;

/// Applies a validated `intent`; returns the result object (without its key).
pub(super) async fn execute(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, intent: &Intent) -> Result<Executed> {
    let intent = super::redact::opened(ctx, intent)?;
    let intent = intent.as_ref();
    let candidates = super::enforcement::may_promote(intent);
    if candidates.is_empty() {
        return intent.execute(tx, ctx).await;
    }
    // Who of them is an administrator before and after: a newly made one starts its own grace clock.
    let before = crate::activities::users::administrators_among(tx, ctx.org_id, &candidates, ctx.admin_tags).await?;
    let done = intent.execute(tx, ctx).await?;
    crate::activities::users::note_promotions(tx, ctx, &candidates, &before).await?;
    Ok(done)
}
