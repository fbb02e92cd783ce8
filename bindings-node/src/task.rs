//! Core work off the JS thread: a napi `AsyncTask` (libuv thread pool) that
//! runs a blocking core call and settles its promise on the JS thread — with
//! the converted report, or rejected with the core error as a JS `Error`
//! ([`crate::error`]), which `#[napi] async fn` cannot do.

use std::sync::{mpsc, Arc};

use duo_provisioning::progress::{CancelToken, Monitor, ProgressEvent, Unit};

use napi::bindgen_prelude::{
    AbortSignal, AsyncTask, FromNapiValue, JsObjectValue, Object, ToNapiValue,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::JsValue;
use napi::ScopedTask;
use napi::{Env, Unknown};
use napi_derive::napi;
use serde::Serialize;

use crate::convert::to_js;
use crate::error::CoreError;

type Job<T> = Box<dyn FnOnce() -> Result<T, CoreError> + Send>;

/// One blocking core call and how to hand its result to JS.
pub struct Work<T: Send + 'static> {
    job: Option<Job<T>>,
    resolve: for<'e> fn(&'e Env, T) -> napi::Result<Unknown<'e>>,
}

/// A task whose result is a core report (plain object, camelCase keys).
pub fn report<T: Serialize + Send + 'static>(
    job: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Work<T> {
    Work {
        job: Some(Box::new(job)),
        resolve: |env, value| to_js(env, &value),
    }
}

/// A task with its own conversion of the result.
pub fn with<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
    resolve: for<'e> fn(&'e Env, T) -> napi::Result<Unknown<'e>>,
) -> Work<T> {
    Work {
        job: Some(Box::new(job)),
        resolve,
    }
}

impl<'task, T: Send + 'static> ScopedTask<'task> for Work<T> {
    type Output = Result<T, CoreError>;
    type JsValue = Unknown<'task>;

    fn compute(&mut self) -> napi::Result<Result<T, CoreError>> {
        let job = self
            .job
            .take()
            .ok_or_else(|| napi::Error::from_reason("task ran twice"))?;
        Ok(job())
    }

    fn resolve(
        &mut self,
        env: &'task Env,
        output: Result<T, CoreError>,
    ) -> napi::Result<Unknown<'task>> {
        match output {
            Ok(value) => (self.resolve)(env, value),
            Err(error) => Err(error.into_napi(env)),
        }
    }
}

/// The task on the libuv pool. An `AbortSignal` is never handed to napi
/// (which would reject a task it cancels without the `CANCELLED` code): it
/// reaches the work through [`Watch`].
pub fn spawn<T: Send + 'static>(work: Work<T>) -> AsyncTask<Work<T>> {
    AsyncTask::new(work)
}

/// A progress event as JS sees it (the core's `ProgressEvent`).
#[napi(object)]
pub struct Progress {
    /// `read`, `backup`, `erase`, `write`, `verify`, `restore`, `reset`, `provision`.
    pub phase: String,
    pub done: f64,
    pub total: f64,
    /// `bytes` or `devices`.
    pub unit: String,
}

/// The caller's `onProgress` callback.
pub type ProgressFn = ThreadsafeFunction<Progress, (), Progress, napi::Status, false>;

/// The caller's `AbortSignal` and `onProgress` as a core [`Monitor`]: the
/// signal cancels the monitor's [`CancelToken`] (also when it fired before
/// the call), and each [`ProgressEvent`] is handed to `onProgress` on the JS
/// thread. The work waits until the callback has returned, so an `abort()`
/// made inside the callback is seen before the next block is transferred.
/// The core decides where cancellation stops; the binding only translates.
pub struct Watch {
    pub monitor: Monitor,
}

impl Watch {
    pub fn new(
        env: &Env,
        signal: Option<Object<'_>>,
        on_progress: Option<ProgressFn>,
    ) -> napi::Result<Watch> {
        let cancel = CancelToken::new();
        if let Some(object) = signal {
            let aborted: Option<bool> = object.get_named_property("aborted")?;
            if aborted.unwrap_or(false) {
                cancel.cancel();
            }
            // SAFETY: `object` is a live value of this env, converted on its thread.
            let signal = unsafe { AbortSignal::from_napi_value(env.raw(), object.raw())? };
            let token = cancel.clone();
            signal.on_abort(move || token.cancel());
        }
        let mut monitor = Monitor::new().with_cancel(cancel);
        if let Some(callback) = on_progress {
            monitor = monitor.with_observer(Arc::new(move |event: &ProgressEvent| {
                forward(&callback, event)
            }));
        }
        Ok(Watch { monitor })
    }

    /// `Err(Cancelled)` once the signal has fired.
    pub fn check(monitor: &Monitor) -> Result<(), CoreError> {
        Ok(monitor.check()?)
    }
}

/// Call `onProgress` on the JS thread and wait until it has returned (or
/// the callback can no longer be called: the environment is closing).
fn forward(callback: &ProgressFn, event: &ProgressEvent) {
    let (done, wait) = mpsc::channel::<()>();
    let progress = Progress {
        phase: event.phase.as_str().to_string(),
        done: event.done as f64,
        total: event.total as f64,
        unit: match event.unit {
            Unit::Bytes => "bytes",
            Unit::Devices => "devices",
        }
        .to_string(),
    };
    let status = callback.call_with_return_value(
        progress,
        ThreadsafeFunctionCallMode::NonBlocking,
        move |_, _| {
            let _ = done.send(());
            Ok(())
        },
    );
    if status == napi::Status::Ok {
        // A callback dropped without running drops `done`: recv returns.
        let _ = wait.recv();
    }
}

/// Resolve with a `#[napi(object)]` / `#[napi]` value as napi converts it.
pub fn native<T: ToNapiValue>(env: &Env, value: T) -> napi::Result<Unknown<'_>> {
    // SAFETY: converted in `env`, on its thread, and used in this call.
    unsafe {
        let raw = T::to_napi_value(env.raw(), value)?;
        Ok(Unknown::from_raw_unchecked(env.raw(), raw))
    }
}
