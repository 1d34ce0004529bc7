//! The natives through which JS reaches the host: `Convex.syscall`, `Convex.asyncSyscall`,
//! `fetch` and `process.env`, each turned into one [`HostCall`], checked against the grants and
//! the host-call budget, then sent to the bridge.

use std::sync::Arc;

use rquickjs::{Ctx, Exception, Function, Object, Persistent, Promise};

use crate::error::{ErrorCode, RuntimeError};
use crate::host::{FetchRequest, HostCall, HostCallContext, HostError, SharedBridge};
use crate::isolate::state::{Interrupt, InterruptReason, SharedState};

/// Installs `syscall`, `asyncSyscall`, `fetch` and `envGet` on the natives object.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    natives: &Object<'js>,
    state: &SharedState,
    interrupt: &Arc<Interrupt>,
) -> rquickjs::Result<()> {
    let (s, i) = (state.clone(), interrupt.clone());
    natives.set(
        "syscall",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, op: String, args_json: String| {
                let call = HostCall::Syscall { op, args_json };
                let (bridge, host_ctx) = admit(&ctx, &s, &i, &call)?;
                bridge
                    .call(&host_ctx, call)
                    .map_err(|e| throw_host_error(&ctx, e))
            },
        )?,
    )?;
    let (s, i) = (state.clone(), interrupt.clone());
    natives.set(
        "asyncSyscall",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, op: String, args_json: String| {
                queue_async(&ctx, &s, &i, HostCall::AsyncSyscall { op, args_json })
            },
        )?,
    )?;
    let (s, i) = (state.clone(), interrupt.clone());
    natives.set(
        "fetch",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, request_json: String| {
            let request = parse_fetch_request(&request_json)
                .map_err(|msg| Exception::throw_type(&ctx, &msg))?;
            queue_async(&ctx, &s, &i, HostCall::Fetch(request))
        })?,
    )?;
    let (s, i) = (state.clone(), interrupt.clone());
    natives.set(
        "envGet",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| {
            let call = HostCall::EnvGet { name };
            let (bridge, host_ctx) = admit(&ctx, &s, &i, &call)?;
            let json = bridge
                .call(&host_ctx, call)
                .map_err(|e| throw_host_error(&ctx, e))?;
            match serde_json::from_str::<serde_json::Value>(&json) {
                Ok(serde_json::Value::String(value)) => Ok(Some(value)),
                Ok(serde_json::Value::Null) => Ok(None),
                _ => Err(Exception::throw_type(
                    &ctx,
                    "the host answered process.env with something other than a string or null",
                )),
            }
        })?,
    )?;
    Ok(())
}

/// Counts the call against the budget and checks its grant; on success returns the bridge.
fn admit(
    ctx: &Ctx<'_>,
    state: &SharedState,
    interrupt: &Interrupt,
    call: &HostCall,
) -> rquickjs::Result<(SharedBridge, Arc<HostCallContext>)> {
    let mut st = state.borrow_mut();
    st.host_calls = st.host_calls.saturating_add(1);
    if st.host_calls > st.host_calls_max {
        drop(st);
        // Terminating, not asking: the interrupt stops the code even if it catches this error.
        interrupt.trip(InterruptReason::HostCallBudget);
        return Err(Exception::throw_internal(ctx, "host-call budget exhausted"));
    }
    let family = call.family();
    if !st.grants.allows(family) {
        let error = RuntimeError::new(
            ErrorCode::GrantDenied,
            format!(
                "permission denied: {} needs the `{}` grant, which this tenant's policy does not \
                 include; ask the operator to grant `{}` or remove the call",
                call.describe(),
                family.name(),
                family.name()
            ),
        );
        let message = error.message.clone();
        st.grant_denial.get_or_insert(error);
        drop(st);
        return Err(Exception::throw_message(ctx, &message));
    }
    match &st.host {
        Some((bridge, host_ctx)) => Ok((bridge.clone(), host_ctx.clone())),
        None => Err(Exception::throw_internal(ctx, "no invocation is running")),
    }
}

/// Admits an async call and queues it for the driver; returns the promise JS awaits.
fn queue_async<'js>(
    ctx: &Ctx<'js>,
    state: &SharedState,
    interrupt: &Interrupt,
    call: HostCall,
) -> rquickjs::Result<Promise<'js>> {
    admit(ctx, state, interrupt, &call)?;
    let (promise, resolve, reject) = ctx.promise()?;
    state
        .borrow_mut()
        .pending_calls
        .push(crate::isolate::state::PendingCall {
            call,
            resolve: Persistent::save(ctx, resolve),
            reject: Persistent::save(ctx, reject),
        });
    Ok(promise)
}

/// Builds the JS `Error` for a host failure: `message`, plus `data` when the host sent some.
pub(crate) fn host_error_value<'js>(
    ctx: &Ctx<'js>,
    error: HostError,
) -> rquickjs::Result<rquickjs::Value<'js>> {
    let exception = Exception::from_message(ctx.clone(), &error.message)?;
    if let Some(data) = error.data {
        exception.as_object().set("data", data)?;
    }
    Ok(exception.into_value())
}

fn throw_host_error(ctx: &Ctx<'_>, error: HostError) -> rquickjs::Error {
    match host_error_value(ctx, error) {
        Ok(value) => ctx.throw(value),
        Err(e) => e,
    }
}

fn parse_fetch_request(json: &str) -> Result<FetchRequest, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        body_base64: Option<String>,
    }
    let wire: Wire = serde_json::from_str(json).map_err(|e| format!("fetch: bad request: {e}"))?;
    let body = match wire.body_base64 {
        Some(b64) => Some(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
                .map_err(|e| format!("fetch: bad body: {e}"))?,
        ),
        None => None,
    };
    Ok(FetchRequest {
        url: wire.url,
        method: wire.method,
        headers: wire.headers,
        body,
    })
}
